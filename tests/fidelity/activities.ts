/**
 * The fidelity suite's activities: pure functions of their input, so plain XState (as promise
 * actors, driver.ts) and the executor process (this module) compute the same outputs. `reject` and
 * `failFetch` fail without retries, so `onError` is reached on the first attempt on both sides.
 */
import { type ActivityContext, defineActivity, nonRetryable } from '../../shared/engine/index.js';

/** The implementations, by activity name. */
export const ACTIVITY_FNS: Record<string, (input: unknown, signal?: AbortSignal) => unknown> = {
  double: (input) => (input as { n: number }).n * 2,
  /** The docs example's first fetch fails. */
  failFetch: (input) => {
    throw new Error(`user ${(input as { userId: number }).userId} unavailable`);
  },
  greet: (input) => `hello ${(input as { name: string }).name}`,
  /** Tells `undefined` from `null` (issue #16, item 2). */
  echo: (input) => (input === undefined ? 'got undefined' : input === null ? 'got null' : input),
  sum: (input) => (input as number[]).reduce((a, b) => a + b, 0),
  /** Never finishes; an abort (the invoking state was left) ends it. */
  hang: (_input, signal) =>
    new Promise((_resolve, rejectHang) => signal?.addEventListener('abort', () => rejectHang(new Error('aborted')))),
  reject: (input) => {
    throw new Error(`rejected ${JSON.stringify(input ?? null)}`);
  },
};

/** Wraps an implementation for the executor: failures are final (no retry). */
function forExecutor(name: string) {
  const fn = ACTIVITY_FNS[name] as (input: unknown, signal?: AbortSignal) => unknown;
  return defineActivity(name, async (input: unknown, ctx: ActivityContext) => {
    try {
      return await fn(input, ctx.signal);
    } catch (err) {
      throw nonRetryable(err);
    }
  });
}

export const double = forExecutor('double');
export const greet = forExecutor('greet');
export const echo = forExecutor('echo');
export const sum = forExecutor('sum');
export const reject = forExecutor('reject');
export const hang = forExecutor('hang');
export const failFetch = forExecutor('failFetch');
