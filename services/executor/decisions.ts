/**
 * The executor's decisions as pure functions: no I/O, no clock (the time comes in as an
 * argument), no randomness. The classes around them (attempt, pull loop, notices) do the acting;
 * these say what to do, and are unit tested one case at a time.
 */
import type { ActivityCancelMessage, ResultMessage, TaskMessage } from '../../shared/bus/messages.js';
import { attemptFailure } from '../../shared/engine/activity.js';
import { ActivityFailure, AttemptInterruptedError, PayloadTooLargeError, toErrorInfo } from '../../shared/errors.js';

/** The fields that name one attempt, carried by every report about it. */
export interface AttemptRef {
  runId: string;
  workflowId: string;
  activitySeq: number;
  attempt: number;
}

/** The reference of the attempt a task asks for. */
export function attemptRef(task: TaskMessage): AttemptRef {
  return { runId: task.runId, workflowId: task.workflowId, activitySeq: task.activitySeq, attempt: task.attempt };
}

/** The key of an activity across its attempts: cancel notices and running attempts meet on it. */
export function activityKey(runId: string, activitySeq: number): string {
  return `${runId}:${activitySeq}`;
}

/** A task that waited in the queue longer than this may have missed its cancel notice. */
export const LATE_TASK_MS = 1_000;

/**
 * True when a task may be obsolete without this executor having heard its notice: it was
 * delivered before, or waited in the queue long enough for a notice to have gone by.
 */
export function isLateTask(deliveryCount: number, publishedAtMs: number, nowMs: number): boolean {
  return deliveryCount > 1 || nowMs - publishedAtMs > LATE_TASK_MS;
}

/** True when `notice` ends attempt `attempt`: a notice without an attempt ends them all. */
export function noticeCovers(notice: ActivityCancelMessage, attempt: number): boolean {
  return notice.attempt === undefined || attempt <= notice.attempt;
}

/** True when a task was delivered more than `maxDeliveries` times and must not run again. */
export function deliveredTooOften(deliveryCount: number, maxDeliveries: number): boolean {
  return deliveryCount > maxDeliveries;
}

/**
 * The result reported instead of running a task delivered too often (it keeps crashing or
 * outliving its executors), so such a task cannot loop forever.
 */
export function tooManyDeliveriesResult(ref: AttemptRef, deliveryCount: number): ResultMessage {
  const err = new ActivityFailure(
    `task delivered ${deliveryCount} times without a result (executor crashes or shutdowns)`,
    { details: { deliveries: deliveryCount } },
  );
  return { ...ref, ok: false, error: toErrorInfo(err) };
}

/**
 * Whether an at-most-once attempt must not run. The start it just published was a duplicate on
 * its first try: an earlier delivery recorded it, whatever the delivery count says (a nats-server
 * killed forgets the deliveries of its last moments, which then come again as first deliveries).
 * A duplicate after a retry may be its own first try that landed: it stops a task delivered
 * before, not a first delivery. A task delivered before and older than the duplicate window does
 * not run either: JetStream can no longer tell (at most once then means not again).
 */
export function startAlreadyRecorded(start: {
  deliveryCount: number;
  duplicate: boolean;
  firstTry: boolean;
  taskAgeMs: number;
  duplicateWindowMs: number;
}): boolean {
  if (start.duplicate && start.firstTry) return true;
  if (start.deliveryCount <= 1) return false;
  return start.duplicate || start.taskAgeMs >= start.duplicateWindowMs;
}

/** The result reported instead of running an at-most-once attempt that had already started. */
export function interruptedResult(ref: AttemptRef, deliveryCount: number): ResultMessage {
  const err = new AttemptInterruptedError(
    `attempt ${ref.attempt} of an at-most-once activity started but never reported a result (its executor stopped mid-way); not running it again`,
    { details: { attempt: ref.attempt, deliveries: deliveryCount } },
  );
  return { ...ref, ok: false, error: toErrorInfo(err) };
}

/** The result of an attempt that returned `output` (left out when undefined). */
export function successResult(ref: AttemptRef, output: unknown): ResultMessage {
  return output === undefined ? { ...ref, ok: true } : { ...ref, ok: true, output };
}

/**
 * The result of an attempt that threw `err`; the last heartbeat details travel with it so the
 * next attempt can resume from them.
 */
export function failureResult(ref: AttemptRef, err: unknown, heartbeat?: { value: unknown }): ResultMessage {
  const result: Extract<ResultMessage, { ok: false }> = { ...ref, ok: false, ...attemptFailure(err) };
  if (heartbeat) result.heartbeat = heartbeat.value;
  return result;
}

/**
 * What to publish after publishing `result` failed with `err`: an output too large to travel
 * becomes the attempt's failure (retrying cannot shrink it); for anything else, undefined (the
 * task is given back and delivered again).
 */
export function fallbackResult(result: ResultMessage, err: unknown): ResultMessage | undefined {
  if (!(err instanceof PayloadTooLargeError) || !result.ok) return undefined;
  const { runId, workflowId, activitySeq, attempt } = result;
  return { runId, workflowId, activitySeq, attempt, ok: false, error: toErrorInfo(err) };
}

/**
 * How a task message is settled: `ack` (done, or dropped as obsolete), `nak-backoff` (give it back
 * for a later delivery), `term` (never deliver again), or `none` (already settled elsewhere).
 */
export type Settlement = 'ack' | 'nak-backoff' | 'term' | 'none';

/**
 * Settlement after the attempt could not publish (its start report or its result). An attempt
 * abandoned at the stop deadline was already nak'ed, so it is left alone.
 */
export function settleAfterPublishFailure(abandoned: boolean): Settlement {
  return abandoned ? 'none' : 'nak-backoff';
}

/** Settlement once the result is out: ack, unless the attempt was abandoned (and so nak'ed). */
export function settleAfterResult(abandoned: boolean): Settlement {
  return abandoned ? 'none' : 'ack';
}

/** Settlement of a task that cannot be read: term once it is parked, else give it back to park later. */
export function settleBadTask(parked: boolean): Settlement {
  return parked ? 'term' : 'nak-backoff';
}

/** Dead-letter reason of a task that cannot run: its body would not decode, or it is not a valid task. */
export type BadTaskReason = 'undecodable' | 'invalid-input';

/** How often a running task's message is marked in progress: a third of the ack wait, at least 250 ms. */
export function keepAliveIntervalMs(ackWaitMs: number): number {
  return Math.max(250, ackWaitMs / 3);
}

/** The least gap between in-progress marks prompted by heartbeats (a tight loop costs one per gap). */
export function workingThrottleMs(ackWaitMs: number): number {
  return Math.min(1000, Math.floor(ackWaitMs / 3));
}

/**
 * The least gap between heartbeat reports to the router: 80% of the task's heartbeat timeout (at
 * least 50 ms), so one lands within each timeout, capped by `maxThrottleMs`, which also applies
 * when the task has no heartbeat timeout.
 */
export function heartbeatReportIntervalMs(heartbeatTimeoutMs: number | undefined, maxThrottleMs: number): number {
  if (heartbeatTimeoutMs === undefined) return maxThrottleMs;
  return Math.max(50, Math.min(maxThrottleMs, Math.floor(heartbeatTimeoutMs * 0.8)));
}

/** How long to wait before the next heartbeat report; 0 or less means now. */
export function heartbeatReportDelayMs(lastReportAtMs: number, intervalMs: number, nowMs: number): number {
  return lastReportAtMs + intervalMs - nowMs;
}

/**
 * Most tasks one pull of one activity asks for: a fair share of the concurrency, so with several
 * activities an idle one waits holding a single permit while a busy one batches more.
 */
export function pullBatchCap(concurrency: number, activityCount: number): number {
  return Math.max(1, Math.floor(concurrency / activityCount));
}

/**
 * Whether a message a fetch delivered is run or given straight back: while stopping, and beyond
 * the permits held (a pull re-sent across a reconnect can be served twice), it goes back.
 */
export function admitFetched(stopping: boolean, taken: number, reserved: number): 'run' | 'give-back' {
  return stopping || taken >= reserved ? 'give-back' : 'run';
}
