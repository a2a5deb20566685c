/**
 * The transactional outbox: what makes every command of a stored decision go out, in effect once.
 *
 * - What is stored: each commit carries its commands; the store's outbox collection holds an entry
 *   `{ runId, seq, at }` per commit not yet published (see shared/store/commits.ts). A commit's
 *   commands become messages with deterministic `Nats-Msg-Id`s `<runId>:<seq>:<index>`, so a
 *   re-publish is dropped by JetStream's duplicate window, and past it by the receivers' own
 *   checks (a result for a settled step, a firing for a timer no longer live, are ignored).
 * - When an entry exists: the append inserts it side by side with its commit and succeeds only
 *   once both are stored; commands are published only after a successful append. So a stored
 *   commit without an entry has had its commands published, or its input has not been acked.
 * - Who deletes it: publishCommit, once every message of the commit is published (a batched
 *   delete, "mark published"); the sweep's republish does the same. The store itself deletes an
 *   entry whose commit never came, past OUTBOX_ORPHAN_HORIZON_MS.
 * - What a crash (or a store or server failure) leaves in each window, and who repairs it:
 *   - append under way, one half stored: the input is not acked. Its redelivery decides again
 *     (the append finds the entry, or finds the commit and counts it stored) and, as a
 *     redelivery, re-enters the run's commits since the message arrived (reenter), which gives a
 *     commit stored without its entry one back.
 *   - appended, not (or not all) published: the entry stays; the sweep republishes the commit
 *     once it is older than the grace period (any router sweeps), summary first, and the input's
 *     redelivery finds itself in history and re-enters as above. Repeats are deduplicated.
 *   - published, not marked: the entry stays; the sweep publishes again (dropped by msg id) and
 *     deletes it. Only a publish and a history read are wasted.
 *   - summary write failed: owed until the sweep pays it (projections.ts); a commit whose
 *     summary is missing is republished summary first, so the completion that frees a
 *     workflowId is never heard before describe and claims can see the run closed.
 */

import type { ChildResultMessage } from '../../shared/bus/lifecycle-messages.js';
import type {
  ActivityCancelMessage,
  TaskMessage,
  TimerCancelMessage,
  TimerScheduleMessage,
} from '../../shared/bus/messages.js';
import type { Clock } from '../../shared/clock.js';
import { forEachLimited } from '../../shared/concurrency.js';
import type { Command, RunState } from '../../shared/engine/types.js';
import type { Millis } from '../../shared/history/events.js';
import type { Logger } from '../../shared/log.js';
import type { Subjects } from '../../shared/names.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
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
      if (cmd.startToCloseTimeoutMs !== undefined) body.startToCloseTimeoutMs = cmd.startToCloseTimeoutMs;
      if (cmd.heartbeatTimeoutMs !== undefined) body.heartbeatTimeoutMs = cmd.heartbeatTimeoutMs;
      if (cmd.lastHeartbeat !== undefined) body.lastHeartbeat = cmd.lastHeartbeat;
      return { subject: subjects.task(cmd.activity), msgId, body };
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
      return { subject: subjects.start(cmd.workflowType), msgId, body, inbox: true };
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
    case 'continueAsNew': {
      const body: Record<string, unknown> = { workflowId: ctx.workflowId, continuedFrom: ctx.runId };
      if (cmd.input !== undefined) body.input = cmd.input;
      if (cmd.parent) body.parent = cmd.parent;
      return { subject: subjects.start(ctx.workflowType), msgId, body, inbox: true };
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

/** Runs whose unpublished commits one outbox sweep republishes at once. */
const SWEEP_CONCURRENCY = 8;
/** Unpublished commits one outbox sweep reads per round. */
const SWEEP_BATCH = 256;

/** What the outbox needs to know of runs, from the decider (its cache) and the projections. */
export interface OutboxRuns {
  /** The newest state known without reading history: the hot cache, else the stored summary. */
  known(runId: string): Promise<RunState | undefined>;
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
  /** Ages entries against the sweep's grace period. */
  clock: Clock;
  runs: OutboxRuns;
}

/** Options of Outbox.startSweeping. */
export interface SweepOptions {
  /** How often the outbox is swept. */
  intervalMs: number;
  /** How long a commit stays unpublished before a sweep republishes it. */
  graceMs: number;
  /** Runs first in every sweep (the decider pays its owed summary writes). */
  beforeSweep?: () => Promise<void>;
}

/** Publishes stored commits, deletes their entries, and repairs what a crash left; one per router. */
export class Outbox {
  private readonly marks: Batcher<{ runId: string; seq: number }, undefined>;
  /** Commands of a commit not to publish when it is published next (see elide). */
  private readonly elided = new WeakMap<StoredCommit, ReadonlySet<number>>();
  private stopped = false;

  constructor(private readonly opts: OutboxOptions) {
    this.marks = new Batcher(
      async (items) => {
        await opts.store.markPublishedMany(items);
        return items.map(() => undefined);
      },
      { maxBatch: 512 },
    );
  }

  /**
   * Publishes a stored commit's commands (pipelined), then marks it published. A failed mark is
   * logged and left to the sweep; `awaitMark` waits for it (the sweep does, so its next round does
   * not read the same commits again).
   */
  async publishCommit(commit: StoredCommit, workflowType: string, opts: { awaitMark?: boolean } = {}): Promise<void> {
    const ctx = { runId: commit.runId, workflowId: commit.workflowId, workflowType, seq: commit.seq, at: commit.at };
    const messages = commitMessages(this.opts.subjects, ctx, commit.commands, this.elided.get(commit));
    await Promise.all(messages.map((m) => this.opts.publish(m)));
    const marked = this.marks.add({ runId: commit.runId, seq: commit.seq }).catch((err: unknown) => {
      this.opts.log.warn('marking a commit published failed; the outbox sweep will republish it', {
        runId: commit.runId,
        seq: commit.seq,
        err,
      });
    });
    if (opts.awaitMark) await marked;
  }

  /**
   * Leaves the commands at `indexes` of this very commit object out when it is published: an
   * inline chain's timers armed and ended within the chain (see inline-steps.ts). A republish of
   * the stored commit (the sweep) sends them all, which is harmless: stale timers are ignored.
   */
  elide(commit: StoredCommit, indexes: ReadonlySet<number>): void {
    if (indexes.size > 0) this.elided.set(commit, indexes);
  }

  /**
   * A redelivered input's repair, before it is acked: the run's commits since the message arrived
   * go back in the outbox, in case an earlier attempt stored one and died (or failed) before its
   * entry was stored (see CommitStore). The decider calls it only where that can be: a start, and
   * an input its run already holds. `since` undefined (a first delivery) does nothing.
   */
  async reenter(runId: string, since: number | undefined): Promise<void> {
    if (since === undefined) return;
    const entered = await this.opts.store.reenterOutbox(runId, since);
    if (entered > 0) this.opts.log.info('re-entered commits of a redelivered input in the outbox', { runId, entered });
  }

  /**
   * The sweep's repair of a commit left unpublished. The summary may be just as far behind (its
   * write failed, or the append's reply was lost and the redelivery found the run already past
   * it), so it is written again before the commands go out. False when the run is gone.
   */
  async republish(commit: StoredCommit): Promise<boolean> {
    // Most commits a crash leaves are followed by later ones whose summary is written: then only
    // the publish is missing (often only its mark), and one summary read is all it takes.
    const known = await this.opts.runs.known(commit.runId);
    if (known && known.lastSeq > commit.seq) {
      await this.publishCommit(commit, known.workflowType, { awaitMark: true });
      return true;
    }
    const state = await this.opts.runs.loadFresh(commit.runId);
    if (!state) return false;
    // Only the latest commit's summary can be missing for good: a later commit wrote its own.
    if (commit.seq === state.lastSeq) await this.opts.runs.saveSummary(state);
    await this.publishCommit(commit, state.workflowType, { awaitMark: true });
    return true;
  }

  /**
   * One sweep: republishes, in seq order per run, the commits unpublished for longer than
   * `graceMs`, batch after batch while full ones come back. One run failing does not stop the rest.
   */
  async sweep(graceMs: number): Promise<void> {
    const { store, log } = this.opts;
    // Batch after batch while a full one comes back: a crash under load can leave thousands.
    for (let round = 0; !this.stopped; round++) {
      const stale = await store.findUnpublished({ olderThan: this.opts.clock.now() - graceMs, limit: SWEEP_BATCH });
      const byRun = new Map<string, StoredCommit[]>();
      for (const c of stale) byRun.set(c.runId, [...(byRun.get(c.runId) ?? []), c]);
      // Entries come in the order they were written, by routers whose clocks may differ.
      for (const commits of byRun.values()) commits.sort((a, b) => a.seq - b.seq);
      let republished = 0;
      // Runs side by side, in random order, so two routers sweeping one backlog mostly differ.
      await forEachLimited(shuffled([...byRun.values()]), SWEEP_CONCURRENCY, async (commits) => {
        try {
          for (const c of commits) {
            if (!(await this.republish(c))) continue;
            republished++;
            log.info('republishing commands of a commit left unpublished', { runId: c.runId, seq: c.seq });
          }
        } catch (err) {
          log.warn('republishing a commit left unpublished failed; the next sweep tries again', {
            runId: commits[0]?.runId,
            err,
          });
        }
      });
      if (stale.length < SWEEP_BATCH || republished === 0) break;
      log.info('outbox sweep continues with the next batch', { round, republished });
    }
  }

  /** Sweeps now and then every `intervalMs` until stop(); a slow sweep is never overlapped. */
  startSweeping(o: SweepOptions): void {
    let sweeping = false;
    const sweepOnce = (): void => {
      if (sweeping || this.stopped) return; // a slow sweep (a scan on FerretDB) must not pile up
      sweeping = true;
      (async () => {
        await o.beforeSweep?.();
        await this.sweep(o.graceMs);
      })()
        .catch((err: unknown) => this.opts.log.warn('outbox sweep failed', { err }))
        .finally(() => {
          sweeping = false;
        });
    };
    sweepOnce();
    const timer = setInterval(sweepOnce, o.intervalMs);
    timer.unref();
    this.stopSweeping = () => clearInterval(timer);
  }

  /** Stops sweeping: no new sweep starts, and one under way reads no further batch. */
  stop(): void {
    this.stopped = true;
    this.stopSweeping();
  }

  /** Waits for every pending mark. */
  idle(): Promise<void> {
    return this.marks.idle();
  }

  private stopSweeping: () => void = () => undefined;
}

/** A copy of `items` in random order (Fisher-Yates). */
function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
