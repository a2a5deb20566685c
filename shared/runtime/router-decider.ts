/**
 * One decision step for the router: load the run (hot cache, else snapshot + history tail),
 * fold one input through the pure engine, append the commit (batched across runs), publish its
 * commands, then update projections. A lost append race (ConflictError) reloads and decides again.
 */
import { createHash } from 'node:crypto';
import type { WorkflowDefinition, WorkflowRegistry } from '../engine/index.js';
import { decide, replayCommits } from '../engine/index.js';
import type { DecisionInput, RunState } from '../engine/types.js';
import { AlreadyStartedError, ConflictError, InvalidInputError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Subjects } from '../names.js';
import type { IdReusePolicy, Store, StoredCommit } from '../store/types.js';
import { Batcher } from './batcher.js';
import { KeyedQueue } from './keyed-queue.js';
import type { OutboundMessage } from './outbox.js';
import { commitMessages } from './outbox.js';
import type { RouterInput, StartInput } from './router-inputs.js';

/** How many times a decision is retried after losing an append race. */
const MAX_CONFLICT_RETRIES = 8;

/** What a processed input led to, for replies and notifications. */
export type DecideOutcome =
  | { kind: 'started'; workflowId: string; runId: string; created: boolean }
  | { kind: 'applied'; workflowId: string; runId: string; seq: number; ignored?: string }
  | { kind: 'dropped'; workflowId: string; runId?: string; why: 'closed' | 'stale' };

/** Options of a RunDecider. */
export interface RunDeciderOptions {
  store: Store;
  registry: WorkflowRegistry;
  subjects: Subjects;
  publish: (m: OutboundMessage) => Promise<void>;
  log: Logger;
  /** Runs kept hot in memory. @default 10_000 */
  cacheSize?: number;
  /** Clock for input times; injected so tests can control it. @default Date.now */
  now?: () => number;
}

interface HotRun {
  def: WorkflowDefinition;
  state: RunState;
}

/** A run id derived from the start message's identity, so a redelivered start reuses it. */
export function deriveRunId(startKey: string): string {
  const h = createHash('sha256').update(startKey).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Folds inputs into runs; one instance per router. */
export class RunDecider {
  private readonly cache = new Map<string, HotRun>();
  private readonly queue = new KeyedQueue();
  private readonly appends: Batcher<StoredCommit, ConflictError | undefined>;
  private readonly summaries: Batcher<RunState, undefined>;
  private readonly marks: Batcher<{ runId: string; seq: number }, undefined>;
  private readonly cacheSize: number;
  private readonly now: () => number;

  constructor(private readonly opts: RunDeciderOptions) {
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.appends = new Batcher((cs) => opts.store.appendCommits(cs), { maxBatch: 512, concurrency: 2 });
    this.summaries = new Batcher(
      async (states) => {
        await opts.store.saveRuns(latestPerRun(states));
        return states.map(() => undefined);
      },
      { maxBatch: 512 },
    );
    this.marks = new Batcher(
      async (items) => {
        await opts.store.markPublishedMany(items);
        return items.map(() => undefined);
      },
      { maxBatch: 512 },
    );
  }

  /** Processes one input, serialized with every other input of the same workflowId. */
  process(input: RouterInput, meta: { startKey: string; msgId?: string }): Promise<DecideOutcome> {
    const key = input.kind === 'start' ? (input.workflowId ?? deriveRunId(meta.startKey)) : input.workflowId;
    return this.queue.run(key, () => (input.kind === 'start' ? this.start(input, key, meta) : this.apply(input)));
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
      if (!hot) await this.opts.store.saveRun(rebuilt);
      state = rebuilt;
    }
    if (!state) return undefined;
    const run = { def, state };
    this.remember(run);
    return run;
  }

  /** Waits for every queued decision and pending projection write. */
  async drain(): Promise<void> {
    await this.queue.drain();
    await Promise.all([this.appends.idle(), this.summaries.idle(), this.marks.idle()]);
  }

  /** Forgets a cached run (after a conflict, or on demand). */
  evict(runId: string): void {
    this.cache.delete(runId);
  }

  private definition(type: string, version: number): WorkflowDefinition {
    const def = this.opts.registry.get(type, version);
    if (!def) {
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

  private async start(input: StartInput, workflowId: string, meta: { startKey: string; msgId?: string }) {
    const def = this.opts.registry.latest(input.workflowType);
    if (!def) {
      throw new InvalidInputError(`unknown workflow type ${JSON.stringify(input.workflowType)}`, {
        details: { reason: 'unknown-type', workflowType: input.workflowType },
      });
    }
    const runId = deriveRunId(meta.startKey);
    const claim = await this.opts.store.claimWorkflowId(workflowId, runId, input.idReusePolicy);
    if (!claim.claimed && claim.runId !== runId) {
      if (refusesExisting(input.idReusePolicy, claim.status)) {
        throw new AlreadyStartedError(`workflowId ${workflowId} is taken by run ${claim.runId} (${claim.status})`, {
          details: { workflowId, runId: claim.runId, status: claim.status },
        });
      }
      return { kind: 'started', workflowId, runId: claim.runId, created: false } as const;
    }
    const decisionInput: DecisionInput = { kind: 'start', at: this.now(), workflowId, runId };
    if (input.input !== undefined) decisionInput.input = input.input;
    const decision = decide(def, undefined, decisionInput);
    const commit = toCommit(decision.state, decision.events, decision.commands);
    const conflict = await this.appends.add(commit);
    if (conflict) {
      // A crashed earlier attempt of this very start already appended it: finish its work.
      this.evict(runId);
      const run = await this.load(runId);
      if (run) await this.opts.store.saveRun(run.state, meta.msgId ? { startMsgId: meta.msgId } : undefined);
      return { kind: 'started', workflowId, runId, created: true } as const;
    }
    this.remember({ def, state: decision.state });
    // The start summary is written before we answer, so signals right after can find the run.
    await this.opts.store.saveRun(decision.state, meta.msgId ? { startMsgId: meta.msgId } : undefined);
    await this.publishCommit(commit, decision.state);
    return { kind: 'started', workflowId, runId, created: true } as const;
  }

  private async apply(input: Exclude<RouterInput, StartInput>): Promise<DecideOutcome> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const run = await this.runFor(input);
      if (run.state.status !== 'running') {
        return { kind: 'dropped', workflowId: input.workflowId, runId: run.state.runId, why: 'closed' };
      }
      const decision = decide(run.def, run.state, toDecisionInput(input, this.now()));
      if (decision.events.length === 0) {
        return { kind: 'dropped', workflowId: input.workflowId, runId: run.state.runId, why: 'closed' };
      }
      const commit = toCommit(decision.state, decision.events, decision.commands);
      const conflict = await this.appends.add(commit);
      if (conflict) {
        this.opts.log.info('lost an append race; reloading', { runId: run.state.runId, seq: commit.seq, attempt });
        this.evict(run.state.runId);
        continue;
      }
      this.remember({ def: run.def, state: decision.state });
      await this.publishCommit(commit, decision.state);
      if (decision.state.status === 'running') {
        void this.summaries.add(decision.state).catch((err: unknown) => {
          this.opts.log.warn('run summary write failed; history stays the truth', { runId: run.state.runId, err });
        });
      } else {
        // A closed run's summary is written before the input is acked, so list/describe show it closed.
        await this.summaries.add(decision.state);
        await this.opts.store.releaseWorkflowId(decision.state.workflowId, decision.state.runId, decision.state.status);
      }
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

  private async runFor(input: Exclude<RouterInput, StartInput>): Promise<HotRun> {
    if (input.kind === 'result' || input.kind === 'activityUpdate' || input.kind === 'fired') {
      const run = await this.load(input.runId);
      if (!run) {
        throw new NotFoundError(`no run ${input.runId} (workflowId ${input.workflowId})`, {
          details: { reason: 'unknown-run', runId: input.runId, workflowId: input.workflowId },
        });
      }
      return run;
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

  /** Publishes a stored commit's commands (pipelined), then marks it published. */
  async publishCommit(commit: StoredCommit, state: Pick<RunState, 'workflowType'>): Promise<void> {
    const messages = commitMessages(
      this.opts.subjects,
      {
        runId: commit.runId,
        workflowId: commit.workflowId,
        workflowType: state.workflowType,
        seq: commit.seq,
        at: commit.at,
      },
      commit.commands,
    );
    await Promise.all(messages.map((m) => this.opts.publish(m)));
    void this.marks.add({ runId: commit.runId, seq: commit.seq }).catch((err: unknown) => {
      this.opts.log.warn('marking a commit published failed; the outbox sweep will republish it', {
        runId: commit.runId,
        seq: commit.seq,
        err,
      });
    });
  }
}

function refusesExisting(policy: IdReusePolicy, status: RunState['status']): boolean {
  if (policy === 'rejectDuplicate') return true;
  return policy === 'rejectWhileOpen' && status === 'running';
}

function toCommit(state: RunState, events: StoredCommit['events'], commands: StoredCommit['commands']): StoredCommit {
  return {
    runId: state.runId,
    workflowId: state.workflowId,
    seq: state.lastSeq,
    at: state.updatedAt,
    events,
    commands,
    published: false,
  };
}

function latestPerRun(states: RunState[]): RunState[] {
  const by = new Map<string, RunState>();
  for (const s of states) {
    const prev = by.get(s.runId);
    if (!prev || prev.lastSeq < s.lastSeq) by.set(s.runId, s);
  }
  return [...by.values()];
}

function runStartedOf(tail: StoredCommit[]): { workflowType: string; version: number } {
  const first = tail[0]?.events[0];
  if (first?.type !== 'RunStarted') {
    throw new NotFoundError(`run ${tail[0]?.runId} has history but no summary and no RunStarted at seq 1`);
  }
  return { workflowType: first.workflowType, version: first.version };
}

function toDecisionInput(input: Exclude<RouterInput, StartInput>, at: number): DecisionInput {
  switch (input.kind) {
    case 'signal':
      return { kind: 'signal', at, event: input.event };
    case 'cancel':
      return input.reason === undefined ? { kind: 'cancel', at } : { kind: 'cancel', at, reason: input.reason };
    case 'fired':
      return { kind: 'timerFired', at, timerSeq: input.timerSeq };
    case 'activityUpdate':
      return input.update === 'started'
        ? { kind: 'activityStarted', at, activitySeq: input.activitySeq, attempt: input.attempt }
        : input.details === undefined
          ? { kind: 'activityHeartbeat', at, activitySeq: input.activitySeq, attempt: input.attempt }
          : {
              kind: 'activityHeartbeat',
              at,
              activitySeq: input.activitySeq,
              attempt: input.attempt,
              details: input.details,
            };
    case 'result': {
      if (input.ok) {
        return {
          kind: 'activityCompleted',
          at,
          activitySeq: input.activitySeq,
          output: input.output,
          attempt: input.attempt,
        };
      }
      const failed: DecisionInput = {
        kind: 'activityFailed',
        at,
        activitySeq: input.activitySeq,
        error: input.error,
        attempt: input.attempt,
      };
      if (input.retryAfterMs !== undefined) failed.retryAfterMs = input.retryAfterMs;
      if (input.heartbeat !== undefined) failed.heartbeat = input.heartbeat;
      return failed;
    }
  }
}
