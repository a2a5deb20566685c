/**
 * One decision step for the router: load the run (hot cache, else snapshot + history tail),
 * fold one input through the pure engine, append the commit (batched across runs), then hand it
 * to the outbox (publish) and the projections (summary) in the order readers rely on. The input
 * is acked only once its commit's commands are published (see outbox.ts). A lost
 * append race (ConflictError) reloads and decides again. Slightly over 400 lines: the start's
 * claim protocol (reuse policies, signal-with-start, continue-as-new) reads best whole, here.
 */
import { type Clock, systemClock } from '../../shared/clock.js';
import type { WorkflowDefinition, WorkflowRegistry } from '../../shared/engine/index.js';
import { decide, replayCommits } from '../../shared/engine/index.js';
import type { DecisionInput, RunState } from '../../shared/engine/types.js';
import {
  AlreadyStartedError,
  ConflictError,
  InvalidInputError,
  NotFoundError,
  UnavailableError,
} from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { Subjects } from '../../shared/names.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
import { KeyedQueue } from '../common/keyed-queue.js';
import { deriveRunId, outsideInputKey, refusesExisting, runStartedOf, toCommit } from './decisions.js';
import { type InboundInput, isOutsideInput, type RunInput, type StartInput } from './inputs.js';
import { type OutboundMessage, Outbox } from './outbox.js';
import { RunProjections } from './projections.js';

export { deriveRunId } from './decisions.js';

/** How many times a decision is retried after losing an append race. */
const MAX_CONFLICT_RETRIES = 8;

/** What a processed input led to, for replies and notifications. */
export type DecideOutcome =
  | { kind: 'started'; workflowId: string; runId: string; created: boolean }
  | { kind: 'applied'; workflowId: string; runId: string; seq: number; ignored?: string }
  /** `duplicate`: the same message was taken before (a redelivery after a crash). */
  | { kind: 'dropped'; workflowId: string; runId?: string; why: 'closed' | 'stale' | 'duplicate' };

/** Options of a RunDecider. */
export interface RunDeciderOptions {
  store: Store;
  registry: WorkflowRegistry;
  subjects: Subjects;
  publish: (m: OutboundMessage) => Promise<void>;
  log: Logger;
  /** Runs kept hot in memory. @default 10_000 */
  cacheSize?: number;
  /** The time inputs are decided at; injected so tests can control it. @default systemClock */
  clock?: Clock;
  /** See RunProjectionsOptions.summaryDelayMs. @default 1000 */
  summaryDelayMs?: number;
}

interface HotRun {
  def: WorkflowDefinition;
  state: RunState;
}

/** What the consumer knows of an input's message. */
export interface InputMeta {
  /** When the inbox stream was created, with the message's stream sequence: the key of a start. */
  startKey: string;
  /** The message's `Nats-Msg-Id`, if it has one. */
  msgId?: string;
  /**
   * Set on a redelivery: when the message was first stored, less a margin for clock skew. Where
   * an earlier delivery may have left a commit (see Outbox.republishSince), the run's commits
   * since then are published again before the input is acked.
   */
  redeliveredSince?: number;
}

/** Folds inputs into runs; one instance per router. */
export class RunDecider {
  private readonly cache = new Map<string, HotRun>();
  private readonly missingLogged = new Set<string>();
  private readonly queue = new KeyedQueue();
  private readonly appends: Batcher<StoredCommit, ConflictError | undefined>;
  /** Summary writes and owed summaries (see RunProjections). */
  private readonly projections: RunProjections;
  /** Publishes stored commits and republishes what a redelivered input's earlier delivery stored (see Outbox). */
  readonly outbox: Outbox;
  private readonly cacheSize: number;
  private readonly clock: Clock;
  private races = 0;

  constructor(private readonly opts: RunDeciderOptions) {
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.clock = opts.clock ?? systemClock;
    this.appends = new Batcher((cs) => opts.store.appendCommits(cs), { maxBatch: 512, concurrency: 2 });
    this.projections = new RunProjections({
      store: opts.store,
      log: opts.log,
      definition: (type, version) => this.definition(type, version),
      ...(opts.summaryDelayMs === undefined ? {} : { summaryDelayMs: opts.summaryDelayMs }),
    });
    this.outbox = new Outbox({
      store: opts.store,
      subjects: opts.subjects,
      publish: opts.publish,
      log: opts.log,
      runs: {
        loadFresh: async (runId) => (await this.load(runId, { fresh: true }))?.state,
        saveSummary: (state) => this.projections.saveNow(state),
      },
    });
  }

  /** Processes one input, serialized with every other input of the same workflowId. */
  process(input: InboundInput, meta: InputMeta): Promise<DecideOutcome> {
    const key = input.kind === 'start' ? (input.workflowId ?? deriveRunId(meta.startKey)) : input.workflowId;
    // Outside inputs come in on the inbox and are named by their message (see outsideInputKey);
    // results and firings come on the events stream and have stale checks of their own.
    const outside = input.kind === 'run' && isOutsideInput(input.decision);
    return this.queue.run(key, async () => {
      if (input.kind === 'start') return this.start(input, key, meta);
      const outcome = await this.apply(input, outside ? outsideInputKey(meta) : undefined);
      // Found already in (an earlier delivery's commit): that delivery may have died, or failed
      // to publish, before the ack; its commands go out again before this one is acked.
      const foundIn =
        (outcome.kind === 'dropped' && outcome.why !== 'stale') ||
        (outcome.kind === 'applied' && outcome.ignored !== undefined);
      if (foundIn && outcome.runId !== undefined) {
        await this.outbox.republishSince(outcome.runId, meta.redeliveredSince);
      }
      return outcome;
    });
  }

  /**
   * The state of a workflowId's latest run. With `fresh`, a cached state is first brought up to
   * any commit another router appended since (queries must not answer from a stale cache).
   */
  async current(workflowId: string, opts: { fresh?: boolean } = {}): Promise<HotRun | undefined> {
    const rec = await this.opts.store.getRunByWorkflowId(workflowId);
    if (!rec) return undefined;
    return this.load(rec.runId, opts);
  }

  /** Loads a run by id: hot cache, else its summary plus any history past it (self-repair). */
  async load(runId: string, opts: { fresh?: boolean } = {}): Promise<HotRun | undefined> {
    const hot = this.cache.get(runId);
    if (hot && !opts.fresh) return hot;
    const rec = hot ? undefined : await this.opts.store.getRun(runId);
    const base = hot?.state ?? rec?.state;
    const tail: StoredCommit[] = [];
    for await (const c of this.opts.store.loadHistory(runId, base?.lastSeq ?? 0)) tail.push(c);
    if (hot && tail.length === 0) return hot;
    if (!base && tail.length === 0) return undefined;
    const started = base ?? runStartedOf(tail);
    const def = hot?.def ?? this.definition(started.workflowType, started.version);
    let state: RunState | undefined = base;
    if (tail.length > 0) {
      const rebuilt: RunState = replayCommits(def, tail, state ? { from: state } : {});
      // Normal when another router decided last (summaries are written in batches, after commits).
      this.opts.log.debug('brought a run up to its history', {
        runId,
        workflowId: rebuilt.workflowId,
        from: base?.lastSeq ?? 0,
        to: rebuilt.lastSeq,
      });
      if (!hot) await this.projections.saveNow(rebuilt);
      state = rebuilt;
    }
    if (!state) return undefined;
    const run = { def, state };
    this.remember(run);
    return run;
  }

  /**
   * Writes again the summaries whose writes failed (a store away for a moment), so a run that
   * waits long for its next input does not show a stale state in describe and list meanwhile.
   */
  payOwedSummaries(): Promise<void> {
    return this.projections.payOwedSummaries();
  }

  /** Waits for every queued decision and pending projection write. */
  async drain(): Promise<void> {
    await this.queue.drain();
    await Promise.all([this.appends.idle(), this.projections.idle()]);
  }

  /** Append races this decider lost so far (another router appended the run's next commit first). */
  get appendRaces(): number {
    return this.races;
  }

  /** Forgets a cached run (after a conflict, or on demand). */
  evict(runId: string): void {
    this.cache.delete(runId);
  }

  private definition(type: string, version: number): WorkflowDefinition {
    const def = this.opts.registry.get(type, version);
    if (!def) {
      const key = `${type} v${version}`;
      if (!this.missingLogged.has(key)) {
        // Once per version: a run started by a newer router during a rolling deploy, say. Its
        // inputs are redelivered until a router that registers the version takes them.
        this.missingLogged.add(key);
        this.opts.log.error('a run uses a workflow version this router does not register; its inputs wait', {
          workflowType: type,
          version,
          registered: this.opts.registry.versions(type),
        });
      }
      throw new NotFoundError(`workflow ${type} version ${version} is not registered with this router`, {
        retryable: true,
        details: { workflowType: type, version },
      });
    }
    return def;
  }

  private remember(run: HotRun): void {
    const id = run.state.runId;
    this.cache.delete(id);
    this.cache.set(id, run);
    if (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }

  private async start(input: StartInput, workflowId: string, meta: InputMeta) {
    const def = this.opts.registry.latest(input.workflowType);
    if (!def) {
      throw new InvalidInputError(`unknown workflow type ${JSON.stringify(input.workflowType)}`, {
        details: { reason: 'unknown-type', workflowType: input.workflowType },
      });
    }
    // The next run of a continue-as-new has an id of its own run's making: any redelivery agrees.
    const runId = deriveRunId(input.continuedFrom ? `continue:${input.continuedFrom}` : meta.startKey);
    const republished = await this.outbox.republishSince(runId, meta.redeliveredSince);
    let policy = input.idReusePolicy;
    if (input.continuedFrom) {
      await this.closeContinued(workflowId, input.continuedFrom);
      policy = 'allowAfterClose';
    }
    let claim = await this.opts.store.claimWorkflowId(workflowId, runId, policy, meta.msgId);
    // The same start message again, past JetStream's duplicate window: the run it created.
    if (!claim.claimed && claim.sameStart) {
      return { kind: 'started', workflowId, runId: claim.runId, created: true } as const;
    }
    // Signal-with-start: an open run takes the signal instead of a new run being started. The
    // claim decides races (one start wins the id; the others signal the winner); a run that
    // closed between claim and signal makes us claim again.
    for (let attempt = 0; input.signal && !claim.claimed && claim.runId !== runId && claim.status === 'running'; ) {
      await this.outbox.republishSince(claim.runId, meta.redeliveredSince);
      const signalled = await this.apply(
        { kind: 'run', workflowId, runId: claim.runId, decision: { kind: 'signal', event: input.signal } },
        outsideInputKey(meta),
      );
      if (signalled.kind === 'applied')
        return { kind: 'started', workflowId, runId: claim.runId, created: false } as const;
      if (++attempt >= MAX_CONFLICT_RETRIES) {
        throw new ConflictError(`workflowId ${workflowId} kept closing and reopening during a signal-with-start`, {
          details: { workflowId },
        });
      }
      claim = await this.opts.store.claimWorkflowId(workflowId, runId, policy, meta.msgId);
      if (!claim.claimed && claim.sameStart) {
        return { kind: 'started', workflowId, runId: claim.runId, created: true } as const;
      }
    }
    if (!claim.claimed && claim.runId !== runId) {
      if (refusesExisting(policy, claim.status)) {
        throw new AlreadyStartedError(`workflowId ${workflowId} is taken by run ${claim.runId} (${claim.status})`, {
          details: { workflowId, runId: claim.runId, status: claim.status },
        });
      }
      return { kind: 'started', workflowId, runId: claim.runId, created: false } as const;
    }
    // The request is the engine's start input already; only what routed it is left out.
    const { kind: _kind, workflowType: _type, workflowId: _id, idReusePolicy: _policy, ...start } = input;
    const decision = decide(def, undefined, { ...start, kind: 'start', at: this.clock.now(), workflowId, runId });
    const commit = toCommit(decision.state, decision.events, decision.commands);
    const conflict = await this.appends.add(commit);
    if (conflict) {
      // A crashed earlier attempt of this very start already appended it: finish its work, the
      // summary and then what the run stored since (its start commit at least) going out again.
      this.evict(runId);
      const run = await this.load(runId);
      if (run) await this.projections.saveNow(run.state, meta.msgId ? { startMsgId: meta.msgId } : undefined);
      // Unless done above: an earlier attempt still under way (past its ack wait) appended since.
      if (republished === 0) await this.outbox.republishSince(runId, meta.redeliveredSince ?? 0);
      return { kind: 'started', workflowId, runId, created: true } as const;
    }
    this.remember({ def, state: decision.state });
    // The start summary is written before we answer, so signals right after can find the run.
    await this.projections.saveNow(decision.state, meta.msgId ? { startMsgId: meta.msgId } : undefined);
    await this.orRedeliver(commit, decision.state, () =>
      this.outbox.publishCommit(commit, decision.state.workflowType),
    );
    return { kind: 'started', workflowId, runId, created: true } as const;
  }

  /**
   * Before the next run of a continue-as-new claims the workflowId: the run it continues must
   * have closed as `continued`, and its summary (which the router that decided it may not have
   * written yet) is written here, so the claim sees the id free.
   */
  private async closeContinued(workflowId: string, previousRunId: string): Promise<void> {
    const prev = await this.load(previousRunId, { fresh: true });
    if (!prev || prev.state.workflowId !== workflowId || prev.state.status !== 'continued') {
      throw new InvalidInputError(
        `start of ${workflowId} continues run ${previousRunId}, which is not a run of it that continued as new`,
        { details: { reason: 'invalid-input', workflowId, runId: previousRunId } },
      );
    }
    await this.opts.store.saveRun(prev.state);
  }

  /** `inputKey` identifies the message the input came in (see DecisionInput `inputId`). */
  private async apply(input: RunInput, inputKey?: string): Promise<DecideOutcome> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const run = await this.runFor(input);
      const duplicate = inputKey !== undefined && run.state.recentInputs?.includes(inputKey) === true;
      if (duplicate || run.state.status !== 'running') {
        // A duplicate may find the run closed by itself or by inputs after it: it is not late.
        const why = duplicate ? 'duplicate' : 'closed';
        return { kind: 'dropped', workflowId: input.workflowId, runId: run.state.runId, why };
      }
      if (input.byParent !== undefined && run.state.parent?.runId !== input.byParent) {
        // A parent's close policy reached a run that is not its child (the id was reused): leave it be.
        return { kind: 'dropped', workflowId: input.workflowId, runId: run.state.runId, why: 'stale' };
      }
      const at = this.clock.now();
      const engineInput = { ...input.decision, at, ...(inputKey === undefined ? {} : { inputId: inputKey }) };
      const decision = decide(run.def, run.state, engineInput as DecisionInput);
      if (decision.events.length === 0) {
        return { kind: 'dropped', workflowId: input.workflowId, runId: run.state.runId, why: 'closed' };
      }
      const commit = toCommit(decision.state, decision.events, decision.commands);
      const conflict = await this.appends.add(commit);
      if (conflict) {
        this.races++;
        this.opts.log.info('lost an append race; reloading', { runId: run.state.runId, seq: commit.seq, attempt });
        this.evict(run.state.runId);
        continue;
      }
      this.remember({ def: run.def, state: decision.state });
      await this.finish(commit, decision.state);
      const ignored = (decision.events[0] as { ignored?: string } | undefined)?.ignored;
      return {
        kind: 'applied',
        workflowId: input.workflowId,
        runId: run.state.runId,
        seq: commit.seq,
        ...(ignored ? { ignored } : {}),
      };
    }
    throw new ConflictError(`gave up after ${MAX_CONFLICT_RETRIES} append races on ${input.workflowId}`, {
      details: { workflowId: input.workflowId },
    });
  }

  private async runFor(input: RunInput): Promise<HotRun> {
    if (!isOutsideInput(input.decision)) {
      // Results, firings, child outcomes and callbacks name their run.
      const run = input.runId === undefined ? undefined : await this.load(input.runId);
      if (!run) {
        throw new NotFoundError(`no run ${input.runId} (workflowId ${input.workflowId})`, {
          details: { reason: 'unknown-run', runId: input.runId, workflowId: input.workflowId },
        });
      }
      return run;
    }
    if (input.runId !== undefined) {
      const held = await this.load(input.runId);
      // The run holding the id was claimed by a start another router is still deciding: retry later.
      if (!held) {
        throw new ConflictError(`run ${input.runId} holding workflowId ${input.workflowId} is not visible yet`, {
          details: { workflowId: input.workflowId, runId: input.runId },
        });
      }
      return held;
    }
    const run = await this.current(input.workflowId);
    if (!run) {
      throw new NotFoundError(`no run for workflowId ${input.workflowId}`, {
        retryable: true,
        details: { reason: 'unknown-run', workflowId: input.workflowId },
      });
    }
    return run;
  }

  /**
   * What follows a stored decision, in the order readers rely on: an open run's commands go out,
   * then its summary is recorded (written behind); a closed run's summary is written first, so
   * whoever hears of its completion finds it closed in describe and list, and its id free.
   */
  private finish(commit: StoredCommit, state: RunState): Promise<void> {
    return this.orRedeliver(commit, state, async () => {
      if (state.status === 'running') {
        await this.outbox.publishCommit(commit, state.workflowType);
        await this.projections.record(commit, state);
        return;
      }
      await this.projections.record(commit, state);
      await this.outbox.publishCommit(commit, state.workflowType);
    });
  }

  /**
   * Runs what follows a stored commit. A failure fails the decision with UnavailableError (always
   * retryable, so a start's failure is never reported to its caller), and its input is
   * redelivered, not acked: the redelivery finds the input in the run (never records it twice)
   * and republishes the commit (Outbox.republishSince). The summary is owed meanwhile.
   */
  private async orRedeliver(commit: StoredCommit, state: RunState, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.projections.owe(state);
      const { runId, workflowId, seq } = commit;
      this.opts.log.warn('a stored decision could not be published; its input is redelivered to publish it', {
        runId,
        workflowId,
        seq,
        err,
      });
      throw new UnavailableError(`commit ${seq} of run ${runId} is stored but its commands are not all published`, {
        cause: err,
        details: { runId, workflowId, seq },
      });
    }
  }
}
