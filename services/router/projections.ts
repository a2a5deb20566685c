/**
 * The write-behind projection of runs: the run summary that describe, list and workflowId claims
 * read, written after the commit (batched across runs; an open run's write waits a little for
 * its next state). A summary whose write failed is owed until the router's upkeep pays it.
 * Publishing the commit's commands is the outbox's (outbox.ts).
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowDefinition } from '../../shared/engine/index.js';
import { replayCommits } from '../../shared/engine/index.js';
import type { RunState } from '../../shared/engine/types.js';
import type { Logger } from '../../shared/log.js';
import type { Store, StoredCommit, SummaryWrite } from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
import { latestPerRun, runStartedOf } from './decisions.js';
import { isWaiting } from './run-cache.js';

/** Options of RunProjections. */
export interface RunProjectionsOptions {
  store: Store;
  log: Logger;
  /** The definition a run's history replays with; throws when the version is not registered. */
  definition: (type: string, version: number) => WorkflowDefinition;
  /**
   * How long an open run's summary write waits for the run's next state to replace it. Runs that
   * close within this time never write their intermediate summaries; a busy run (one that took a
   * new state meanwhile, or waits for an activity) waits again, up to 4 more times. Describe and
   * query read history, so only list rows of open runs lag: by up to this much, 5 times this much
   * for a busy run. 0 writes every state.
   * @default 1000
   */
  summaryDelayMs?: number;
}

/** Default of RunProjectionsOptions.summaryDelayMs. */
const SUMMARY_DELAY_MS = 1000;

/**
 * How many more delays an open run's summary write waits while the run is busy (it took a new
 * state in the delay, or waits for an activity): such a run is likely to move on soon, and one
 * that closes before its open summary is written costs one insert, where a written one costs an
 * update by `_id` when it closes (on FerretDB a read and an update, one run at a time). Without
 * it, runs lasting about one delay (noop3 at concurrency 200) wrote open summaries, which slowed
 * them past the delay: a cliff.
 */
const BUSY_RUN_DEFERRALS = 4;

/** A summary write: the state, and the token of a close written beside its commit (recordClose). */
interface SummaryItem {
  state: RunState;
  closeToken?: string;
}

/** A closing summary on its way beside its commit's append (see recordClose). */
export interface ClosingSummary {
  runId: string;
  token: string;
  /** Settles when the summary is written; rejects when its write failed. */
  written: Promise<void>;
}

/** Writes run summaries; one instance per RunDecider. */
export class RunProjections {
  /** Summaries whose writes failed, newest state per run, until payOwedSummaries writes them. */
  private readonly owed = new Map<string, RunState>();
  private readonly summaries: Batcher<SummaryItem, undefined>;
  /**
   * Open runs' newest states waiting to be written, with the timer that writes them, whether a
   * newer state came since it was set (`moved`), and how often it was set again for that.
   */
  private readonly delayed = new Map<
    string,
    { state: RunState; timer: NodeJS.Timeout; moved: boolean; deferrals: number }
  >();
  private readonly summaryDelayMs: number;
  /** Summary repairs in flight, one per run; `again` asks for one more after it. */
  private readonly repairs = new Map<string, { done: Promise<void>; again: boolean }>();

  constructor(private readonly opts: RunProjectionsOptions) {
    this.summaryDelayMs = opts.summaryDelayMs ?? SUMMARY_DELAY_MS;
    this.summaries = new Batcher(
      async (items) => {
        // A closing state is its run's newest: its token goes with the state that is written.
        const tokens = new Map<string, string>();
        for (const i of items) if (i.closeToken !== undefined) tokens.set(i.state.runId, i.closeToken);
        const states = latestPerRun(items.map((i) => i.state));
        this.healSummaries(await opts.store.saveRuns(states, tokens.size > 0 ? tokens : undefined));
        return items.map(() => undefined);
      },
      { maxBatch: 512 },
    );
  }

  /**
   * Brings summaries a racing writer may have moved backwards up to their history again, off the
   * write's path: a repair rereads the run's history (long for a busy run), and awaiting it would
   * hold the one summary writer and stall every other run's completion behind it. At most one
   * repair per run is in flight; asks meanwhile coalesce into one more after it.
   */
  healSummaries(write: SummaryWrite): void {
    for (const runId of write.maybeBehind) this.repairLater(runId);
  }

  private repairLater(runId: string): void {
    const running = this.repairs.get(runId);
    if (running) {
      running.again = true;
      return;
    }
    const entry: { done: Promise<void>; again: boolean } = { done: Promise.resolve(), again: false };
    this.repairs.set(runId, entry);
    entry.done = (async () => {
      try {
        do {
          entry.again = false;
          await this.repair(runId);
        } while (entry.again);
      } catch (err) {
        // The next write of this run, or the next load, repairs it again.
        this.opts.log.warn('run summary repair failed', { runId, err });
      } finally {
        this.repairs.delete(runId);
      }
    })();
  }

  private async repair(runId: string): Promise<void> {
    await this.opts.store.repairRun(runId, (from, tail) => {
      const started = from ?? runStartedOf(tail);
      return replayCommits(this.opts.definition(started.workflowType, started.version), tail, from ? { from } : {});
    });
  }

  /**
   * Records a stored decision's new state: an open run's summary is written after the delay (at
   * once, not awaited, when search attributes were set or changed, as list filters on them); a
   * closed run's is written now and awaited, so whoever hears of its completion finds the run
   * closed in describe and list, and its workflowId free to claim (claims read the holder's
   * summary).
   */
  async record(commit: StoredCommit, state: RunState): Promise<void> {
    if (state.status === 'running') {
      const now = this.summaryDelayMs === 0 || commit.events.some(setsSearchAttributes);
      this.writeSummaryLater(state, now ? 0 : this.summaryDelayMs);
      return;
    }
    this.cancelDelayed(state.runId);
    await this.summaries.add({ state });
  }

  /**
   * Starts writing a closing state's summary side by side with the append of its commit, rather
   * than after it: one round trip less before the completion goes out. Written with a token, it
   * stands only once the commit is stored (Store.getRun); if the append loses, retractClose
   * takes it back. The caller awaits `written` before it publishes the completion.
   */
  recordClose(state: RunState): ClosingSummary {
    this.cancelDelayed(state.runId);
    const token = randomUUID();
    const written = this.summaries.add({ state, closeToken: token });
    // Awaited by the caller on every path; a failure must not be left unhandled meanwhile.
    written.catch(() => undefined);
    return { runId: state.runId, token, written };
  }

  /**
   * Takes back a close written beside an append that lost (another router stored that seq, or a
   * chain was cut short): once it is written, it is replaced by the run as its history has it,
   * unless a later write replaced it first. Readers never trusted it meanwhile (its commit
   * does not close the run, or is not there).
   */
  async retractClose(closing: ClosingSummary): Promise<void> {
    await closing.written.catch(() => undefined);
    const history: StoredCommit[] = [];
    for await (const c of this.opts.store.loadHistory(closing.runId, 0)) history.push(c);
    if (history.length === 0) return;
    const started = runStartedOf(history);
    const state = replayCommits(this.opts.definition(started.workflowType, started.version), history);
    await this.opts.store.saveRun(state, { replacesClose: closing.token });
  }

  /** Writes an open run's summary after `delayMs`, or not at all if a newer state replaces it first. */
  private writeSummaryLater(state: RunState, delayMs: number): void {
    const waiting = this.delayed.get(state.runId);
    if (waiting && delayMs > 0) {
      waiting.state = state; // the timer already set writes the newest state
      waiting.moved = true;
      return;
    }
    this.cancelDelayed(state.runId);
    if (delayMs === 0) {
      this.writeSummary(state);
      return;
    }
    const timer = setTimeout(() => this.flushDelayed(state.runId, false), delayMs);
    timer.unref();
    this.delayed.set(state.runId, { state, timer, moved: false, deferrals: 0 });
  }

  private cancelDelayed(runId: string): void {
    const waiting = this.delayed.get(runId);
    if (!waiting) return;
    clearTimeout(waiting.timer);
    this.delayed.delete(runId);
  }

  /** Writes a delayed summary; unless `now`, a busy run waits another delay (see BUSY_RUN_DEFERRALS). */
  private flushDelayed(runId: string, now: boolean): void {
    const waiting = this.delayed.get(runId);
    if (!waiting) return;
    const busy = waiting.moved || !isWaiting(waiting.state);
    if (!now && busy && waiting.deferrals < BUSY_RUN_DEFERRALS) {
      waiting.moved = false;
      waiting.deferrals++;
      waiting.timer = setTimeout(() => this.flushDelayed(runId, false), this.summaryDelayMs);
      waiting.timer.unref();
      return;
    }
    this.delayed.delete(runId);
    this.writeSummary(waiting.state);
  }

  private writeSummary(state: RunState): void {
    void this.summaries.add({ state }).catch((err: unknown) => {
      this.owe(state);
      this.opts.log.warn('run summary write failed; the router writes it again on its next upkeep', {
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
    this.healSummaries(await this.opts.store.saveRuns(states));
    for (const state of states) if (this.owed.get(state.runId) === state) this.owed.delete(state.runId);
  }

  /** Writes the delayed summaries now, then waits for every pending summary write and repair. */
  async idle(): Promise<void> {
    for (const runId of [...this.delayed.keys()]) this.flushDelayed(runId, true);
    await this.summaries.idle();
    while (this.repairs.size > 0) await Promise.all([...this.repairs.values()].map((r) => r.done));
  }

  /** Writes a run's summary now; what a racing writer may have moved back is repaired after. */
  async saveNow(state: RunState, extra?: { startMsgId?: string }): Promise<void> {
    this.healSummaries(await this.opts.store.saveRun(state, extra));
  }
}

/** Whether an event sets search attributes, which list filters on: its summary is written at once. */
function setsSearchAttributes(e: StoredCommit['events'][number]): boolean {
  return e.type === 'SearchAttributesUpserted' || (e.type === 'RunStarted' && e.searchAttributes !== undefined);
}
