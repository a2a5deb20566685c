/**
 * What makes every command of a stored decision go out, in effect once, without writing anything
 * but the commit (no outbox entry, no mark).
 *
 * - The protocol: an append writes only the commit. The router then publishes the commit's
 *   commands (JetStream subjects awaiting their PubAcks, inbox subjects by core publish + flush)
 *   and acks the input only after that. A publish that fails after the commit is stored fails
 *   the decision: the input is naked with backoff and redelivered, never acked.
 * - The repair: an input that finds itself already in its run (a duplicate signal or cancel, a
 *   result or firing whose step is settled, a start whose run exists, a run closed by it)
 *   republishes the run's commits written since the message was first stored, less a clock
 *   margin, in seq order (republishSince). Whatever its delivery count says: a nats-server
 *   killed forgets the deliveries of its last moments (a consumer's state is written behind), so
 *   a redelivery can come as a first delivery. A closed run's summary is
 *   written first, so whoever hears of its completion finds it closed and its workflowId free.
 *   Activity tasks the run no longer waits on are left out (settledTasks): past the duplicate
 *   window they would run again.
 *   Messages carry deterministic `Nats-Msg-Id`s `<runId>:<seq>:<index>`: a repeat is dropped by
 *   JetStream's duplicate window, and past it by the receivers' own checks (a result for a
 *   settled step, a firing for a timer no longer live, a start for a claimed id are ignored).
 * - The router's consumers redeliver without limit (max_deliver -1), so an input whose commands
 *   may be unpublished is never dropped; only an input's own fault dead-letters it (settle.ts).
 * - What each window leaves, and who repairs it:
 *   - crash after the append, before any publish: the input is not acked; JetStream redelivers
 *     it after the ack wait. Its decision finds the commit (from the store, or by a conflict on
 *     append from a stale cache) and republishes it.
 *   - publish failed (NATS away, no PubAck): the decision fails, the input is naked and
 *     redelivered with backoff, and republishes as above. Its summary is owed meanwhile.
 *   - publish done, ack lost (or crash between them): the redelivery republishes; every message
 *     is a repeat, dropped by msg id. Only a history read and a publish are wasted.
 *   - crash after a partial publish: as a crash before publish; the part that went out repeats.
 *   - the input was a result offered directly (shared/bus/direct-results.ts): no copy waits in a
 *     stream to be redelivered. Its executor, left unanswered, publishes it to the stream saying
 *     since when it may have been decided; had the executor died too, its task comes back and
 *     the re-run's result says the task's first stored time. Either is found in and republished.
 *   - the store fails the republish read (or the summary write before it, or a publish): the
 *     redelivered decision fails (UnavailableError, retryable, so a start is never reported
 *     failed to its caller or parent), its input is naked again and the next redelivery tries.
 *   - the append itself failed, its write lost: nothing was stored; the redelivery decides again.
 *     Its write landed but the reply was lost: the redelivery's append conflicts (or the run
 *     loads with it), the input is found in and republished, not decided twice.
 * - Upgrades: a store written by a version with an outbox collection may hold entries; a router
 *   drains them once at start (drainLegacy) and never reads the collection again.
 */

import type { ChildResultMessage } from '../../shared/bus/lifecycle-messages.js';
import type {
  ActivityCancelMessage,
  TaskMessage,
  TimerCancelMessage,
  TimerScheduleMessage,
} from '../../shared/bus/messages.js';
import { forEachLimited } from '../../shared/concurrency.js';
import { isCurrentAttempt } from '../../shared/engine/attempts.js';
import type { Command, RunState } from '../../shared/engine/types.js';
import { UnavailableError } from '../../shared/errors.js';
import { DEFAULT_PRIORITY } from '../../shared/flow/priority.js';
import type { Millis } from '../../shared/history/events.js';
import type { Logger } from '../../shared/log.js';
import type { Subjects } from '../../shared/names.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';
import { MESSAGE_SIGNAL_TYPE, type MessageSignalBody } from './inputs.js';

/** A message ready to publish to JetStream. */
export interface OutboundMessage {
  subject: string;
  body: unknown;
  msgId: string;
  /**
   * For a subject of the inbox stream (start, cancel, terminate): its `no_ack` means JetStream
   * sends no PubAck, so it is published on core NATS, with the msg id header, and flushed.
   */
  inbox?: true;
}

/** What a command needs besides itself to become a message. */
export interface CommandContext {
  runId: string;
  workflowId: string;
  workflowType: string;
  seq: number;
  at: Millis;
}

/** The deterministic message id of the `index`-th command of commit `seq`. */
function commandMsgId(runId: string, seq: number, index: number): string {
  return `${runId}:${seq}:${index}`;
}

/**
 * Maps one command to its message, or undefined for commands that only live in history (a child
 * abandoned by its parent). An activity cancel becomes a notice on the notices stream, which
 * executors also receive on core NATS. Child starts, continue-as-new and parent close policies
 * become start, cancel and terminate messages on the inbox, as a user would send them.
 */
function commandToMessage(
  subjects: Subjects,
  ctx: CommandContext,
  cmd: Command,
  index: number,
): OutboundMessage | undefined {
  const msgId = commandMsgId(ctx.runId, ctx.seq, index);
  switch (cmd.kind) {
    case 'scheduleActivity': {
      // An inline step is run by the router that stored it (services/router/inline-steps.ts).
      if (cmd.inline) return undefined;
      const body: TaskMessage = {
        runId: ctx.runId,
        workflowId: ctx.workflowId,
        workflowType: ctx.workflowType,
        activity: cmd.activity,
        activitySeq: cmd.activitySeq,
        invokeId: cmd.invokeId,
        input: cmd.input,
        attempt: cmd.attempt ?? 1,
        scheduledAt: ctx.at,
      };
      if (cmd.reportStart) body.reportStart = true;
      if (cmd.atMostOnce) body.atMostOnce = true;
      if (cmd.startToCloseTimeoutMs !== undefined) body.startToCloseTimeoutMs = cmd.startToCloseTimeoutMs;
      if (cmd.heartbeatTimeoutMs !== undefined) body.heartbeatTimeoutMs = cmd.heartbeatTimeoutMs;
      if (cmd.lastHeartbeat !== undefined) body.lastHeartbeat = cmd.lastHeartbeat;
      return { subject: subjects.taskAt(cmd.activity, cmd.priority ?? DEFAULT_PRIORITY), msgId, body };
    }
    case 'cancelActivity': {
      const body: ActivityCancelMessage = {
        runId: ctx.runId,
        workflowId: ctx.workflowId,
        activitySeq: cmd.activitySeq,
      };
      if (cmd.attempt !== undefined) body.attempt = cmd.attempt;
      if (cmd.reason !== undefined) body.reason = cmd.reason;
      return { subject: subjects.activityCancel(ctx.runId, cmd.activitySeq), msgId, body };
    }
    case 'scheduleTimer':
      return {
        subject: subjects.timerSchedule(ctx.runId),
        msgId,
        body: {
          runId: ctx.runId,
          workflowId: ctx.workflowId,
          timerSeq: cmd.timerSeq,
          fireAt: cmd.fireAt,
        } satisfies TimerScheduleMessage,
      };
    case 'cancelTimer':
      return {
        subject: subjects.timerCancel(ctx.runId),
        msgId,
        body: { runId: ctx.runId, timerSeq: cmd.timerSeq } satisfies TimerCancelMessage,
      };
    case 'emit':
      return {
        subject: subjects.emit(ctx.workflowId),
        msgId,
        body: { workflowId: ctx.workflowId, runId: ctx.runId, event: cmd.event },
      };
    case 'runClosed':
      return {
        subject: subjects.done(ctx.workflowType, ctx.workflowId),
        msgId,
        body: {
          workflowId: ctx.workflowId,
          runId: ctx.runId,
          workflowType: ctx.workflowType,
          status: cmd.status,
          ...(cmd.output === undefined ? {} : { output: cmd.output }),
          ...(cmd.error === undefined ? {} : { error: cmd.error }),
        },
      };
    case 'startChild': {
      const body: Record<string, unknown> = {
        workflowId: cmd.childWorkflowId,
        idReusePolicy: 'rejectWhileOpen',
        parent: { workflowId: ctx.workflowId, runId: ctx.runId, invokeId: cmd.invokeId, childSeq: cmd.childSeq },
      };
      if (cmd.input !== undefined) body.input = cmd.input;
      if (cmd.version !== undefined) body.version = cmd.version;
      if (cmd.priority !== undefined) body.priority = cmd.priority;
      return {
        subject: subjects.startAt(cmd.workflowType, cmd.priority ?? DEFAULT_PRIORITY),
        msgId,
        body,
        inbox: true,
      };
    }
    case 'detachChild': {
      if (cmd.policy === 'abandon') return undefined;
      const body = { reason: `parent ${ctx.workflowId} (${ctx.runId}) no longer waits on it`, byParent: ctx.runId };
      const subject =
        cmd.policy === 'terminate' ? subjects.terminate(cmd.childWorkflowId) : subjects.cancel(cmd.childWorkflowId);
      return { subject, msgId, body, inbox: true };
    }
    case 'notifyParent': {
      const body: ChildResultMessage = {
        runId: cmd.parent.runId,
        workflowId: cmd.parent.workflowId,
        childSeq: cmd.parent.childSeq,
        childWorkflowId: ctx.workflowId,
        childRunId: ctx.runId,
        status: cmd.status,
      };
      if (cmd.output !== undefined) body.output = cmd.output;
      if (cmd.error !== undefined) body.error = cmd.error;
      if (cmd.lastMsgSeq !== undefined) body.lastMsgSeq = cmd.lastMsgSeq;
      return { subject: subjects.child(cmd.parent.runId), msgId, body };
    }
    case 'sendMessage': {
      // On the target's signal subject: its current run takes it, in the sender's order (fold-message.ts).
      const body: MessageSignalBody = {
        type: MESSAGE_SIGNAL_TYPE,
        from: { workflowId: ctx.workflowId, runId: ctx.runId, msgSeq: cmd.msgSeq },
        event: cmd.event,
      };
      return { subject: subjects.signal(cmd.target.workflowId), msgId, body, inbox: true };
    }
    case 'watchEvents':
      // Not a message: the outbox's watchEvents hook writes the wait index (publishCommit).
      return undefined;
    case 'continueAsNew': {
      const body: Record<string, unknown> = { workflowId: ctx.workflowId, continuedFrom: ctx.runId };
      if (cmd.input !== undefined) body.input = cmd.input;
      if (cmd.parent) body.parent = cmd.parent;
      if (cmd.continuedCount !== undefined) body.continuedCount = cmd.continuedCount;
      if (cmd.priority !== undefined) body.priority = cmd.priority;
      if (cmd.runTimeoutMs !== undefined) body.runTimeoutMs = cmd.runTimeoutMs;
      if (cmd.executionDeadline !== undefined) body.executionDeadline = cmd.executionDeadline;
      if (cmd.retentionMs !== undefined) body.retentionMs = cmd.retentionMs;
      return {
        subject: subjects.startAt(ctx.workflowType, cmd.priority ?? DEFAULT_PRIORITY),
        msgId,
        body,
        inbox: true,
      };
    }
  }
}

/** All messages of a commit, in command order, but those of the commands at `elided` indexes. */
export function commitMessages(
  subjects: Subjects,
  ctx: CommandContext,
  commands: Command[],
  elided?: ReadonlySet<number>,
): OutboundMessage[] {
  const out: OutboundMessage[] = [];
  commands.forEach((cmd, i) => {
    if (elided?.has(i)) return;
    const m = commandToMessage(subjects, ctx, cmd, i);
    if (m) out.push(m);
  });
  return out;
}

/**
 * Indexes of the task commands among `commands` that a republish must not send again: those whose
 * attempt is no longer the one `state` (the run up to its history) waits on (its result is
 * recorded, a later attempt or a retry wait replaced it, the run closed) or that reported its
 * start (so its task reached an executor). Past JetStream's duplicate window such a task would
 * run again, its result then ignored as stale; a task still owed goes out, deduplicated by msg id.
 */
export function settledTasks(state: RunState, commands: readonly Command[]): Set<number> {
  const settled = new Set<number>();
  commands.forEach((cmd, i) => {
    if (cmd.kind !== 'scheduleActivity' || cmd.inline) return;
    if (!awaitsAttempt(state, cmd.activitySeq, cmd.attempt)) settled.add(i);
  });
  return settled;
}

/** True when `state` waits on attempt `attempt` of activity `activitySeq` and it has not reported its start. */
function awaitsAttempt(state: RunState, activitySeq: number, attempt: number | undefined): boolean {
  if (state.status !== 'running') return false;
  for (const a of Object.values(state.activities)) {
    if (a.activitySeq === activitySeq) return isCurrentAttempt(a, attempt) && a.startedAt === undefined;
  }
  return false;
}

/** Runs a legacy outbox drain republishes at once. */
const DRAIN_CONCURRENCY = 8;

/** What the outbox needs to know of runs, from the decider (its cache) and the projections. */
export interface OutboxRuns {
  /** The run brought up to its history (the decider's `load` with `fresh`). */
  loadFresh(runId: string): Promise<RunState | undefined>;
  /** Writes a run's summary now (healing what a racing writer may have moved back). */
  saveSummary(state: RunState): Promise<void>;
}

/** Options of an Outbox. */
export interface OutboxOptions {
  store: Store;
  subjects: Subjects;
  /** Publishes one message; resolves once the server has it. */
  publish: (m: OutboundMessage) => Promise<void>;
  log: Logger;
  runs: OutboxRuns;
  /**
   * Carries out a commit's `watchEvents` commands (services/router/events): the wait index is
   * written when the commit is published, so a republish after a crash writes it again.
   * @default none (the commands are dropped)
   */
  watchEvents?: (ctx: CommandContext, cmd: Extract<Command, { kind: 'watchEvents' }>) => Promise<void>;
}

/** Publishes stored commits, and republishes what a redelivered input's earlier delivery stored; one per router. */
export class Outbox {
  /** Commands of a commit not to publish when it is published next (see elide). */
  private readonly elided = new WeakMap<StoredCommit, ReadonlySet<number>>();

  constructor(private readonly opts: OutboxOptions) {}

  /** Publishes a stored commit's commands, side by side; resolves once the server has all of them. */
  async publishCommit(commit: StoredCommit, workflowType: string): Promise<void> {
    await this.publishMessages(commit, workflowType, this.elided.get(commit));
  }

  /** Publishes a commit's commands but those at `elided` indexes, and carries out its watchEvents. */
  private async publishMessages(
    commit: StoredCommit,
    workflowType: string,
    elided: ReadonlySet<number> | undefined,
  ): Promise<void> {
    const ctx = { runId: commit.runId, workflowId: commit.workflowId, workflowType, seq: commit.seq, at: commit.at };
    const messages = commitMessages(this.opts.subjects, ctx, commit.commands, elided);
    const watch = this.opts.watchEvents;
    await Promise.all([
      ...messages.map((m) => this.opts.publish(m)),
      ...(watch ? commit.commands.map((c) => (c.kind === 'watchEvents' ? watch(ctx, c) : undefined)) : []),
    ]);
  }

  /**
   * The repair of an input found already in its run, before it is acked: republishes the run's
   * commits written at or after `since` (see the file header), read back from the run's last
   * commit. The decider calls it only where an earlier delivery may have stored a commit: a
   * redelivered start, and an input its run already holds. `since` undefined does nothing.
   * Returns how many commits were republished.
   */
  async republishSince(runId: string, since: Millis | undefined): Promise<number> {
    if (since === undefined) return 0;
    let commits: StoredCommit[];
    try {
      const state = await this.opts.runs.loadFresh(runId);
      if (!state) return 0;
      commits = await this.opts.store.commitsSince(runId, since, state.lastSeq);
      if (commits.length === 0) return 0;
      await this.republishTo(state, commits);
    } catch (err) {
      // Always retryable: the input must be redelivered, and a start must not be reported failed.
      throw new UnavailableError(`could not republish the commits of run ${runId}; its input is redelivered`, {
        cause: err,
        details: { runId, since },
      });
    }
    this.opts.log.info('republished the commits of a redelivered input', {
      runId,
      commits: commits.length,
      fromSeq: commits[0]?.seq,
      toSeq: commits.at(-1)?.seq,
    });
    return commits.length;
  }

  /**
   * Leaves the commands at `indexes` of this very commit object out when it is published: an
   * inline chain's timers armed and ended within the chain (see inline-steps.ts). A republish of
   * the stored commit (a redelivered input's) sends them all, which is harmless: stale timers are
   * ignored.
   */
  elide(commit: StoredCommit, indexes: ReadonlySet<number>): void {
    if (indexes.size > 0) this.elided.set(commit, indexes);
  }

  /**
   * Publishes again `commits` of one run, in seq order. The run is brought up to its history
   * first; a closed run's summary is written before anything goes out, as in a decision (the
   * write that closed it may have failed, or its router died before it).
   */
  private async republish(runId: string, commits: readonly StoredCommit[]): Promise<void> {
    const state = await this.opts.runs.loadFresh(runId);
    if (state) await this.republishTo(state, commits);
  }

  /** republish() of a run already brought up to its history (`state`). */
  private async republishTo(state: RunState, commits: readonly StoredCommit[]): Promise<void> {
    if (state.status !== 'running') await this.opts.runs.saveSummary(state);
    // Bounded to what the run still waits on: a task past the duplicate window would run again.
    for (const c of commits) await this.publishMessages(c, state.workflowType, settledTasks(state, c.commands));
  }

  /**
   * Drains the outbox collection a store written by an earlier version may hold: republishes the
   * commits its entries name, run by run in seq order, and deletes the entries. Returns how many
   * entries there were (0, at the cost of one read, on any store this version wrote).
   */
  async drainLegacy(): Promise<number> {
    const drained = await this.opts.store.drainLegacyOutbox(async (commits) => {
      const byRun = new Map<string, StoredCommit[]>();
      for (const c of commits) byRun.set(c.runId, [...(byRun.get(c.runId) ?? []), c]);
      await forEachLimited([...byRun], DRAIN_CONCURRENCY, ([runId, cs]) => this.republish(runId, cs));
    });
    if (drained > 0) this.opts.log.info('drained the outbox an earlier version left', { entries: drained });
    return drained;
  }
}
