/**
 * Bodies of the engine's internal messages (tasks, results, timer schedules and firings) and
 * validators that check a decoded body, throwing InvalidInputError naming the bad field.
 */
import { type ErrorInfo, InvalidInputError } from '../errors.js';
import type { Millis } from '../history/events.js';
import { validateToken } from '../names.js';

/** An activity task on `subjects.task(activity)`; `Nats-Msg-Id` = `<runId>:<commitSeq>:<commandIndex>`. */
export interface TaskMessage {
  runId: string;
  workflowId: string;
  workflowType: string;
  activity: string;
  activitySeq: number;
  invokeId: string;
  input?: unknown;
  /** Counts from 1. */
  attempt: number;
  scheduledAt: Millis;
  /** Publish an `update: 'started'` report before running (the router enforces a start-bound timeout). */
  reportStart?: boolean;
  /**
   * At most one run of this attempt: the start is published (and acked) before the code runs, and
   * a redelivery that finds it published fails the attempt instead of running it again.
   */
  atMostOnce?: boolean;
  /** The router fails an attempt running longer than this (the executor aborts it when told). */
  startToCloseTimeoutMs?: number;
  /** The router fails a started attempt that does not heartbeat within this; heartbeats are reported. */
  heartbeatTimeoutMs?: number;
  /** Latest heartbeat details recorded by an earlier attempt: `ctx.lastHeartbeat`. */
  lastHeartbeat?: unknown;
}

/** An activity result on `subjects.result(runId)`; `Nats-Msg-Id` = `result:<runId>:<activitySeq>:<attempt>`. */
export type ResultMessage =
  | { runId: string; workflowId: string; activitySeq: number; attempt: number; ok: true; output?: unknown }
  | {
      runId: string;
      workflowId: string;
      activitySeq: number;
      attempt: number;
      ok: false;
      error: ErrorInfo;
      /** The delay the activity asked for before its next attempt (`retryAfter`). */
      retryAfterMs?: number;
      /** The attempt's latest heartbeat details, for the next attempt. */
      heartbeat?: unknown;
    };

/**
 * Progress of a running attempt on `subjects.result(runId)`: its start, or a (throttled)
 * heartbeat. `Nats-Msg-Id` = `update:<runId>:<activitySeq>:<attempt>:<n>` (n = 0 for started).
 */
export interface ActivityUpdateMessage {
  runId: string;
  workflowId: string;
  activitySeq: number;
  attempt: number;
  update: 'started' | 'heartbeat';
  details?: unknown;
}

/**
 * An activity is over on `subjects.activityCancel(runId, activitySeq)`: every attempt, or with
 * `attempt`, that attempt and all earlier ones. Executors abort matching tasks; the stream keeps
 * the last notice per activity so a task delivered later is recognised and dropped.
 */
export interface ActivityCancelMessage {
  runId: string;
  workflowId: string;
  activitySeq: number;
  attempt?: number;
  /** 'cancelled' (the machine left the state), 'runClosed', 'timedOut', 'stale'. */
  reason?: string;
}

/** A timer to keep, on `subjects.timerSchedule(runId)`. */
export interface TimerScheduleMessage {
  runId: string;
  workflowId: string;
  timerSeq: number;
  fireAt: Millis;
}

/** A timer to drop, on `subjects.timerCancel(runId)`. */
export interface TimerCancelMessage {
  runId: string;
  timerSeq: number;
}

/** A timer came due, on `subjects.fired(runId)`; `Nats-Msg-Id` = `fired:<runId>:<timerSeq>`. */
export interface FiredMessage {
  runId: string;
  workflowId: string;
  timerSeq: number;
  firedAt: Millis;
}

/** Body of an error reply (request/reply), sent with header `Squall-Error: <code>`. */
export interface ErrorReply {
  error: ErrorInfo;
}

/** Msg id of a result: a re-publish of the same attempt is deduplicated by JetStream. */
export function resultMsgId(runId: string, activitySeq: number, attempt: number): string {
  return `result:${runId}:${activitySeq}:${attempt}`;
}

/** Msg id of an attempt's start (n = 0) or its n-th heartbeat report. */
export function updateMsgId(runId: string, activitySeq: number, attempt: number, n: number): string {
  return `update:${runId}:${activitySeq}:${attempt}:${n}`;
}

/** Msg id of a timer firing: a re-publish after a crash is deduplicated by JetStream. */
export function firedMsgId(runId: string, timerSeq: number): string {
  return `fired:${runId}:${timerSeq}`;
}

// ---- validators ----

type Obj = Record<string, unknown>;

function bad(what: string, field: string, problem: string): never {
  throw new InvalidInputError(`${what}: field '${field}' ${problem}`, { details: { field } });
}

function asObject(what: string, body: unknown): Obj {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError(`${what}: body must be an object, got ${body === null ? 'null' : typeof body}`);
  }
  return body as Obj;
}

function token(
  what: string,
  o: Obj,
  field: string,
  kind: 'runId' | 'workflowId' | 'workflowType' | 'activity',
): string {
  const v = o[field];
  if (typeof v !== 'string') bad(what, field, `must be a string, got ${v === null ? 'null' : typeof v}`);
  try {
    return validateToken(kind, v);
  } catch (err) {
    bad(what, field, `is invalid: ${(err as Error).message}`);
  }
}

function str(what: string, o: Obj, field: string): string {
  const v = o[field];
  if (typeof v !== 'string' || v.length === 0) bad(what, field, 'must be a non-empty string');
  return v;
}

function int(what: string, o: Obj, field: string, min: number): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    bad(what, field, `must be an integer >= ${min}, got ${JSON.stringify(v) ?? typeof v}`);
  }
  return v;
}

function time(what: string, o: Obj, field: string): Millis {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    bad(what, field, `must be a millisecond timestamp, got ${JSON.stringify(v) ?? typeof v}`);
  }
  return v;
}

function errorInfo(what: string, o: Obj, field: string): ErrorInfo {
  const v = o[field];
  if (typeof v !== 'object' || v === null) bad(what, field, 'must be an ErrorInfo object');
  const e = v as Obj;
  if (typeof e.name !== 'string' || typeof e.message !== 'string') {
    bad(what, field, 'must have string name and message');
  }
  return e as unknown as ErrorInfo;
}

/** Checks a decoded task body. */
export function validateTask(body: unknown): TaskMessage {
  const w = 'task';
  const o = asObject(w, body);
  const task: TaskMessage = {
    runId: token(w, o, 'runId', 'runId'),
    workflowId: token(w, o, 'workflowId', 'workflowId'),
    workflowType: token(w, o, 'workflowType', 'workflowType'),
    activity: token(w, o, 'activity', 'activity'),
    activitySeq: int(w, o, 'activitySeq', 0),
    invokeId: str(w, o, 'invokeId'),
    attempt: int(w, o, 'attempt', 1),
    scheduledAt: time(w, o, 'scheduledAt'),
  };
  if (o.input !== undefined) task.input = o.input;
  if (o.reportStart === true) task.reportStart = true;
  if (o.atMostOnce === true) task.atMostOnce = true;
  if (o.startToCloseTimeoutMs !== undefined) task.startToCloseTimeoutMs = int(w, o, 'startToCloseTimeoutMs', 1);
  if (o.heartbeatTimeoutMs !== undefined) task.heartbeatTimeoutMs = int(w, o, 'heartbeatTimeoutMs', 1);
  if (o.lastHeartbeat !== undefined) task.lastHeartbeat = o.lastHeartbeat;
  return task;
}

/** Checks a decoded result body. */
export function validateResult(body: unknown): ResultMessage {
  const w = 'result';
  const o = asObject(w, body);
  const base = {
    runId: token(w, o, 'runId', 'runId'),
    workflowId: token(w, o, 'workflowId', 'workflowId'),
    activitySeq: int(w, o, 'activitySeq', 0),
    attempt: int(w, o, 'attempt', 1),
  };
  if (o.ok === true) return o.output === undefined ? { ...base, ok: true } : { ...base, ok: true, output: o.output };
  if (o.ok === false) {
    const failed: ResultMessage = { ...base, ok: false, error: errorInfo(w, o, 'error') };
    if (o.retryAfterMs !== undefined) failed.retryAfterMs = int(w, o, 'retryAfterMs', 0);
    if (o.heartbeat !== undefined) failed.heartbeat = o.heartbeat;
    return failed;
  }
  return bad(w, 'ok', 'must be true or false');
}

/** Checks a decoded body on a result subject: a result, or an attempt's start or heartbeat. */
export function validateActivityReport(body: unknown): ResultMessage | ActivityUpdateMessage {
  const o = asObject('result', body);
  if (o.update === undefined) return validateResult(body);
  const w = 'activity update';
  if (o.update !== 'started' && o.update !== 'heartbeat') bad(w, 'update', "must be 'started' or 'heartbeat'");
  const msg: ActivityUpdateMessage = {
    runId: token(w, o, 'runId', 'runId'),
    workflowId: token(w, o, 'workflowId', 'workflowId'),
    activitySeq: int(w, o, 'activitySeq', 0),
    attempt: int(w, o, 'attempt', 1),
    update: o.update,
  };
  if (o.details !== undefined) msg.details = o.details;
  return msg;
}

/** Checks a decoded activity cancel notice. */
export function validateActivityCancel(body: unknown): ActivityCancelMessage {
  const w = 'activity cancel';
  const o = asObject(w, body);
  const msg: ActivityCancelMessage = {
    runId: token(w, o, 'runId', 'runId'),
    workflowId: token(w, o, 'workflowId', 'workflowId'),
    activitySeq: int(w, o, 'activitySeq', 0),
  };
  if (o.attempt !== undefined) msg.attempt = int(w, o, 'attempt', 1);
  if (typeof o.reason === 'string') msg.reason = o.reason;
  return msg;
}

/** Checks a decoded timer schedule body. */
export function validateTimerSchedule(body: unknown): TimerScheduleMessage {
  const w = 'timer schedule';
  const o = asObject(w, body);
  return {
    runId: token(w, o, 'runId', 'runId'),
    workflowId: token(w, o, 'workflowId', 'workflowId'),
    timerSeq: int(w, o, 'timerSeq', 0),
    fireAt: time(w, o, 'fireAt'),
  };
}

/** Checks a decoded timer cancel body. */
export function validateTimerCancel(body: unknown): TimerCancelMessage {
  const w = 'timer cancel';
  const o = asObject(w, body);
  return { runId: token(w, o, 'runId', 'runId'), timerSeq: int(w, o, 'timerSeq', 0) };
}

/** Checks a decoded timer firing body. */
export function validateFired(body: unknown): FiredMessage {
  const w = 'fired';
  const o = asObject(w, body);
  return {
    runId: token(w, o, 'runId', 'runId'),
    workflowId: token(w, o, 'workflowId', 'workflowId'),
    timerSeq: int(w, o, 'timerSeq', 0),
    firedAt: time(w, o, 'firedAt'),
  };
}
