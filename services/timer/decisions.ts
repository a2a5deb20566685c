/**
 * The timer service's decisions as pure functions (no I/O, no clock, no randomness unless
 * passed): what an inbound message is, what follows a round of claims, how long to sleep, and
 * what to do after each kind of failure. The loops in intake.ts and firing.ts only carry them out.
 */
import { backoffDelay } from '../../shared/bus/backoff.js';
import {
  type TimerCancelMessage,
  type TimerScheduleMessage,
  validateTimerCancel,
  validateTimerSchedule,
} from '../../shared/bus/messages.js';
import { InvalidInputError } from '../../shared/errors.js';

/** Why a timer message goes to the dead-letter stream (its `dlq.<reason>` subject token). */
export type DeadLetterReason = 'undecodable' | 'invalid-input';

/** An inbound timer message, parsed once into what the intake applies. */
export type TimerIntakeMessage =
  | { kind: 'schedule'; timer: TimerScheduleMessage }
  | { kind: 'cancel'; timer: TimerCancelMessage }
  | { kind: 'dead-letter'; reason: DeadLetterReason; err: unknown };

/**
 * Parses a message on a timer subject: `op` is the subject's operation token (`schedule` or
 * `cancel`), `decode` its body decoder. A body that does not decode is `undecodable`; one that
 * decodes but fails validation, or an unknown operation, is `invalid-input`.
 */
export function parseTimerMessage(op: string | undefined, subject: string, decode: () => unknown): TimerIntakeMessage {
  let body: unknown;
  try {
    body = decode();
  } catch (err) {
    return { kind: 'dead-letter', reason: 'undecodable', err };
  }
  try {
    if (op === 'schedule') return { kind: 'schedule', timer: validateTimerSchedule(body) };
    if (op === 'cancel') return { kind: 'cancel', timer: validateTimerCancel(body) };
    throw new InvalidInputError(`${subject} is neither a timer schedule nor a cancel`);
  } catch (err) {
    return { kind: 'dead-letter', reason: 'invalid-input', err };
  }
}

/** What the due-timer loop does after a round of claims was published. */
export type AfterRound =
  /** The round was full: more may be due right now, so claim again at once. */
  | { kind: 'claim-again' }
  /** Our published timers are still being marked: sleep until the marks are done, at most maxSleepMs. */
  | { kind: 'wait-for-marks'; sleepMs: number }
  /** Ask the store when its claim should look again, then sleep until then (sleepUntilDue). */
  | { kind: 'look-up-next-due' };

/**
 * Decides what follows a round. While marks run, the earliest pending timers are mostly ours, so
 * the next due time would only say when their leases end: the loop waits for the marks instead.
 * Otherwise the store says when to look again from what the claim read (no store read).
 */
export function afterRound(claimed: number, batchSize: number, unmarked: number, maxSleepMs: number): AfterRound {
  if (claimed >= batchSize) return { kind: 'claim-again' };
  if (unmarked > 0) return { kind: 'wait-for-marks', sleepMs: maxSleepMs };
  return { kind: 'look-up-next-due' };
}

/** How long to sleep until `nextDue` (undefined: none pending), never longer than `maxSleepMs`. */
export function sleepUntilDue(nextDue: number | undefined, now: number, maxSleepMs: number): number {
  if (nextDue === undefined) return maxSleepMs;
  return Math.min(maxSleepMs, Math.max(0, nextDue - now));
}

/** Tries of one round's mark before its timers are left to fire again when their leases end. */
export const MARK_ATTEMPTS = 3;

/** After a failed mark (0-based `attempt`): retry after `delayMs`, or give up. */
export type AfterMarkFailure = { kind: 'retry'; delayMs: number } | { kind: 'give-up' };

/**
 * Decides what follows a failed mark. Giving up is safe: the timers fire again once their lease
 * ends, and the firing's msg id dedupes the copy within JetStream's duplicate window.
 */
export function afterMarkFailure(
  attempt: number,
  stopping: boolean,
  random: () => number = Math.random,
): AfterMarkFailure {
  if (attempt + 1 >= MARK_ATTEMPTS || stopping) return { kind: 'give-up' };
  return { kind: 'retry', delayMs: backoffDelay(attempt, {}, random) };
}

/** A round's publish results split into the published timers and the first failure, if any. */
export interface PublishOutcome<T> {
  published: T[];
  failure: { reason: unknown } | undefined;
}

/** Splits `results` (one per claimed timer, in order) into the published timers and the first failure. */
export function splitPublished<T>(
  claimed: readonly T[],
  results: readonly PromiseSettledResult<void>[],
): PublishOutcome<T> {
  const published = claimed.filter((_, i) => results[i]?.status === 'fulfilled');
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  return { published, failure: failed ? { reason: failed.reason } : undefined };
}

/**
 * The claimed timers grouped by run, as indexes into `claimed`, each group in claim order: a
 * run's firings are published one after another so the router receives them in firing order.
 */
export function firingChains(claimed: readonly { runId: string }[]): number[][] {
  const byRun = new Map<string, number[]>();
  claimed.forEach((t, i) => {
    const chain = byRun.get(t.runId);
    if (chain) chain.push(i);
    else byRun.set(t.runId, [i]);
  });
  return [...byRun.values()];
}

/** How many of a mark's timers were not marked: their leases ran out, or they were cancelled meanwhile. */
export function lostLeases(published: number, marked: number): number {
  return Math.max(0, published - marked);
}

/** The key of a timer in the set of published, unmarked ones. */
export function timerKey(t: { runId: string; timerSeq: number }): string {
  return `${t.runId}:${t.timerSeq}`;
}
