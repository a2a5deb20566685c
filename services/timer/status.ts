/**
 * What the timer service's parts report to its health: counters, and whether store operations
 * work. Passing trouble is data here and a log line on each change, never an exception.
 */
import type { Logger } from '../../shared/log.js';

/** Counters of a timer service since it started (in its health details and its stop log). */
export interface TimerStats {
  /** Schedules stored. */
  scheduled: number;
  /** Cancels stored. */
  cancelled: number;
  /** Firings published (counted before JetStream's msg-id dedupe). */
  fired: number;
  /** Bad schedule/cancel messages sent to the dead-letter stream. */
  deadLettered: number;
  /** Published timers not marked fired: their lease ran out, or they were cancelled meanwhile. */
  lostLeases: number;
}

/** Counters all at zero. */
export function newTimerStats(): TimerStats {
  return { scheduled: 0, cancelled: 0, fired: 0, deadLettered: 0, lostLeases: 0 };
}

/** Whether the last store operation worked; each change is logged once. */
export class StoreHealth {
  #healthy = true;
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** True unless the last store operation failed. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Records the outcome of a store operation. */
  worked(ok: boolean): void {
    if (ok === this.#healthy) return;
    this.#healthy = ok;
    if (ok) this.#log.info('store operations work again');
    else this.#log.warn('store operations failing; timers wait until they work again');
  }
}
