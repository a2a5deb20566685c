/**
 * The write side of a decision, shared by starts, inputs and resumed inline chains: fold the
 * decision's inline steps into a chain (inline-steps.ts), append the chain (one commit goes in the
 * batched append shared across runs, a longer chain in one ordered insert), then publish each
 * stored commit and record its summary, in the order readers rely on. A failure after the append
 * fails the decision with UnavailableError, so its input is redelivered, not acked (outbox.ts).
 */
import type { WorkflowDefinition } from '../../shared/engine/index.js';
import type { Decision, RunState } from '../../shared/engine/types.js';
import { type ConflictError, UnavailableError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { ChainAppend, Store, StoredCommit } from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
import type { KeyedQueue } from '../common/keyed-queue.js';
import { toCommit } from './decisions.js';
import { type InlineChain, type InlineSteps, inlineStepsOf, pendingSteps, stillPendingSteps } from './inline-steps.js';
import type { Outbox } from './outbox.js';
import type { ClosingSummary, RunProjections } from './projections.js';

/** What a ChainWriter needs of its router. */
export interface ChainWriterOptions {
  store: Store;
  outbox: Outbox;
  projections: RunProjections;
  log: Logger;
  /** The decider's per-workflowId queue: a resumed chain waits behind the id's other inputs. */
  queue: KeyedQueue;
  /** Runs the inline steps of decisions; absent = the router has none. */
  inline?: InlineSteps | undefined;
  /** The decider's run cache. */
  runs: {
    load(runId: string): Promise<{ state: RunState } | undefined>;
    remember(run: { def: WorkflowDefinition; state: RunState }): void;
    evict(runId: string): void;
  };
}

/** A chain folded and turned into commits, ready to append. */
export interface FoldedChain {
  chain: InlineChain;
  commits: StoredCommit[];
  /** The closing summary written beside the chain's append, once the whole chain is stored. */
  closing?: ClosingSummary;
}

/** Folds, appends and publishes chains of decisions; one per RunDecider. */
export class ChainWriter {
  private readonly appends: Batcher<StoredCommit, ConflictError | undefined>;

  constructor(private readonly opts: ChainWriterOptions) {
    this.appends = new Batcher((cs) => opts.store.appendCommits(cs), {
      maxBatch: 512,
      concurrency: 2,
      gatherTurn: true,
    });
  }

  /** The chain of decisions `first` opens: itself, then those its inline steps lead to (inline-steps.ts). */
  async fold(def: WorkflowDefinition, first: Decision, keepAlive?: () => void): Promise<FoldedChain> {
    const inline = this.opts.inline;
    const steps = inline ? inlineStepsOf(first.commands) : [];
    const chain: InlineChain =
      !inline || steps.length === 0
        ? { decisions: [first], elided: [new Set()], cut: false }
        : await inline.fold(def, first.state, steps, { first, ...(keepAlive ? { keepAlive } : {}) });
    return { chain, commits: commitsOf(chain) };
  }

  /** Whether a decision schedules inline steps (which run when its chain is folded). */
  runsInline(d: Decision): boolean {
    return this.opts.inline !== undefined && inlineStepsOf(d.commands).length > 0;
  }

  /**
   * One commit goes in the batched append shared across runs; a chain in one ordered insert. A
   * chain that closes the run has its closing summary written side by side (RunProjections.
   * recordClose), unless `closeBeside` is false (a start not claimed yet, which may be refused):
   * kept for finish() when the whole chain is stored, taken back when the append lost. When the
   * append fails outright, the summary is left to readers, who trust it only once its commit is
   * stored (a redelivery of the input decides it again).
   */
  async append(folded: FoldedChain, opts: { closeBeside?: boolean } = {}): Promise<ChainAppend> {
    const { commits } = folded;
    const last = folded.chain.decisions.at(-1)?.state;
    const closing =
      opts.closeBeside !== false && last !== undefined && last.status !== 'running'
        ? this.opts.projections.recordClose(last)
        : undefined;
    const appended = await this.appendCommits(commits);
    if (closing && appended.stored === commits.length) folded.closing = closing;
    else if (closing) {
      await this.opts.projections.retractClose(closing).catch((err: unknown) => {
        // Readers never trust it (its commit does not close the run); the run's next write replaces it.
        this.opts.log.warn('taking back a closing summary failed', { runId: closing.runId, err });
      });
    }
    return appended;
  }

  private async appendCommits(commits: StoredCommit[]): Promise<ChainAppend> {
    if (commits.length !== 1) return this.opts.store.appendChain(commits);
    const conflict = await this.appends.add(commits[0] as StoredCommit);
    return conflict ? { stored: 0, conflict } : { stored: 1 };
  }

  /**
   * After `stored` commits of a chain landed: remembers the run's state, publishes them, and
   * resumes a chain cut at its cap. Returns the state after the last stored commit.
   */
  async commit(workflowId: string, def: WorkflowDefinition, folded: FoldedChain, stored: number): Promise<RunState> {
    const { chain, commits } = folded;
    // First, before anything can fail: a redelivery finds these commits stored and decides nothing.
    writeWorkflowLogs(this.opts.log, chain.decisions.slice(0, stored));
    const state = (chain.decisions[stored - 1] as Decision).state;
    this.opts.runs.remember({ def, state });
    // Published (and the summary recorded) before the input is acked; a failure redelivers the
    // input, whose redelivery finds itself in the run and republishes (see outbox.ts). A chain
    // cut short by a race keeps what it stored: its pending inline steps run again when their
    // startToClose timer fires.
    await this.publish(chain, commits.slice(0, stored), folded.closing);
    if (chain.cut && stored === commits.length) this.resume(workflowId, def, state, chain);
    return state;
  }

  /** Waits for the appends in flight. */
  idle(): Promise<void> {
    return this.appends.idle();
  }

  /**
   * Publishes a chain's stored commits in seq order, leaving out what the chain elided; the last
   * goes through finish(), which records its summary. A failure redelivers the input.
   */
  private async publish(chain: InlineChain, commits: StoredCommit[], closing?: ClosingSummary): Promise<void> {
    for (const [i, commit] of commits.entries()) {
      this.opts.outbox.elide(commit, chain.elided[i] ?? new Set());
      const state = (chain.decisions[i] as Decision).state;
      if (i < commits.length - 1) {
        await this.orRedeliver(commit, state, () => this.opts.outbox.publishCommit(commit, state.workflowType));
      } else {
        await this.finish(commit, state, closing);
      }
    }
  }

  /**
   * A chain cut at its cap left inline steps pending (or still running): a chain of their own
   * runs them (or takes their outcomes), queued behind the workflowId's other inputs. If this
   * router dies first, their startToClose timers run them again.
   */
  private resume(workflowId: string, def: WorkflowDefinition, from: RunState, cut: InlineChain): void {
    const inline = this.opts.inline;
    if (!inline) return;
    void this.opts.queue
      .run(workflowId, async () => {
        const run = await this.opts.runs.load(from.runId);
        if (run?.state.status !== 'running') return;
        const work =
          cut.inFlight ?? (cut.deferred ? stillPendingSteps(run.state, cut.deferred) : pendingSteps(run.state));
        const chain = await inline.fold(def, run.state, work, { stored: true });
        if (chain.decisions.length === 0) return;
        const folded: FoldedChain = { chain, commits: commitsOf(chain) };
        const { stored } = await this.append(folded);
        if (stored === 0) return this.opts.runs.evict(from.runId);
        await this.commit(workflowId, def, folded, stored);
      })
      .catch((err: unknown) => {
        // The steps' startToClose timers run them again.
        this.opts.log.warn('resuming inline steps failed', { runId: from.runId, workflowId, err });
      });
  }

  /**
   * What follows a stored decision, in the order readers rely on: an open run's commands go out,
   * then its summary is recorded (written behind); a closed run's summary is written first (or
   * was, beside the append: `closing`), so whoever hears of its completion finds it closed in
   * describe and list, and its id free.
   */
  private finish(commit: StoredCommit, state: RunState, closing?: ClosingSummary): Promise<void> {
    const { outbox, projections } = this.opts;
    return this.orRedeliver(commit, state, async () => {
      if (state.status === 'running') {
        await outbox.publishCommit(commit, state.workflowType);
        await projections.record(commit, state);
        return;
      }
      await (closing ? closing.written : projections.record(commit, state));
      await outbox.publishCommit(commit, state.workflowType);
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
      this.opts.projections.owe(state);
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

/**
 * Writes what workflow code logged (workflowLog) in decisions whose commits just landed: once,
 * since a replay or a redelivery of a stored decision collects none. `source: 'workflow'` and
 * the run's ids come last, so a line cannot pass for the router's own or another run's.
 */
export function writeWorkflowLogs(log: Logger, decisions: readonly Decision[]): void {
  for (const d of decisions) {
    for (const { level, msg, fields, runId, workflowId, workflowType, seq } of d.logs ?? []) {
      log[level](msg, { ...fields, source: 'workflow', runId, workflowId, workflowType, seq });
    }
  }
}

function commitsOf(chain: InlineChain): StoredCommit[] {
  return chain.decisions.map((d) => toCommit(d.state, d.events, d.commands));
}
