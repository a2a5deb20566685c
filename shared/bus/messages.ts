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
}

/** An activity result on `subjects.result(runId)`; `Nats-Msg-Id` = `result:<runId>:<activitySeq>:<attempt>`. */
export type ResultMessage =
  | { runId: string; workflowId: string; activitySeq: number; attempt: number; ok: true; output?: unknown }
  | { runId: string; workflowId: string; activitySeq: number; attempt: number; ok: false; error: ErrorInfo };

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
  if (o.ok === false) return { ...base, ok: false, error: errorInfo(w, o, 'error') };
  return bad(w, 'ok', 'must be true or false');
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
