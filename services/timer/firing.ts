/**
 * The due-timer loop: claim the due timers (a lease in the store decides which instance fires
 * each), publish their firings with msg id `fired:<runId>:<timerSeq>`, and queue the mark of the
 * published ones (leases.ts). A crash between publish and mark re-publishes once the lease ends,
 * and JetStream drops the copy (the router also ignores a firing whose timer is no longer live).
 */
import { backoffDelay } from '../../shared/bus/backoff.js';
import type { Bus } from '../../shared/bus/connect.js';
import { type FiredMessage, firedMsgId } from '../../shared/bus/messages.js';
import type { Clock } from '../../shared/clock.js';
import { settleLimited } from '../../shared/concurrency.js';
import type { Logger } from '../../shared/log.js';
import type { Store, TimerRecord } from '../../shared/store/types.js';
import type { Alarm } from './alarm.js';
import { afterRound, firingChains, sleepUntilDue, splitPublished } from './decisions.js';
import { FiredMarks } from './leases.js';
import type { TimerMetrics } from './metrics.js';
import type { StoreHealth, TimerStats } from './status.js';

/** Runs whose firings are being published at once. */
const PUBLISH_CONCURRENCY = 500;

/** What the due-timer loop needs from the service. */
export interface DueTimerLoopDeps {
  bus: Bus;
  store: Pick<Store, 'claimDueTimers' | 'nextTimerDue' | 'markTimersFired'>;
  /** This instance's id: the lease owner. */
  owner: string;
  clock: Clock;
  log: Logger;
  alarm: Alarm;
  stats: TimerStats;
  storeHealth: StoreHealth;
  leaseMs: number;
  batchSize: number;
  maxSleepMs: number;
  /** Where claims and firing lag are counted. @default none */
  metrics?: TimerMetrics | undefined;
}

/** Fires due timers round after round until stopped. */
export class DueTimerLoop {
  readonly #d: DueTimerLoopDeps;
  readonly #stopping = new AbortController();
  readonly #marks: FiredMarks;

  constructor(deps: DueTimerLoopDeps) {
    this.#d = deps;
    const { store, owner, clock, log, stats, storeHealth } = deps;
    this.#marks = new FiredMarks({ store, owner, clock, log, stats, storeHealth, signal: this.#stopping.signal });
  }

  /** Stops claiming; the promise of run() resolves once the round in hand and its marks are done. */
  stop(): void {
    this.#stopping.abort();
  }

  /** Claims, fires and marks until stop(), backing off after failures. Never rejects. */
  async run(): Promise<void> {
    const signal = this.#stopping.signal;
    const { alarm, log, storeHealth } = this.#d;
    let failures = 0;
    while (!signal.aborted) {
      let waitMs: number;
      try {
        waitMs = await this.#round();
        storeHealth.worked(true);
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        storeHealth.worked(false);
        waitMs = backoffDelay(failures++);
        log.warn('firing timers failed, retrying', { err, delayMs: waitMs });
      }
      if (waitMs > 0) await alarm.sleep(waitMs, signal);
    }
    await this.#marks.settled();
  }

  /** One round: claims due timers and fires them; resolves with how long to sleep before the next. */
  async #round(): Promise<number> {
    const { store, owner, clock, leaseMs, batchSize, maxSleepMs, alarm } = this.#d;
    const claimed = await store.claimDueTimers(clock.now(), owner, leaseMs, batchSize, (t) =>
      this.#marks.isUnmarked(t),
    );
    this.#d.metrics?.claimed(claimed.length);
    await this.#fire(claimed);
    const next = afterRound(claimed.length, batchSize, this.#marks.unmarked, maxSleepMs);
    switch (next.kind) {
      case 'claim-again':
        return 0;
      case 'wait-for-marks':
        // Look again once the marks are done: then the store's next due time means something.
        void this.#marks.settled().then(() => alarm.wakeBy(Number.NEGATIVE_INFINITY));
        return next.sleepMs;
      case 'look-up-next-due':
        return sleepUntilDue(await store.nextTimerDue(), clock.now(), maxSleepMs);
    }
  }

  /**
   * Publishes each claimed timer's firing, then queues one mark of the published ones. A run's
   * firings go out one after another in claim (firing) order, runs in parallel; after a failure
   * the run's later ones wait too. Unpublished ones stay leased to us until the lease ends; then
   * any instance claims them. Rejects with the first publish failure, after queueing the marks.
   */
  async #fire(claimed: TimerRecord[]): Promise<void> {
    const results: PromiseSettledResult<void>[] = [];
    await settleLimited(firingChains(claimed), PUBLISH_CONCURRENCY, async (chain) => {
      let failed: PromiseRejectedResult | undefined;
      for (const i of chain) {
        if (failed) {
          results[i] = failed;
          continue;
        }
        try {
          await this.#publish(claimed[i] as TimerRecord);
          results[i] = { status: 'fulfilled', value: undefined };
        } catch (reason) {
          failed = { status: 'rejected', reason };
          results[i] = failed;
        }
      }
    });
    const { published, failure } = splitPublished(claimed, results);
    await this.#marks.enqueue(published);
    if (failure) throw failure.reason;
  }

  async #publish(t: TimerRecord): Promise<void> {
    const { bus, clock, stats } = this.#d;
    const body: FiredMessage = { runId: t.runId, workflowId: t.workflowId, timerSeq: t.timerSeq, firedAt: clock.now() };
    await bus.publish(bus.subjects.fired(t.runId), body, {
      msgId: firedMsgId(t.runId, t.timerSeq),
      signal: this.#stopping.signal,
    });
    stats.fired++;
    this.#d.metrics?.fired(body.firedAt - t.fireAt);
  }
}
