/**
 * What follows a stored decision: publishing its commands and marking the commit published, and
 * writing the run summary that describe and list read (batched across runs). A summary whose
 * write failed is owed until the outbox sweep pays it; a commit left unpublished is republished
 * by the sweep. The RunDecider delegates all of this here.
 */
import type { WorkflowDefinition } from '../../shared/engine/index.js';
import { replayCommits } from '../../shared/engine/index.js';
import type { RunState } from '../../shared/engine/types.js';
import type { Logger } from '../../shared/log.js';
import type { Subjects } from '../../shared/names.js';
import type { Store, StoredCommit, SummaryWrite } from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
import { latestPerRun, runStartedOf } from './decisions.js';
import type { OutboundMessage } from './outbox.js';
import { commitMessages } from './outbox.js';

/** Options of RunProjections. */
export interface RunProjectionsOptions {
  store: Store;
  subjects: Subjects;
  publish: (m: OutboundMessage) => Promise<void>;
  log: Logger;
  /** The definition a run's history replays with; throws when the version is not registered. */
  definition: (type: string, version: number) => WorkflowDefinition;
  /** A run's state from the decider's hot cache, if it is there. */
  cached: (runId: string) => RunState | undefined;
  /** Loads a run brought up to its history (the decider's `load` with `fresh`). */
  loadFresh: (runId: string) => Promise<{ state: RunState } | undefined>;
  /**
   * How long an open run's summary write waits for the run's next state to replace it. Runs that
   * close within this time never write their intermediate summaries; describe and query read
   * history, so only list rows of open runs lag by up to this much. 0 writes every state.
   * @default 1000
   */
  summaryDelayMs?: number;
}

/** Default of RunProjectionsOptions.summaryDelayMs. */
export const SUMMARY_DELAY_MS = 1000;

/** Publishes stored commits and writes run summaries; one instance per RunDecider. */
export class RunProjections {
  /** Summaries whose writes failed, newest state per run, until payOwedSummaries writes them. */
  private readonly owed = new Map<string, RunState>();
  private readonly summaries: Batcher<RunState, undefined>;
  private readonly marks: Batcher<{ runId: string; seq: number }, undefined>;
  /** Open runs' newest states waiting to be written, with the timer that writes them. */
  private readonly delayed = new Map<string, { state: RunState; timer: NodeJS.Timeout }>();
  private readonly summaryDelayMs: number;

  constructor(private readonly opts: RunProjectionsOptions) {
    this.summaryDelayMs = opts.summaryDelayMs ?? SUMMARY_DELAY_MS;
    this.summaries = new Batcher(
      async (states) => {
        await this.healSummaries(await opts.store.saveRuns(latestPerRun(states)));
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

  /** Brings summaries a racing writer may have moved backwards up to their history again. */
  async healSummaries(write: SummaryWrite): Promise<void> {
    for (const runId of write.maybeBehind) {
      await this.opts.store.repairRun(runId, (from, tail) => {
        const started = from ?? runStartedOf(tail);
        return replayCommits(this.opts.definition(started.workflowType, started.version), tail, from ? { from } : {});
      });
    }
  }

  /**
   * Publishes a stored commit and updates the projections. A closed run's summary comes before
   * its completion is published, so whoever hears of the completion finds the run closed in
   * describe and list, and its workflowId free to claim (claims read the holder's summary).
   */
  async project(commit: StoredCommit, state: RunState): Promise<void> {
    if (state.status === 'running') {
      await this.publishCommit(commit, state);
      // Search attributes are what list filters on: those changes are written at once.
      const now = this.summaryDelayMs === 0 || commit.events.some((e) => e.type === 'SearchAttributesUpserted');
      this.writeSummaryLater(state, now ? 0 : this.summaryDelayMs);
      return;
    }
    this.cancelDelayed(state.runId);
    await this.summaries.add(state);
    await this.publishCommit(commit, state);
  }

  /** Writes an open run's summary after `delayMs`, or not at all if a newer state replaces it first. */
  private writeSummaryLater(state: RunState, delayMs: number): void {
    const waiting = this.delayed.get(state.runId);
    if (waiting && delayMs > 0) {
      waiting.state = state; // the timer already set writes the newest state
      return;
    }
    this.cancelDelayed(state.runId);
    if (delayMs === 0) {
      this.writeSummary(state);
      return;
    }
    const timer = setTimeout(() => this.flushDelayed(state.runId), delayMs);
    timer.unref();
    this.delayed.set(state.runId, { state, timer });
  }

  private cancelDelayed(runId: string): void {
    const waiting = this.delayed.get(runId);
    if (!waiting) return;
    clearTimeout(waiting.timer);
    this.delayed.delete(runId);
  }

  private flushDelayed(runId: string): void {
    const waiting = this.delayed.get(runId);
    if (!waiting) return;
    this.delayed.delete(runId);
    this.writeSummary(waiting.state);
  }

  private writeSummary(state: RunState): void {
    void this.summaries.add(state).catch((err: unknown) => {
      this.owe(state);
      this.opts.log.warn('run summary write failed; the next outbox sweep writes it again', {
        runId: state.runId,
        workflowId: state.workflowId,
        err,
      });
    });
  }

  /** Remembers a summary whose write failed, for payOwedSummaries to write again. */
  owe(state: RunState): void {
    const prev = this.owed.get(state.runId);
    if (!prev || prev.lastSeq < state.lastSeq) this.owed.set(state.runId, state);
  }

  /**
   * Writes again the summaries whose writes failed (a store away for a moment), so a run that
   * waits long for its next input does not show a stale state in describe and list meanwhile.
   */
  async payOwedSummaries(): Promise<void> {
    if (this.owed.size === 0) return;
    const states = [...this.owed.values()];
    await this.healSummaries(await this.opts.store.saveRuns(states));
    for (const state of states) if (this.owed.get(state.runId) === state) this.owed.delete(state.runId);
  }

  /** Writes the delayed summaries now, then waits for every pending summary write and publish mark. */
  async idle(): Promise<void> {
    for (const runId of [...this.delayed.keys()]) this.flushDelayed(runId);
    await Promise.all([this.summaries.idle(), this.marks.idle()]);
  }

  /**
   * The outbox sweep's repair of a commit left unpublished: a crash, or a store failure, between
   * its append and its publish. The summary may be just as far behind (the write failed, or the
   * append's reply was lost and the redelivery found the run already past it), so it is written
   * again before the commands go out, in the order a live decision keeps: summary, publish.
   */
  async republish(commit: StoredCommit): Promise<boolean> {
    // Most commits a crash leaves are followed by later ones whose summary is written: then only
    // the publish is missing (often only its mark), and one summary read is all it takes.
    const known = this.opts.cached(commit.runId) ?? (await this.opts.store.getRun(commit.runId))?.state;
    if (known && known.lastSeq > commit.seq) {
      await this.publishCommit(commit, known, { awaitMark: true });
      return true;
    }
    const run = await this.opts.loadFresh(commit.runId);
    if (!run) return false;
    // Only the latest commit's summary can be missing for good: a later commit wrote its own.
    if (commit.seq === run.state.lastSeq) await this.healSummaries(await this.opts.store.saveRun(run.state));
    await this.publishCommit(commit, run.state, { awaitMark: true });
    return true;
  }

  /** Publishes a stored commit's commands (pipelined), then marks it published. */
  async publishCommit(
    commit: StoredCommit,
    state: Pick<RunState, 'workflowType'>,
    opts: { awaitMark?: boolean } = {},
  ): Promise<void> {
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
    const marked = this.marks.add({ runId: commit.runId, seq: commit.seq }).catch((err: unknown) => {
      this.opts.log.warn('marking a commit published failed; the outbox sweep will republish it', {
        runId: commit.runId,
        seq: commit.seq,
        err,
      });
    });
    // The sweep waits for its marks, so its next round does not read the same commits again.
    if (opts.awaitMark) await marked;
  }
}
