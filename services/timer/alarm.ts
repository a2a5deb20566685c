/**
 * Wake-up handling of the due-timer loop: its sleep between looks at the store ends early when a
 * timer due before the sleep's end is stored, or when the marks it waits for are done.
 */
import type { Clock } from '../../shared/clock.js';

/** A sleep that can be cut short, remembering when it is due to end. */
export class Alarm {
  readonly #clock: Clock;
  #wake: (() => void) | undefined;
  /** The earliest wake-up asked for while awake: the next sleep ends by then. */
  #asked = Number.POSITIVE_INFINITY;
  /** When the current sleep ends (Infinity while awake). */
  #until = Number.POSITIVE_INFINITY;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** When the current sleep ends, in clock milliseconds; Infinity while awake. */
  get until(): number {
    return this.#until;
  }

  /**
   * Sleeps `ms`, or less when a wake-up was asked for meanwhile (wakeBy) or `signal` aborts.
   * Never rejects.
   */
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    const now = this.#clock.now();
    const end = Math.min(now + ms, this.#asked);
    this.#asked = Number.POSITIVE_INFINITY;
    if (end <= now || signal.aborted) return Promise.resolve();
    this.#until = end;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        this.#until = Number.POSITIVE_INFINITY;
        resolve();
      };
      const timer = setTimeout(done, end - now);
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  /**
   * Ends the current sleep now when `at` comes before its end. Asked while awake (a timer stored
   * while the loop looks at the store, after its look), the next sleep ends by `at` instead.
   */
  wakeBy(at: number): void {
    if (!this.#wake) this.#asked = Math.min(this.#asked, at);
    else if (at < this.#until) this.#wake();
  }
}
