/**
 * Activities: named async functions with side effects, run by executors at least once.
 * The retry policy and timeouts are declared on the workflow side (the router enforces them and
 * records them in history); `defineActivity` names the function for executors and carries the
 * executor-side option `maxConcurrency`.
 */
import { type ErrorInfo, toErrorInfo } from '../errors.js';
import { checkPriority } from '../flow/priority.js';
import { type ConcurrencyOption, checkConcurrency, checkRateLimit, type RateLimitOption } from '../flow/spec.js';
import type { ActivityPolicy } from '../history/events.js';
import type { Logger } from '../log.js';

/** Retry policy of an activity (Temporal's defaults). */
export interface RetryPolicy {
  /** Delay before the second attempt. @default 1000 */
  initialIntervalMs: number;
  /** Each further delay is the previous one times this. @default 2 */
  backoffCoefficient: number;
  /** Cap on the delay between attempts. @default 100_000 */
  maximumIntervalMs: number;
  /** 0 = unlimited. @default 0 */
  maximumAttempts: number;
  /** Error names or codes that are never retried. @default [] */
  nonRetryableErrorTypes: string[];
}

/** The default retry policy: 1 s, doubling, at most 100 s apart, unlimited attempts. */
export function defaultRetryPolicy(): RetryPolicy {
  return {
    initialIntervalMs: 1000,
    backoffCoefficient: 2,
    maximumIntervalMs: 100_000,
    maximumAttempts: 0,
    nonRetryableErrorTypes: [],
  };
}

/** Options of an activity as a workflow schedules it. Every timeout is off unless set. */
export interface ActivityOptions {
  /** Merged over defaultRetryPolicy(). */
  retry?: Partial<RetryPolicy>;
  /** Longest wait for an executor to pick a task up, per attempt (retried). */
  scheduleToStartTimeoutMs?: number;
  /** Longest run of one attempt once started (retried). */
  startToCloseTimeoutMs?: number;
  /** Longest time for the whole activity, every attempt and backoff included (not retried). */
  scheduleToCloseTimeoutMs?: number;
  /** Longest gap between heartbeats of a started attempt (retried). */
  heartbeatTimeoutMs?: number;
  /**
   * Executor side (`defineActivity`): cap on in-flight tasks of this type across all executors
   * (the shared consumer's `max_ack_pending`). Ignored on the workflow side.
   */
  maxConcurrency?: number;
  /** Executor side: at most `limit` tasks per key running at once, across executors (docs/flow-control.md). */
  concurrency?: ConcurrencyOption;
  /** Executor side: at most `limit` task starts per `periodMs` per key, smoothed (docs/flow-control.md). */
  rateLimit?: RateLimitOption;
  /**
   * Workflow side: an inline step. The router runs it in its own process (no executor, no queue
   * hop) under the same retry policy, its result recorded like an executor's. Starts at once, so
   * scheduleToStart and heartbeat timeouts do not apply; startToClose defaults to
   * INLINE_START_TO_CLOSE_MS. @default false
   */
  inline?: boolean;
  /**
   * Workflow side: the priority of the activity's tasks, MIN_PRIORITY (1) to MAX_PRIORITY (5),
   * higher pulled first by executors (docs/flow-control.md#priorities). @default the run's priority
   */
  priority?: number;
  /**
   * Workflow side: `at-least-once` (per attempt) runs an attempt again when its executor died
   * before reporting; `at-most-once` records the attempt's start before the code runs, and an
   * attempt started but never finished is failed with AttemptInterruptedError instead of run
   * again (the retry policy then decides). An inline step at most once is run only once the
   * commit that schedules it is stored. @default 'at-least-once'
   */
  semantics?: StepSemantics;
}

/** How often one attempt of an activity may run (see ActivityOptions.semantics). */
export type StepSemantics = 'at-least-once' | 'at-most-once';

/**
 * startToCloseTimeoutMs of an inline step that sets none. Its timer is what runs the step again
 * when the router that was running it died after its schedule was stored.
 */
export const INLINE_START_TO_CLOSE_MS = 60_000;

/** The policy in force for one scheduled activity: `options` layered over the defaults. */
export function resolvePolicy(...layers: (ActivityOptions | undefined)[]): ActivityPolicy {
  const retry = defaultRetryPolicy();
  const policy: ActivityPolicy = { retry };
  for (const o of layers) {
    if (!o) continue;
    for (const [k, v] of Object.entries(o.retry ?? {})) {
      if (v !== undefined) (retry as unknown as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
    }
    for (const k of TIMEOUT_KEYS) if (o[k] !== undefined) policy[k] = o[k];
    if (o.priority !== undefined) policy.priority = o.priority;
    if (o.inline !== undefined) {
      if (o.inline) policy.inline = true;
      else delete policy.inline;
    }
    if (o.semantics !== undefined) {
      if (o.semantics === 'at-most-once') policy.atMostOnce = true;
      else delete policy.atMostOnce;
    }
  }
  if (policy.inline) {
    // Not enforced for a step that starts as it is scheduled and reports to nobody (see `inline`).
    delete policy.scheduleToStartTimeoutMs;
    delete policy.heartbeatTimeoutMs;
    policy.startToCloseTimeoutMs ??= INLINE_START_TO_CLOSE_MS;
  }
  return policy;
}

const TIMEOUT_KEYS = [
  'scheduleToStartTimeoutMs',
  'startToCloseTimeoutMs',
  'scheduleToCloseTimeoutMs',
  'heartbeatTimeoutMs',
] as const;

/** Throws a message naming the bad field when `o` is not valid ActivityOptions. */
export function validateActivityOptions(o: unknown, where: string): asserts o is ActivityOptions {
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new TypeError(`${where}: options must be an object`);
  const opts = o as Record<string, unknown>;
  const positive = (v: unknown, name: string, min: number): void => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < min)) {
      throw new TypeError(`${where}: ${name} must be a number >= ${min}, got ${String(v)}`);
    }
  };
  for (const k of TIMEOUT_KEYS) positive(opts[k], k, 1);
  positive(opts.maxConcurrency, 'maxConcurrency', 1);
  if (opts.priority !== undefined) checkPriority(`${where}: priority`, opts.priority);
  if (opts.inline !== undefined && typeof opts.inline !== 'boolean') {
    throw new TypeError(`${where}: inline must be true or false, got ${String(opts.inline)}`);
  }
  if (opts.semantics !== undefined && opts.semantics !== 'at-least-once' && opts.semantics !== 'at-most-once') {
    throw new TypeError(`${where}: semantics must be 'at-least-once' or 'at-most-once', got ${String(opts.semantics)}`);
  }
  if (opts.inline === true) {
    for (const k of ['scheduleToStartTimeoutMs', 'heartbeatTimeoutMs'] as const) {
      if (opts[k] !== undefined) {
        throw new TypeError(`${where}: ${k} does not apply to an inline step (it starts at once, in the router)`);
      }
    }
  }
  const r = opts.retry as Record<string, unknown> | undefined;
  if (r === undefined) return;
  if (typeof r !== 'object' || r === null) throw new TypeError(`${where}: retry must be an object`);
  positive(r.initialIntervalMs, 'retry.initialIntervalMs', 0);
  positive(r.backoffCoefficient, 'retry.backoffCoefficient', 1);
  positive(r.maximumIntervalMs, 'retry.maximumIntervalMs', 0);
  positive(r.maximumAttempts, 'retry.maximumAttempts', 0);
  if (r.maximumAttempts !== undefined && !Number.isSafeInteger(r.maximumAttempts)) {
    throw new TypeError(`${where}: retry.maximumAttempts must be an integer`);
  }
  const types = r.nonRetryableErrorTypes;
  if (types !== undefined && (!Array.isArray(types) || types.some((t) => typeof t !== 'string'))) {
    throw new TypeError(`${where}: retry.nonRetryableErrorTypes must be an array of strings`);
  }
}

/** What activity code receives besides its input. */
export interface ActivityContext {
  activity: string;
  workflowId: string;
  runId: string;
  /** Engine sequence number of this scheduled activity. */
  activitySeq: number;
  /** Counts from 1. */
  attempt: number;
  /** Stable across attempts of one scheduled activity: `<workflowId>/<activitySeq>`. */
  idempotencyKey: string;
  /**
   * Aborted when the run no longer wants the result (the machine left the invoking state, the
   * attempt timed out) or the executor shuts down.
   */
  signal: AbortSignal;
  /**
   * Reports progress: keeps the task alive, records `details` (the latest are what the next
   * attempt sees as `lastHeartbeat`) and, throttled, tells the router the attempt is alive.
   * Never throws: a cancelled attempt shows as `signal.aborted`.
   */
  heartbeat(details?: unknown): void;
  /** Details of the latest heartbeat recorded, by this attempt or an earlier one. */
  lastHeartbeat?: unknown;
  log: Logger;
}

/** An activity implementation. */
export type ActivityFn<I = unknown, O = unknown> = (input: I, ctx: ActivityContext) => Promise<O> | O;

/** A named activity with options, as registered with executors. */
export interface ActivityDefinition<I = unknown, O = unknown> {
  readonly kind: 'squall.activity';
  readonly name: string;
  readonly fn: ActivityFn<I, O>;
  readonly options: ActivityOptions;
}

/**
 * Names an activity function and attaches its executor-side options (`maxConcurrency`). Retry
 * and timeouts belong to the workflow (`defineWorkflow({ activities })`, `activity(options)`);
 * executors warn when they are set here, since the router never sees them.
 */
export function defineActivity<I, O>(
  name: string,
  fn: ActivityFn<I, O>,
  options: Omit<ActivityOptions, 'concurrency' | 'rateLimit'> & {
    concurrency?: ConcurrencyOption<NoInfer<I>>;
    rateLimit?: RateLimitOption<NoInfer<I>>;
  } = {},
): ActivityDefinition<I, O> {
  if (options.concurrency !== undefined) checkConcurrency(options.concurrency, `activity ${name}: concurrency`);
  if (options.rateLimit !== undefined) checkRateLimit(options.rateLimit, `activity ${name}: rateLimit`);
  return Object.freeze({ kind: 'squall.activity', name, fn, options: Object.freeze({ ...options }) });
}

/** True for values made by defineActivity. */
export function isActivityDefinition(value: unknown): value is ActivityDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'squall.activity' &&
    typeof (value as { fn?: unknown }).fn === 'function'
  );
}

/** Error fields that travel across the wire, as an activity may set them. */
interface WireErrorFields {
  code?: string;
  details?: unknown;
  retryable?: boolean;
  nextRetryDelayMs?: number;
}

/** An error thrown by activity code with an explicit retry instruction. */
export class ActivityError extends Error implements WireErrorFields {
  code?: string;
  details?: unknown;
  retryable?: boolean;
  nextRetryDelayMs?: number;
}

function wrap(err: unknown): ActivityError {
  const e = new ActivityError(err instanceof Error ? err.message : typeof err === 'string' ? err : String(err));
  if (err instanceof Error) {
    e.name = err.name;
    if (err.stack) e.stack = err.stack;
    const f = err as Error & WireErrorFields;
    if (typeof f.code === 'string' || typeof f.code === 'number') e.code = String(f.code);
    if (f.details !== undefined) e.details = f.details;
    if (typeof f.retryable === 'boolean') e.retryable = f.retryable;
    if (typeof f.nextRetryDelayMs === 'number') e.nextRetryDelayMs = f.nextRetryDelayMs;
    e.cause = err;
  } else if (err !== undefined && typeof err !== 'string') {
    e.details = err;
  }
  return e;
}

/** `throw nonRetryable(err)`: the activity fails now, whatever its retry policy (name, code, details kept). */
export function nonRetryable(err: unknown): ActivityError {
  const e = wrap(err);
  e.retryable = false;
  return e;
}

/** `throw retryAfter(ms, err)`: this attempt fails and the next starts `ms` later (maximumAttempts and scheduleToClose still apply). */
export function retryAfter(ms: number, err: unknown): ActivityError {
  if (!Number.isFinite(ms) || ms < 0) throw new TypeError(`retryAfter: ms must be a finite number >= 0, got ${ms}`);
  const e = wrap(err);
  e.retryable = true;
  e.nextRetryDelayMs = ms;
  return e;
}

/** A failed attempt as it travels: the error's wire form and the delay it asked for, if any. */
export function attemptFailure(err: unknown): { error: ErrorInfo; retryAfterMs?: number } {
  const error = toErrorInfo(err);
  const delay = (err as { nextRetryDelayMs?: unknown } | null)?.nextRetryDelayMs;
  return typeof delay === 'number' && Number.isFinite(delay) && delay >= 0 ? { error, retryAfterMs: delay } : { error };
}
