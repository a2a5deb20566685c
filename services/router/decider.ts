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
import type { Decision, DecisionInput, RunState } from '../../shared/engine/types.js';
import {
  AlreadyStartedError,
  ConflictError,
  InvalidInputError,
  NotFoundError,
  UnavailableError,
} from '../../shared/errors.js';
import type { RunStatus } from '../../shared/history/events.js';
import type { Logger } from '../../shared/log.js';
import type { Subjects } from '../../shared/names.js';
import type {
  ChainAppend,
  ClaimResult,
  Store,
  StoredCommit,
  WorkflowIdClaim,
  WorkflowIdHolder,
} from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
import { KeyedQueue } from '../common/keyed-queue.js';
import { deriveRunId, outsideInputKey, refusesExisting, runStartedOf, toCommit } from './decisions.js';
import { type InlineChain, type InlineSteps, inlineStepsOf, pendingSteps } from './inline-steps.js';
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
  /** Runs the inline steps of decisions (see inline-steps.ts); absent = the router has none. */
  inline?: InlineSteps;
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
  /** Tells JetStream the message is still being worked on (an inline chain running long). */
  working?: () => void;
}

/** Folds inputs into runs; one instance per router. */
export class RunDecider {
  private readonly cache = new Map<string, HotRun>();
  /** The holder of each workflowId seen lately (see current()), as many as runs are cached. */
  private readonly holders = new Map<string, WorkflowIdHolder>();
  private readonly missingLogged = new Set<string>();
  private readonly queue = new KeyedQueue();
  private readonly appends: Batcher<StoredCommit, ConflictError | undefined>;
  /** First claims of concurrent starts, one insert for the batch (see Store.claimWorkflowIds). */
  private readonly claims: Batcher<WorkflowIdClaim, ClaimResult | ConflictError>;
  /** Summary writes and owed summaries (see RunProjections). */
  private readonly projections: RunProjections;
  /** Publishes stored commits and republishes what a redelivered input's earlier delivery stored (see Outbox). */
  readonly outbox: Outbox;
  private readonly cacheSize: number;
  private readonly clock: Clock;
  private races = 0;
  /** Loads that found their run in memory (hits) or read the store (misses), for metrics. */
  readonly cacheLookups = { hits: 0, misses: 0 };

  constructor(private readonly opts: RunDeciderOptions) {
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.clock = opts.clock ?? systemClock;
    this.appends = new Batcher((cs) => opts.store.appendCommits(cs), { maxBatch: 512, concurrency: 2 });
    this.claims = new Batcher((cs) => opts.store.claimWorkflowIds(cs), { maxBatch: 512, concurrency: 2 });
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
      const outcome = await this.apply(input, outside ? outsideInputKey(meta) : undefined, meta);
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
   * The state of a workflowId's current run: its holder (remembered, else read from the id's
   * generations), loaded by runId, so a run whose start summary is not written yet is found. A
   * remembered holder whose hot state is open is taken without a read: a newer generation is only
   * claimed once the holder's summary says closed, and a hot state that missed a close made
   * elsewhere fails its append and is reloaded. With `fresh`, a cached state is first brought up
   * to any commit another router appended since (queries must not answer from a stale cache).
   */
  async current(workflowId: string, opts: { fresh?: boolean } = {}): Promise<HotRun | undefined> {
    const known = this.holders.get(workflowId);
    const hot = known && !opts.fresh ? this.cache.get(known.runId) : undefined;
    if (hot?.state.status === 'running') return hot;
    const holder = await this.holder(workflowId);
    return holder ? this.load(holder.runId, opts) : undefined;
  }

  /**
   * The current holder of a workflowId, confirmed in the store: one lookup past a remembered
   * holder (see Store.workflowIdHolder), the id's generations otherwise.
   */
  async holder(workflowId: string): Promise<WorkflowIdHolder | undefined> {
    const holder = await this.opts.store.workflowIdHolder(workflowId, this.holders.get(workflowId));
    if (holder) this.rememberHolder(workflowId, holder);
    return holder;
  }

  /**
   * The run holding a workflowId and whether it is open, for a request's answer: the holder's
   * summary says, and a holder without one is still starting, hence open. A remembered holder
   * found open is current without reading its generations (see current()).
   */
  async holderStatus(workflowId: string): Promise<{ runId: string; status: RunStatus } | undefined> {
    const known = this.holders.get(workflowId);
    const knownStatus = known ? await this.summaryStatus(known.runId) : undefined;
    if (known && knownStatus === 'running') return { runId: known.runId, status: knownStatus };
    const holder = await this.holder(workflowId);
    if (!holder) return undefined;
    // Still the remembered holder: closed runs never reopen, so the status read stands.
    if (knownStatus !== undefined && holder.runId === known?.runId) return { runId: holder.runId, status: knownStatus };
    return { runId: holder.runId, status: await this.summaryStatus(holder.runId) };
  }

  /** A run's status as its summary has it (a closed hot state is final); no summary is open. */
  private async summaryStatus(runId: string): Promise<RunStatus> {
    const hot = this.cache.get(runId)?.state.status;
    if (hot !== undefined && hot !== 'running') return hot;
    return (await this.opts.store.getRun(runId))?.status ?? 'running';
  }

  private rememberHolder(workflowId: string, holder: WorkflowIdHolder): void {
    this.holders.delete(workflowId);
    this.holders.set(workflowId, holder);
    if (this.holders.size > this.cacheSize) {
      const oldest = this.holders.keys().next().value;
      if (oldest !== undefined) this.holders.delete(oldest);
    }
  }

  /** Loads a run by id: hot cache, else its summary plus any history past it (self-repair). */
  async load(runId: string, opts: { fresh?: boolean } = {}): Promise<HotRun | undefined> {
    const hot = this.cache.get(runId);
    this.cacheLookups[hot ? 'hits' : 'misses']++;
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

  /** Runs held in memory. */
  get cachedRuns(): number {
    return this.cache.size;
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
    let claim = await this.claim({ workflowId, runId, policy, ...(meta.msgId ? { startMsgId: meta.msgId } : {}) });
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
    if (claim.claimed)
      this.rememberHolder(workflowId, { runId, gen: claim.gen, ...(meta.msgId ? { startMsgId: meta.msgId } : {}) });
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
    const chain = await this.foldInline(def, decision, meta.working);
    const commits = chain.decisions.map((d) => toCommit(d.state, d.events, d.commands));
    const { stored } = await this.appendAll(commits);
    if (stored === 0) {
      // A crashed earlier attempt of this very start already appended it: finish its work, the
      // summary and then what the run stored since (its start commit at least) going out again.
      this.evict(runId);
      const run = await this.load(runId);
      if (run) await this.projections.saveNow(run.state, meta.msgId ? { startMsgId: meta.msgId } : undefined);
      // Unless done above: an earlier attempt still under way (past its ack wait) appended since.
      if (republished === 0) await this.outbox.republishSince(runId, meta.redeliveredSince ?? 0);
      return { kind: 'started', workflowId, runId, created: true } as const;
    }
    const state = (chain.decisions[stored - 1] as Decision).state;
    this.remember({ def, state });
    // No summary is awaited: the start's is written behind like any open state's. Inputs right
    // after find the run by its workflowId's holder, which the claim just wrote (see current()).
    // A chain that closed the run writes its closing summary before the completion goes out.
    await this.publishChain(chain, commits.slice(0, stored));
    if (chain.cut && stored === commits.length) this.resumeInline(workflowId, def, state, chain);
    return { kind: 'started', workflowId, runId, created: true } as const;
  }

  /** A start's first claim, batched with those of concurrent starts. */
  private async claim(c: WorkflowIdClaim): Promise<ClaimResult> {
    const result = await this.claims.add(c);
    if (result instanceof ConflictError) throw result;
    return result;
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
  private async apply(input: RunInput, inputKey?: string, meta: Partial<InputMeta> = {}): Promise<DecideOutcome> {
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
      const chain = await this.foldInline(run.def, decision, meta.working);
      const commits = chain.decisions.map((d) => toCommit(d.state, d.events, d.commands));
      const { stored } = await this.appendAll(commits);
      if (stored === 0) {
        this.races++;
        const seq = commits[0]?.seq;
        this.opts.log.info('lost an append race; reloading', { runId: run.state.runId, seq, attempt });
        this.evict(run.state.runId);
        continue;
      }
      const state = (chain.decisions[stored - 1] as Decision).state;
      this.remember({ def: run.def, state });
      // Published (and the summary recorded) before the input is acked; a failure redelivers the
      // input, whose redelivery finds itself in the run and republishes (see outbox.ts). A chain
      // cut short by a race keeps what it stored: its pending inline steps run again when their
      // startToClose timer fires.
      await this.publishChain(chain, commits.slice(0, stored));
      if (chain.cut && stored === commits.length) this.resumeInline(input.workflowId, run.def, state, chain);
      const ignored = (decision.events[0] as { ignored?: string } | undefined)?.ignored;
      return {
        kind: 'applied',
        workflowId: input.workflowId,
        runId: run.state.runId,
        seq: (commits[stored - 1] as StoredCommit).seq,
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

  /** The chain of decisions `first` opens: itself, then those its inline steps lead to (inline-steps.ts). */
  private async foldInline(def: WorkflowDefinition, first: Decision, keepAlive?: () => void): Promise<InlineChain> {
    const steps = this.opts.inline ? inlineStepsOf(first.commands) : [];
    if (!this.opts.inline || steps.length === 0) return { decisions: [first], elided: [new Set()], cut: false };
    return this.opts.inline.fold(def, first.state, steps, { first, ...(keepAlive ? { keepAlive } : {}) });
  }

  /** One commit goes in the batched append shared across runs; a chain in one ordered insert. */
  private async appendAll(commits: StoredCommit[]): Promise<ChainAppend> {
    if (commits.length !== 1) return this.opts.store.appendChain(commits);
    const conflict = await this.appends.add(commits[0] as StoredCommit);
    return conflict ? { stored: 0, conflict } : { stored: 1 };
  }

  /**
   * Publishes a chain's stored commits in seq order, leaving out what the chain elided; the last
   * goes through finish(), which records its summary. A failure redelivers the input.
   */
  private async publishChain(chain: InlineChain, commits: StoredCommit[]): Promise<void> {
    for (const [i, commit] of commits.entries()) {
      this.outbox.elide(commit, chain.elided[i] ?? new Set());
      const state = (chain.decisions[i] as Decision).state;
      if (i < commits.length - 1) {
        await this.orRedeliver(commit, state, () => this.outbox.publishCommit(commit, state.workflowType));
      } else {
        await this.finish(commit, state);
      }
    }
  }

  /**
   * A chain cut at its cap left inline steps pending (or still running): a chain of their own
   * runs them (or takes their outcomes), queued behind the workflowId's other inputs. If this
   * router dies first, their startToClose timers run them again.
   */
  private resumeInline(workflowId: string, def: WorkflowDefinition, from: RunState, cut: InlineChain): void {
    const inline = this.opts.inline;
    if (!inline) return;
    void this.queue
      .run(workflowId, async () => {
        const run = await this.load(from.runId);
        if (run?.state.status !== 'running') return;
        const chain = await inline.fold(def, run.state, cut.inFlight ?? pendingSteps(run.state));
        if (chain.decisions.length === 0) return;
        const commits = chain.decisions.map((d) => toCommit(d.state, d.events, d.commands));
        const { stored } = await this.appendAll(commits);
        if (stored === 0) return this.evict(from.runId);
        const state = (chain.decisions[stored - 1] as Decision).state;
        this.remember({ def, state });
        await this.publishChain(chain, commits.slice(0, stored));
        if (chain.cut && stored === commits.length) this.resumeInline(workflowId, def, state, chain);
      })
      .catch((err: unknown) => {
        // The steps' startToClose timers run them again.
        this.opts.log.warn('resuming inline steps failed', { runId: from.runId, workflowId, err });
      });
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
