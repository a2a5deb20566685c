/**
 * Activities: named async functions with side effects, run by executors at least once.
 * `defineActivity` attaches a name and options; the retry/timeout semantics land with the
 * activity-semantics work and are stored here already.
 */
import type { Logger } from '../log.js';

/** Retry policy of an activity (Temporal's defaults). */
export interface RetryPolicy {
  /** @default 1000 */
  initialIntervalMs: number;
  /** @default 2 */
  backoffCoefficient: number;
  /** @default 100_000 */
  maximumIntervalMs: number;
  /** 0 = unlimited. @default 0 */
  maximumAttempts: number;
  /** Error names or codes that are never retried. @default [] */
  nonRetryableErrorTypes: string[];
}

/** Options of an activity. */
export interface ActivityOptions {
  retry?: Partial<RetryPolicy>;
  scheduleToStartTimeoutMs?: number;
  startToCloseTimeoutMs?: number;
  scheduleToCloseTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  /** Cap on in-flight tasks of this type across all executors. */
  maxConcurrency?: number;
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
  /** Aborted when the run no longer wants the result or the executor shuts down. */
  signal: AbortSignal;
  /** Extends the task's ack deadline; details are kept for the next attempt. */
  heartbeat(details?: unknown): void;
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

/** Names an activity function and attaches its options. */
export function defineActivity<I, O>(
  name: string,
  fn: ActivityFn<I, O>,
  options: ActivityOptions = {},
): ActivityDefinition<I, O> {
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
