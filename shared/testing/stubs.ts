/**
 * Stubbed activities and child workflows of a test run: what a stub may be, and how one attempt
 * of it becomes the result an executor would have reported.
 */
import { attemptFailure, nonRetryable } from '../engine/activity.js';
import type { ErrorInfo } from '../errors.js';

/**
 * What an activity returns in a test: a value; an Error, which fails the activity for good (as
 * `nonRetryable`); or a function of the input, the attempt number (from 1) and the last heartbeat
 * details, called per attempt (it may be async; throwing or returning an Error fails that attempt,
 * which is retried under the activity's policy, on virtual time).
 */
export type ActivityStub = unknown;

/** One attempt's result: an output, or a failure (with the delay the failure asked for, if any). */
export type StubResult = { output: unknown } | { error: ErrorInfo; retryAfterMs?: number };

/** Runs one attempt of `stub`; never throws (a throw is the attempt's failure). */
export async function callStub(
  stub: ActivityStub,
  input: unknown,
  attempt: number,
  lastHeartbeat: unknown,
): Promise<StubResult> {
  if (stub instanceof Error) return attemptFailure(nonRetryable(stub));
  try {
    const value =
      typeof stub === 'function'
        ? await (stub as (i: unknown, a: number, h: unknown) => unknown)(input, attempt, lastHeartbeat)
        : stub;
    if (value instanceof Error) return attemptFailure(value);
    return { output: value };
  } catch (err) {
    return attemptFailure(err);
  }
}
