/**
 * The leases of published timers: a claimed timer is this instance's until its lease ends, and a
 * published one stays leased until it is marked fired. Marks run one round after another, while
 * the next round is claimed and published (a firing's lag is its publish; a mark updates every
 * document, the slow write on FerretDB). Until its mark is done, claims pass over a published timer.
 */
import { sleep } from '../../shared/bus/backoff.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import type { Store, TimerRecord } from '../../shared/store/types.js';
import { afterMarkFailure, lostLeases, timerKey } from './decisions.js';
import type { StoreHealth, TimerStats } from './status.js';

/** What the marks need from the service. */
export interface FiredMarksDeps {
  store: Pick<Store, 'markTimersFired'>;
  /** This instance's id: the lease owner. */
  owner: string;
  clock: Clock;
  log: Logger;
  stats: TimerStats;
  storeHealth: StoreHealth;
  /** Aborted when the service stops: a failed mark is then not retried. */
  signal: AbortSignal;
}

/** The queue of marks of published rounds, and the timers it has yet to mark. */
export class FiredMarks {
  readonly #d: FiredMarksDeps;
  /** Timers published and not yet marked (timerKey): the next claims pass over them. */
  readonly #unmarked = new Set<string>();
  /** The marks of published rounds, one after another. Never rejects. */
  #marking: Promise<void> = Promise.resolve();

  constructor(deps: FiredMarksDeps) {
    this.#d = deps;
  }

  /** How many published timers are not marked yet. */
  get unmarked(): number {
    return this.#unmarked.size;
  }

  /** True when `t` was published and is not marked yet: a claim must pass over it. */
  isUnmarked(t: { runId: string; timerSeq: number }): boolean {
    return this.#unmarked.has(timerKey(t));
  }

  /** Resolves once every mark queued so far is done (or given up). Never rejects. */
  settled(): Promise<void> {
    return this.#marking;
  }

  /**
   * Queues one mark of a round's published timers and resolves once the previous round's mark is
   * done: at most one mark waits queued behind the one running.
   */
  async enqueue(published: readonly TimerRecord[]): Promise<void> {
    if (published.length === 0) return;
    for (const t of published) this.#unmarked.add(timerKey(t));
    const previous = this.#marking;
    this.#marking = previous
      .then(() => this.#mark(published))
      .finally(() => {
        for (const t of published) this.#unmarked.delete(timerKey(t));
      });
    await previous;
  }

  /** Marks published timers fired, trying a few times; on giving up they fire again once their lease ends. */
  async #mark(published: readonly TimerRecord[]): Promise<void> {
    const { store, owner, clock, log, stats, storeHealth, signal } = this.#d;
    for (let attempt = 0; ; attempt++) {
      try {
        const marked = await store.markTimersFired(published, owner, clock.now());
        const lost = lostLeases(published.length, marked);
        if (lost > 0) {
          // Leases ran out (or timers were cancelled) while publishing: the msg id dedupes a second
          // firing within the duplicate window, and the router ignores a firing that is not live.
          stats.lostLeases += lost;
          log.warn('timers fired but not marked: lease lost or cancelled meanwhile', { count: lost });
        }
        return;
      } catch (err) {
        const next = afterMarkFailure(attempt, signal.aborted);
        if (next.kind === 'give-up') {
          storeHealth.worked(false);
          log.warn('marking fired timers failed; they fire again when their lease ends', {
            err,
            count: published.length,
          });
          return;
        }
        await sleep(next.delayMs, signal);
      }
    }
  }
}
