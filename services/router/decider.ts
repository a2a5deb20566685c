/**
 * One decision step for the router: load the run (hot cache, else snapshot + history tail), fold
 * one input through the pure engine, then hand the decision to the ChainWriter (chain.ts), which
 * folds its inline steps, appends the commits (batched across runs) and publishes them and records
 * the summary in the order readers rely on. The input is acked only once its commit's commands are
 * published (see outbox.ts). A lost append race (ConflictError) reloads and decides again.
 * Over 400 lines: the start's claim protocol (reuse policies, signal-with-start, continue-as-new,
 * and the start from another run's history of branch, reset and resume) reads best whole, here.
 */

import type { BranchRequest } from '../../shared/bus/branch-request.js';
import { type Clock, systemClock } from '../../shared/clock.js';
import { activitiesGivenUp, type GivenUpActivity } from '../../shared/engine/attempts.js';
import type { WorkflowDefinition, WorkflowRegistry } from '../../shared/engine/index.js';
import { branchDecisions, decide, replayCommits } from '../../shared/engine/index.js';
import type { Decision, DecisionInput, RunState } from '../../shared/engine/types.js';
import { AlreadyStartedError, ConflictError, InvalidInputError, NotFoundError } from '../../shared/errors.js';
import type { RunStatus } from '../../shared/history/events.js';
import type { Logger } from '../../shared/log.js';
import type { Subjects } from '../../shared/names.js';
import type {
  ClaimResult,
  IdReusePolicy,
  Store,
  StoredCommit,
  WorkflowIdClaim,
  WorkflowIdHolder,
} from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
import { KeyedQueue } from '../common/keyed-queue.js';
import { readBranchSource } from './branch.js';
import { ChainWriter, type FoldedChain } from './chain.js';
import { deriveRunId, outsideInputKey, refusesExisting, runStartedOf, toCommit } from './decisions.js';
import type { InlineSteps } from './inline-steps.js';
import { type InboundInput, isOutsideInput, type RunInput, type StartInput } from './inputs.js';
import { type OutboundMessage, Outbox, type OutboxOptions } from './outbox.js';
import { RunProjections } from './projections.js';
import { RunCache, type RunCacheStats } from './run-cache.js';

export { deriveRunId } from './decisions.js';

/** Holders remembered however few runs a byte budget lets the cache hold (see rememberHolder). */
const HOLDERS_FLOOR = 10_000;

/** How many times a decision is retried after losing an append race. */
const MAX_CONFLICT_RETRIES = 8;

/** What a processed input led to, for replies and notifications. */
export type DecideOutcome = (
  | { kind: 'started'; workflowId: string; runId: string; created: boolean }
  | {
      kind: 'applied';
      workflowId: string;
      runId: string;
      seq: number;
      ignored?: string;
      /** Activities this decision gave up on (retries exhausted, timed out, not retryable). */
      gaveUp?: GivenUpActivity[];
    }
  /** `duplicate`: the same message was taken before (a redelivery after a crash). */
  | { kind: 'dropped'; workflowId: string; runId?: string; why: 'closed' | 'stale' | 'duplicate' }
) & {
  /** The run's workflow type (a registered definition's), when the input reached a run or a definition. */
  workflowType?: string;
};

/** Options of a RunDecider. */
export interface RunDeciderOptions {
  store: Store;
  registry: WorkflowRegistry;
  subjects: Subjects;
  publish: (m: OutboundMessage) => Promise<void>;
  log: Logger;
  /** Runs kept hot in memory. @default 10_000 */
  cacheSize?: number;
  /** Most estimated bytes of runs kept hot (see run-cache.ts); 0 = no byte bound. @default 0 */
  cacheBytes?: number;
  /** Hot runs not decided for this long are dropped; 0 = kept until evicted. @default 0 */
  cacheTtlMs?: number;
  /** The time inputs are decided at; injected so tests can control it. @default systemClock */
  clock?: Clock;
  /** See RunProjectionsOptions.summaryDelayMs. @default 1000 */
  summaryDelayMs?: number;
  /** Runs the inline steps of decisions (see inline-steps.ts); absent = the router has none. */
  inline?: InlineSteps;
  /** Writes the wait index of user events (see OutboxOptions.watchEvents). @default none */
  watchEvents?: OutboxOptions['watchEvents'];
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
   * When the message was first stored, less a margin for clock skew (see inputTimes in
   * handle-input.ts). An input found already in its run (an earlier delivery took it, and may
   * have died before publishing what it stored) has the run's commits since then published
   * again before it is acked (see Outbox.republishSince). Absent, nothing is republished.
   */
  foundInSince?: number;
  /**
   * The message says it was handled before (delivered more than once, or a result whose task was
   * redelivered or whose direct offer went unanswered): a start then claims its workflowId before
   * appending, and republishes since `foundInSince` what an earlier delivery stored. A redelivery
   * can also come as a first delivery (a nats-server killed forgets recent deliveries): a start's
   * append then conflicts with the earlier one's and finishes its work.
   */
  redelivered?: boolean;
  /** Tells JetStream the message is still being worked on (an inline chain running long). */
  working?: () => void;
}

/** Folds inputs into runs; one instance per router. */
export class RunDecider {
  private readonly cache: RunCache;
  /**
   * The holder of each workflowId seen lately (see current()): as many as the cache may hold runs,
   * and under a byte budget alone, as many as it holds (at least HOLDERS_FLOOR).
   */
  private readonly holders = new Map<string, WorkflowIdHolder>();
  private readonly missingLogged = new Set<string>();
  private readonly queue = new KeyedQueue();
  /** First claims of concurrent starts, one insert for the batch (see Store.claimWorkflowIds). */
  private readonly claims: Batcher<WorkflowIdClaim, ClaimResult | ConflictError>;
  /** Summary writes and owed summaries (see RunProjections). */
  private readonly projections: RunProjections;
  /** Publishes stored commits and republishes what a redelivered input's earlier delivery stored (see Outbox). */
  readonly outbox: Outbox;
  /** Folds inline steps, appends and publishes each decision's commits (see chain.ts). */
  private readonly chains: ChainWriter;
  private readonly clock: Clock;
  private races = 0;

  constructor(private readonly opts: RunDeciderOptions) {
    this.clock = opts.clock ?? systemClock;
    this.cache = new RunCache({
      maxRuns: opts.cacheSize ?? 10_000,
      maxBytes: opts.cacheBytes ?? 0,
      ttlMs: opts.cacheTtlMs ?? 0,
      clock: this.clock,
    });
    this.claims = new Batcher((cs) => opts.store.claimWorkflowIds(cs), {
      maxBatch: 512,
      concurrency: 2,
      gatherTurn: true,
    });
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
      ...(opts.watchEvents ? { watchEvents: opts.watchEvents } : {}),
    });
    this.chains = new ChainWriter({
      store: opts.store,
      outbox: this.outbox,
      projections: this.projections,
      log: opts.log,
      queue: this.queue,
      inline: opts.inline,
      runs: {
        load: (runId) => this.load(runId),
        remember: (run) => this.remember(run),
        evict: (runId) => this.evict(runId),
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
      if (input.kind === 'start') {
        const started = await this.start(input, key, meta);
        return { ...started, workflowType: input.workflowType };
      }
      const outcome = await this.apply(input, outside ? outsideInputKey(meta) : undefined, meta);
      // Found already in (an earlier delivery's commit): that delivery may have died, or failed
      // to publish, before the ack; its commands go out again before this one is acked.
      const foundIn =
        (outcome.kind === 'dropped' && outcome.why !== 'stale') ||
        (outcome.kind === 'applied' && outcome.ignored !== undefined);
      if (foundIn && outcome.runId !== undefined) {
        await this.outbox.republishSince(outcome.runId, meta.foundInSince);
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
    if (this.holders.size > Math.min(this.cache.maxRuns, Math.max(HOLDERS_FLOOR, this.cache.size))) {
      const oldest = this.holders.keys().next().value;
      if (oldest !== undefined) this.holders.delete(oldest);
    }
  }

  /** Loads a run by id: hot cache, else its summary plus any history past it (self-repair). */
  async load(runId: string, opts: { fresh?: boolean } = {}): Promise<HotRun | undefined> {
    const hot = this.cache.lookup(runId);
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
    await Promise.all([this.chains.idle(), this.projections.idle()]);
  }

  /** Append races this decider lost so far (another router appended the run's next commit first). */
  get appendRaces(): number {
    return this.races;
  }

  /** The run cache's figures: runs and bytes held, lookups, evictions (see run-cache.ts). */
  cacheStats(): RunCacheStats {
    return this.cache.stats();
  }

  /** Drops the cached runs past their time to live (the router's upkeep calls it); returns how many. */
  sweepCache(): number {
    return this.cache.sweep();
  }

  /** Forgets a run this router holds hot (its history was swept: later reads go to the store). */
  forget(runId: string): void {
    this.cache.delete(runId);
  }

  /** A run's state if it is held in memory: no load, no lookup counted (read by tracing). */
  peek(runId: string): RunState | undefined {
    return this.cache.get(runId)?.state;
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
    this.cache.set(run.state.runId, run);
  }

  /**
   * A start: the claim of its workflowId and, for a fresh start without inline steps, the append
   * of its first commit, side by side (one round trip, not two). A start whose claim is refused
   * has its commit deleted before it answers (Store.discardRefusedStart), and so does every
   * redelivery of it, which claims again before republishing anything. A redelivery, a
   * continue-as-new and a start with inline steps claim first: their steps must not run, and an
   * earlier delivery's commits must not go out again, for a start that is refused.
   */
  private async start(input: StartInput, workflowId: string, meta: InputMeta) {
    if (input.from) return this.startFrom(input.from, workflowId, meta);
    const { registry } = this.opts;
    const def =
      input.version === undefined
        ? registry.latest(input.workflowType)
        : registry.get(input.workflowType, input.version);
    if (!def) {
      const what = input.version === undefined ? '' : ` version ${input.version}`;
      throw new InvalidInputError(`unknown workflow type ${JSON.stringify(input.workflowType)}${what}`, {
        details: { reason: 'unknown-type', workflowType: input.workflowType },
      });
    }
    // The next run of a continue-as-new has an id of its own run's making: any redelivery agrees.
    const runId = deriveRunId(input.continuedFrom ? `continue:${input.continuedFrom}` : meta.startKey);
    // The request is the engine's start input already; only what routed it is left out.
    const { kind: _kind, workflowType: _type, workflowId: _id, idReusePolicy: _policy, flow: _flow, ...start } = input;
    const decision = decide(def, undefined, { ...start, kind: 'start', at: this.clock.now(), workflowId, runId });
    const redelivered = meta.redelivered === true;
    const claimAs = (policy: IdReusePolicy): Promise<ClaimResult> =>
      this.claim({ workflowId, runId, policy, ...(meta.msgId ? { startMsgId: meta.msgId } : {}) });
    const early =
      !redelivered && !input.continuedFrom && !this.chains.runsInline(decision)
        ? await this.chains.fold(def, decision)
        : undefined;
    // Sent before the append, whose encoding takes a while: the start waits for both, and the
    // claim is the smaller write. A continue-as-new claims once the run it continues is closed.
    const claiming = input.continuedFrom ? undefined : claimAs(input.idReusePolicy);
    // Awaited below on every path; an append that throws first must not leave it unhandled.
    claiming?.catch(() => undefined);
    // Not claimed yet: a start that closes its run at once writes its summary after the append.
    const appending = early ? this.chains.append(early, { closeBeside: false }) : undefined;
    // Awaited below on every path; a claim that throws first must not leave it unhandled.
    appending?.catch(() => undefined);
    // A refused start leaves no commit behind: this attempt's append, or a crashed earlier one's.
    const refuse = async (): Promise<void> => {
      if (!appending && !redelivered) return;
      await appending?.catch(() => undefined);
      await this.opts.store.discardRefusedStart(workflowId, runId);
    };
    let policy = input.idReusePolicy;
    if (input.continuedFrom) {
      await this.closeContinued(workflowId, input.continuedFrom);
      policy = 'allowAfterClose';
    }
    let claim = await (claiming ?? claimAs(policy));
    // The same start message again, past JetStream's duplicate window: the run it created.
    if (!claim.claimed && claim.sameStart) {
      await refuse();
      return { kind: 'started', workflowId, runId: claim.runId, created: true } as const;
    }
    // Signal-with-start: an open run takes the signal instead of a new run being started. The
    // claim decides races (one start wins the id; the others signal the winner); a run that
    // closed between claim and signal makes us claim again.
    for (let attempt = 0; input.signal && !claim.claimed && claim.runId !== runId && claim.status === 'running'; ) {
      const signalled = await this.apply(
        { kind: 'run', workflowId, runId: claim.runId, decision: { kind: 'signal', event: input.signal } },
        outsideInputKey(meta),
      );
      // Taken already: an earlier delivery signalled the run, and may have died before publishing.
      const taken = signalled.kind === 'dropped' && signalled.why === 'duplicate';
      if (taken) await this.outbox.republishSince(claim.runId, meta.foundInSince);
      if (signalled.kind === 'applied' || taken) {
        await refuse();
        return { kind: 'started', workflowId, runId: claim.runId, created: false } as const;
      }
      if (++attempt >= MAX_CONFLICT_RETRIES) {
        throw new ConflictError(`workflowId ${workflowId} kept closing and reopening during a signal-with-start`, {
          details: { workflowId },
        });
      }
      claim = await this.opts.store.claimWorkflowId(workflowId, runId, policy, meta.msgId);
      if (!claim.claimed && claim.sameStart) {
        await refuse();
        return { kind: 'started', workflowId, runId: claim.runId, created: true } as const;
      }
    }
    if (claim.claimed)
      this.rememberHolder(workflowId, { runId, gen: claim.gen, ...(meta.msgId ? { startMsgId: meta.msgId } : {}) });
    if (!claim.claimed && claim.runId !== runId) {
      await refuse();
      if (refusesExisting(policy, claim.status)) {
        throw new AlreadyStartedError(`workflowId ${workflowId} is taken by run ${claim.runId} (${claim.status})`, {
          details: { workflowId, runId: claim.runId, status: claim.status },
        });
      }
      return { kind: 'started', workflowId, runId: claim.runId, created: false } as const;
    }
    // The run is ours: what an earlier delivery of this start stored goes out again.
    const republished = await this.outbox.republishSince(runId, redelivered ? meta.foundInSince : undefined);
    const folded = early ?? (await this.chains.fold(def, decision, meta.working));
    const { stored } = await (appending ?? this.chains.append(folded));
    if (stored === 0) {
      // A crashed earlier attempt of this very start already appended it: finish its work.
      return this.finishEarlierStart(workflowId, runId, meta, republished);
    }
    // No summary is awaited: the start's is written behind like any open state's. Inputs right
    // after find the run by its workflowId's holder, which the claim just wrote (see current()).
    // A chain that closed the run writes its closing summary before the completion goes out.
    await this.chains.commit(workflowId, def, folded, stored);
    return { kind: 'started', workflowId, runId, created: true } as const;
  }

  /**
   * Branch, reset or resume (branch.ts): the source is read and its history rebuilt for the new
   * run before anything is written, so a refused request changes nothing. Then, in an order a
   * redelivery finishes from any point: a reset terminates the workflowId's open run (this input
   * is its terminate, so a redelivery does not terminate twice), the new run claims the id (a
   * branch only a fresh one), and the copied commits and the RunBranched commit are appended in
   * one ordered insert and published. A crash anywhere leaves the claim and the append to the
   * redelivery, which derives the same runId: one live run either way.
   */
  private async startFrom(req: BranchRequest, workflowId: string, meta: InputMeta) {
    const src = await readBranchSource(this.opts.store, req, async (id) => (await this.holder(id))?.runId);
    const def = this.definition(src.workflowType, src.version);
    const runId = deriveRunId(meta.startKey);
    const at = this.clock.now();
    const decisions = branchDecisions(def, src.commits, { workflowId, runId, origin: src.origin, at });
    const last = decisions.at(-1) as Decision;
    const holder = req.kind === 'branch' ? undefined : await this.holderStatus(workflowId);
    if (holder && holder.runId !== runId && holder.status === 'running') {
      if (req.kind === 'resume') {
        throw new InvalidInputError(
          `cannot resume ${workflowId}: run ${holder.runId} holds it and is open; reset it instead`,
          { details: { reason: 'invalid-input', problem: 'open-run', workflowId, runId: holder.runId } },
        );
      }
      const reason = `reset to commit ${src.origin.atSeq} of run ${src.origin.runId} as run ${runId}`;
      const ended = await this.apply(
        { kind: 'run', workflowId, runId: holder.runId, decision: { kind: 'terminate', reason } },
        outsideInputKey(meta),
      );
      // Closed already, maybe by an earlier delivery of this reset that died before its publish
      // (loading the run from its history wrote the closing summary the claim reads): publish it.
      if (ended.kind === 'dropped') await this.outbox.republishSince(holder.runId, meta.foundInSince);
      this.opts.log.info('terminated a run for its reset', { workflowId, runId: holder.runId, resetAs: runId });
    }
    const policy = req.kind === 'branch' ? 'rejectDuplicate' : 'allowAfterClose';
    const claim = await this.claim({ workflowId, runId, policy, ...(meta.msgId ? { startMsgId: meta.msgId } : {}) });
    // The same request sent again past JetStream's duplicate window: the run it created.
    if (!claim.claimed && claim.sameStart) {
      return { kind: 'started', workflowId, runId: claim.runId, created: true } as const;
    }
    if (!claim.claimed) {
      throw new AlreadyStartedError(`workflowId ${workflowId} is taken by run ${claim.runId} (${claim.status})`, {
        details: { workflowId, runId: claim.runId, status: claim.status },
      });
    }
    this.rememberHolder(workflowId, { runId, gen: claim.gen, ...(meta.msgId ? { startMsgId: meta.msgId } : {}) });
    const republished = await this.outbox.republishSince(runId, meta.redelivered ? meta.foundInSince : undefined);
    const live = await this.chains.fold(def, last, meta.working);
    const copies = decisions.slice(0, -1);
    const folded: FoldedChain = {
      chain: {
        ...live.chain,
        decisions: [...copies, ...live.chain.decisions],
        elided: [...copies.map(() => new Set<number>()), ...live.chain.elided],
      },
      commits: [...copies.map((d) => toCommit(d.state, d.events, [])), ...live.commits],
    };
    let { stored } = await this.chains.append(folded);
    if (stored === 0) {
      // An earlier delivery appended the chain, or a prefix of it (an ordered insert is not
      // atomic): the rest goes in now, then what the store holds goes out.
      const have = await this.opts.store.lastSeq(runId);
      if (have >= folded.commits.length) return this.finishEarlierStart(workflowId, runId, meta, republished);
      folded.chain.decisions = folded.chain.decisions.slice(have);
      folded.chain.elided = folded.chain.elided.slice(have);
      folded.commits = folded.commits.slice(have);
      ({ stored } = await this.chains.append(folded));
      if (stored === 0)
        throw new ConflictError(`run ${runId} is being appended by another router`, { details: { runId } });
    }
    this.opts.log.info("started a run from another run's history", {
      workflowId,
      runId,
      origin: src.origin,
      copied: copies.length,
    });
    await this.chains.commit(workflowId, def, folded, stored);
    return { kind: 'started', workflowId, runId, created: true } as const;
  }

  /**
   * A start whose commits an earlier delivery already appended: its summary, then what the run
   * stored since (its start commit at least) going out again, unless `republished` did already
   * (an earlier attempt still under way, past its ack wait, may have appended since).
   */
  private async finishEarlierStart(workflowId: string, runId: string, meta: InputMeta, republished: number) {
    this.evict(runId);
    const run = await this.load(runId);
    if (run) await this.projections.saveNow(run.state, meta.msgId ? { startMsgId: meta.msgId } : undefined);
    if (republished === 0) await this.outbox.republishSince(runId, meta.foundInSince ?? 0);
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
      const { workflowType } = run.state;
      const duplicate = inputKey !== undefined && run.state.recentInputs?.includes(inputKey) === true;
      if (duplicate || run.state.status !== 'running') {
        // A duplicate may find the run closed by itself or by inputs after it: it is not late.
        const why = duplicate ? 'duplicate' : 'closed';
        return { kind: 'dropped', workflowId: input.workflowId, runId: run.state.runId, why, workflowType };
      }
      if (input.byParent !== undefined && run.state.parent?.runId !== input.byParent) {
        // A parent's close policy reached a run that is not its child (the id was reused): leave it be.
        return { kind: 'dropped', workflowId: input.workflowId, runId: run.state.runId, why: 'stale', workflowType };
      }
      const at = this.clock.now();
      const engineInput = { ...input.decision, at, ...(inputKey === undefined ? {} : { inputId: inputKey }) };
      const decision = decide(run.def, run.state, engineInput as DecisionInput);
      if (decision.events.length === 0) {
        return { kind: 'dropped', workflowId: input.workflowId, runId: run.state.runId, why: 'closed', workflowType };
      }
      const folded = await this.chains.fold(run.def, decision, meta.working);
      const { stored } = await this.chains.append(folded);
      if (stored === 0) {
        this.races++;
        const seq = folded.commits[0]?.seq;
        this.opts.log.info('lost an append race; reloading', { runId: run.state.runId, seq, attempt });
        this.evict(run.state.runId);
        continue;
      }
      await this.chains.commit(input.workflowId, run.def, folded, stored);
      const ignored = (decision.events[0] as { ignored?: string } | undefined)?.ignored;
      const gaveUp = activitiesGivenUp(run.state, decision.events, decision.state);
      return {
        kind: 'applied',
        workflowId: input.workflowId,
        runId: run.state.runId,
        seq: (folded.commits[stored - 1] as StoredCommit).seq,
        workflowType,
        ...(ignored ? { ignored } : {}),
        ...(gaveUp.length > 0 ? { gaveUp } : {}),
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
}
