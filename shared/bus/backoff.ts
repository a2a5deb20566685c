/**
 * Capped, fully jittered exponential backoff (AWS "full jitter"): the n-th wait is uniform in
 * `[0, min(maxMs, initialMs * multiplier^n))`, so many clients reconnecting at once spread out.
 */

/** Backoff shape. */
export interface BackoffOptions {
  /** First wait's upper bound. @default 100 */
  initialMs: number;
  /** Cap on any wait. @default 15_000 */
  maxMs: number;
  /** Growth per attempt. @default 2 */
  multiplier: number;
}

/** Default backoff: 100 ms doubling, capped at 15 s. */
export function defaultBackoffOptions(): BackoffOptions {
  return { initialMs: 100, maxMs: 15_000, multiplier: 2 };
}

/** The wait before retry number `attempt` (0-based), fully jittered. */
export function backoffDelay(
  attempt: number,
  opts: Partial<BackoffOptions> = {},
  random: () => number = Math.random,
): number {
  const o = { ...defaultBackoffOptions(), ...opts };
  const ceiling = Math.min(o.maxMs, o.initialMs * o.multiplier ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Options of retryWithBackoff. */
export interface RetryOptions extends Partial<BackoffOptions> {
  /** Which failures are worth another try. */
  isRetryable: (err: unknown) => boolean;
  /** Give up (rethrowing the last error) once this much time has passed. @default Infinity */
  deadlineMs?: number;
  /** Stop retrying (rethrowing the last error) when aborted. */
  signal?: AbortSignal;
  /** Called before each wait, e.g. to log the passing trouble. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `fn` until it succeeds, a non-retryable error is thrown, the deadline passes or the signal aborts. */
export async function retryWithBackoff<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const started = Date.now();
  const deadline = opts.deadlineMs ?? Number.POSITIVE_INFINITY;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!opts.isRetryable(err) || opts.signal?.aborted) throw err;
      const remaining = deadline - (Date.now() - started);
      if (remaining <= 0) throw err;
      const delay = Math.min(backoffDelay(attempt, opts), remaining);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay, opts.signal);
      if (opts.signal?.aborted) throw err;
    }
  }
}
