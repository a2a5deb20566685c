/**
 * Decision inputs and the history events that record them. Every commit opens with the event of
 * its input (`inputEvent`); replay turns it back into the input (`inputFromEvent`).
 */
import { CorruptHistoryError, type ErrorInfo, InvalidInputError } from '../errors.js';
import { USER_EVENT_PREFIX } from '../events/wait.js';
import { checkPriority } from '../flow/priority.js';
import type { HistoryEvent, IgnoredReason, InputEvent, SignalEvent } from '../history/events.js';
import { startTiming, validateRunTiming } from './run-timeouts.js';
import { validateMemo, validateSearchAttributes } from './search-attributes.js';
import { CURRENT_ENGINE, type DecisionInput } from './types.js';

/** Prefixes of event types the engine itself feeds to machines; a signal may not use them. */
export const RESERVED_EVENT_PREFIXES: readonly string[] = ['xstate.', 'squall.'];

/** Type of the event a machine receives on cancel when it handles it; otherwise the run ends cancelled. */
export const CANCEL_EVENT_TYPE = 'squall.cancel';

/** Throws InvalidInputError with a message naming the field when `input` is not a DecisionInput. */
export function validateDecisionInput(input: unknown): asserts input is DecisionInput {
  if (typeof input !== 'object' || input === null) throw invalid('a decision input must be an object');
  const i = input as Record<string, unknown>;
  if (typeof i.at !== 'number' || !Number.isFinite(i.at)) {
    throw invalid(`${String(i.kind)} input: at must be a finite millisecond time, got ${describe(i.at)}`);
  }
  switch (i.kind) {
    case 'start':
      requireString(i, 'workflowId', 'start');
      requireString(i, 'runId', 'start');
      if (i.continuedFrom !== undefined) requireString(i, 'continuedFrom', 'start');
      if (
        i.continuedCount !== undefined &&
        !(Number.isSafeInteger(i.continuedCount) && (i.continuedCount as number) >= 0)
      ) {
        throw invalid(`start input: continuedCount must be a non-negative integer, got ${describe(i.continuedCount)}`);
      }
      if (i.parent !== undefined) {
        const p = i.parent as Record<string, unknown> | null;
        if (typeof p !== 'object' || p === null) throw invalid('start input: parent must be an object');
        requireString(p, 'workflowId', 'start parent');
        requireString(p, 'runId', 'start parent');
        requireString(p, 'invokeId', 'start parent');
        requireSeq(p, 'childSeq', 'start parent');
      }
      if (i.engine !== undefined) requireSeq(i, 'engine', 'start');
      if (i.signal !== undefined) validateSignal(i.signal);
      if (i.memo !== undefined) validateMemo(i.memo);
      if (i.searchAttributes !== undefined) validateSearchAttributes(i.searchAttributes);
      if (i.trace !== undefined) requireString(i, 'trace', 'start');
      if (i.priority !== undefined) checkPriority('start.priority', i.priority);
      validateRunTiming(i, 'start input');
      if (i.executionDeadline !== undefined) requireSeq(i, 'executionDeadline', 'start');
      if (i.origin !== undefined) requireOrigin(i.origin, 'start');
      return;
    case 'branched':
      requireOrigin(i.origin, 'branched');
      return;
    case 'activityStarted':
    case 'activityHeartbeat':
      requireSeq(i, 'activitySeq', i.kind);
      requireSeq(i, 'attempt', i.kind);
      return;
    case 'activityCompleted':
      requireSeq(i, 'activitySeq', i.kind);
      if (i.attempt !== undefined) requireSeq(i, 'attempt', i.kind);
      return;
    case 'activityFailed':
      requireSeq(i, 'activitySeq', i.kind);
      if (i.attempt !== undefined) requireSeq(i, 'attempt', i.kind);
      requireErrorInfo(i.error, i.kind);
      if (i.retryAfterMs !== undefined && (typeof i.retryAfterMs !== 'number' || !(i.retryAfterMs >= 0))) {
        throw invalid(`activityFailed input: retryAfterMs must be a number >= 0, got ${describe(i.retryAfterMs)}`);
      }
      return;
    case 'timerFired':
      requireSeq(i, 'timerSeq', i.kind);
      return;
    case 'signal':
      validateSignal(i.event);
      if (i.inputId !== undefined) requireString(i, 'inputId', i.kind);
      if (i.from !== undefined) requireMessageFrom(i.from, 'signal', 'from');
      return;
    case 'cancel':
      if (i.reason !== undefined && typeof i.reason !== 'string') {
        throw invalid(`cancel input: reason must be a string when given, got ${describe(i.reason)}`);
      }
      if (i.inputId !== undefined) requireString(i, 'inputId', i.kind);
      return;
    case 'terminate':
      if (i.reason !== undefined && typeof i.reason !== 'string') {
        throw invalid(`terminate input: reason must be a string when given, got ${describe(i.reason)}`);
      }
      if (i.byParent !== undefined) requireString(i, 'byParent', 'terminate');
      if (i.inputId !== undefined) requireString(i, 'inputId', i.kind);
      return;
    case 'childCompleted':
      requireSeq(i, 'childSeq', i.kind);
      if (i.lastMessage !== undefined) requireMessageFrom(i.lastMessage, i.kind, 'lastMessage');
      return;
    case 'childFailed':
      requireSeq(i, 'childSeq', i.kind);
      requireErrorInfo(i.error, i.kind);
      if (i.lastMessage !== undefined) requireMessageFrom(i.lastMessage, i.kind, 'lastMessage');
      return;
    case 'callbackCompleted':
      requireSeq(i, 'callbackSeq', i.kind);
      return;
    case 'callbackFailed':
      requireSeq(i, 'callbackSeq', i.kind);
      requireErrorInfo(i.error, i.kind);
      return;
    case 'callbackHeartbeat':
      requireSeq(i, 'callbackSeq', i.kind);
      return;
    default:
      throw invalid(`unknown decision input kind ${describe(i.kind)}`);
  }
}

/** Throws InvalidInputError unless `event` is an XState event a user may send: `{ type, ...data }`. */
export function validateSignal(event: unknown): asserts event is SignalEvent {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw invalid(`signal must be an event object { type, ...data }, got ${describe(event)}`);
  }
  const type = (event as { type?: unknown }).type;
  if (typeof type !== 'string' || type.length === 0) {
    throw invalid(`signal must have a non-empty string type, got ${describe(type)}`);
  }
  const reserved = RESERVED_EVENT_PREFIXES.find((p) => type.startsWith(p));
  // User events by key reach a run as signals the fan-out sends (docs/events.md).
  if (reserved && !type.startsWith(USER_EVENT_PREFIX))
    throw invalid(`signal type ${JSON.stringify(type)} is reserved: types starting '${reserved}' are the engine's`);
}

/** The history event recording `input`, with the extra markers the decision set. */
export function inputEvent(
  input: DecisionInput,
  workflowType: string,
  version: number,
  marks: { ignored?: IgnoredReason; deferred?: boolean; held?: boolean } = {},
): InputEvent {
  const { at } = input;
  switch (input.kind) {
    case 'start':
      return defined({
        type: 'RunStarted',
        at,
        workflowType,
        version,
        workflowId: input.workflowId,
        runId: input.runId,
        input: input.input,
        parent: input.parent,
        continuedFrom: input.continuedFrom,
        continuedCount: input.continuedCount,
        engine: (input.engine ?? CURRENT_ENGINE) === 1 ? undefined : (input.engine ?? CURRENT_ENGINE),
        signal: input.signal,
        memo: input.memo,
        searchAttributes: input.searchAttributes,
        priority: input.priority,
        trace: input.trace,
        origin: input.origin,
        ...startTiming(at, input),
      });
    case 'branched':
      return { type: 'RunBranched', at, origin: input.origin };
    case 'activityStarted':
      return defined({
        type: 'ActivityStarted',
        at,
        activitySeq: input.activitySeq,
        attempt: input.attempt,
        ignored: marks.ignored,
      });
    case 'activityHeartbeat':
      return defined({
        type: 'ActivityHeartbeat',
        at,
        activitySeq: input.activitySeq,
        attempt: input.attempt,
        details: input.details,
        ignored: marks.ignored,
      });
    case 'activityCompleted':
      return defined({
        type: 'ActivityCompleted',
        at,
        activitySeq: input.activitySeq,
        output: input.output,
        attempt: input.attempt,
        ignored: marks.ignored,
      });
    case 'activityFailed':
      return defined({
        type: 'ActivityFailed',
        at,
        activitySeq: input.activitySeq,
        error: input.error,
        attempt: input.attempt,
        retryAfterMs: input.retryAfterMs,
        heartbeat: input.heartbeat,
        ignored: marks.ignored,
      });
    case 'timerFired':
      return defined({ type: 'TimerFired', at, timerSeq: input.timerSeq, ignored: marks.ignored });
    case 'signal':
      return defined({
        type: 'SignalReceived',
        at,
        signal: input.event,
        deferred: marks.deferred,
        ignored: marks.ignored,
        held: marks.held,
        inputId: input.inputId,
        from: input.from,
      });
    case 'cancel':
      return defined({ type: 'CancelRequested', at, reason: input.reason, inputId: input.inputId });
    case 'terminate':
      return defined({
        type: 'TerminateRequested',
        at,
        reason: input.reason,
        byParent: input.byParent,
        inputId: input.inputId,
      });
    case 'childCompleted':
      return defined({
        type: 'ChildCompleted',
        at,
        childSeq: input.childSeq,
        output: input.output,
        ignored: marks.ignored,
        lastMessage: input.lastMessage,
        held: marks.held,
      });
    case 'childFailed':
      return defined({
        type: 'ChildFailed',
        at,
        childSeq: input.childSeq,
        error: input.error,
        ignored: marks.ignored,
        lastMessage: input.lastMessage,
        held: marks.held,
      });
    case 'callbackCompleted':
      return defined({
        type: 'CallbackCompleted',
        at,
        callbackSeq: input.callbackSeq,
        output: input.output,
        ignored: marks.ignored,
      });
    case 'callbackFailed':
      return defined({
        type: 'CallbackFailed',
        at,
        callbackSeq: input.callbackSeq,
        error: input.error,
        ignored: marks.ignored,
      });
    case 'callbackHeartbeat':
      return defined({ type: 'CallbackHeartbeat', at, callbackSeq: input.callbackSeq, ignored: marks.ignored });
  }
}

/** Turns a commit's first event back into the input decide() took; CorruptHistoryError otherwise. */
export function inputFromEvent(event: HistoryEvent): DecisionInput {
  switch (event.type) {
    case 'RunStarted':
      return defined({
        kind: 'start',
        at: event.at,
        workflowId: event.workflowId,
        runId: event.runId,
        input: event.input,
        parent: event.parent,
        continuedFrom: event.continuedFrom,
        continuedCount: event.continuedCount,
        // A history without the field was recorded before activity policies: replay it as it ran.
        engine: event.engine ?? 1,
        signal: event.signal,
        memo: event.memo,
        searchAttributes: event.searchAttributes,
        priority: event.priority,
        trace: event.trace,
        origin: event.origin,
        runTimeoutMs: event.runTimeoutMs,
        executionDeadline: event.executionDeadline,
        retentionMs: event.retentionMs,
      });
    case 'RunBranched':
      return { kind: 'branched', at: event.at, origin: event.origin };
    case 'ActivityStarted':
      return { kind: 'activityStarted', at: event.at, activitySeq: event.activitySeq, attempt: event.attempt };
    case 'ActivityHeartbeat':
      return defined({
        kind: 'activityHeartbeat',
        at: event.at,
        activitySeq: event.activitySeq,
        attempt: event.attempt,
        details: event.details,
      });
    case 'ActivityCompleted':
      return defined({
        kind: 'activityCompleted',
        at: event.at,
        activitySeq: event.activitySeq,
        output: event.output,
        attempt: event.attempt,
      });
    case 'ActivityFailed':
      return defined({
        kind: 'activityFailed',
        at: event.at,
        activitySeq: event.activitySeq,
        error: event.error,
        attempt: event.attempt,
        retryAfterMs: event.retryAfterMs,
        heartbeat: event.heartbeat,
      });
    case 'TimerFired':
      return { kind: 'timerFired', at: event.at, timerSeq: event.timerSeq };
    case 'SignalReceived':
      return defined({ kind: 'signal', at: event.at, event: event.signal, inputId: event.inputId, from: event.from });
    case 'CancelRequested':
      return defined({ kind: 'cancel', at: event.at, reason: event.reason, inputId: event.inputId });
    case 'TerminateRequested':
      return defined({
        kind: 'terminate',
        at: event.at,
        reason: event.reason,
        byParent: event.byParent,
        inputId: event.inputId,
      });
    case 'ChildCompleted':
      return defined({
        kind: 'childCompleted',
        at: event.at,
        childSeq: event.childSeq,
        output: event.output,
        lastMessage: event.lastMessage,
      });
    case 'ChildFailed':
      return defined({
        kind: 'childFailed',
        at: event.at,
        childSeq: event.childSeq,
        error: event.error,
        lastMessage: event.lastMessage,
      });
    case 'CallbackCompleted':
      return defined({ kind: 'callbackCompleted', at: event.at, callbackSeq: event.callbackSeq, output: event.output });
    case 'CallbackFailed':
      return { kind: 'callbackFailed', at: event.at, callbackSeq: event.callbackSeq, error: event.error };
    case 'CallbackHeartbeat':
      return { kind: 'callbackHeartbeat', at: event.at, callbackSeq: event.callbackSeq };
    default:
      throw new CorruptHistoryError(`a commit must open with an input event, found ${event.type}`, {
        details: { eventType: event.type },
      });
  }
}

/** Drops keys whose value is undefined, so events stay small and compare equal after a round trip. */
function defined<T extends object>(value: T): T {
  const out = {} as T;
  for (const key of Object.keys(value) as (keyof T)[]) {
    if (value[key] !== undefined) out[key] = value[key];
  }
  return out;
}

function invalid(message: string): InvalidInputError {
  return new InvalidInputError(message);
}

function requireString(obj: Record<string, unknown>, key: string, what: string): void {
  const v = obj[key];
  if (typeof v !== 'string' || v.length === 0)
    throw invalid(`${what} input: ${key} must be a non-empty string, got ${describe(v)}`);
}

function requireSeq(obj: Record<string, unknown>, key: string, what: string): void {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw invalid(`${what} input: ${key} must be a positive integer, got ${describe(v)}`);
  }
}

/** Checks where a branched, reset or resumed run came from (RunOrigin). */
function requireOrigin(value: unknown, what: string): void {
  if (typeof value !== 'object' || value === null) throw invalid(`${what} input: origin must be an object`);
  const o = value as Record<string, unknown>;
  if (o.kind !== 'branch' && o.kind !== 'reset' && o.kind !== 'resume') {
    throw invalid(`${what} input: origin.kind must be branch, reset or resume, got ${describe(o.kind)}`);
  }
  requireString(o, 'workflowId', `${what} origin`);
  requireString(o, 'runId', `${what} origin`);
  requireSeq(o, 'atSeq', `${what} origin`);
}

/** Checks a message's sender (`from` of a signal, `lastMessage` of a child result). */
function requireMessageFrom(value: unknown, what: string, key: string): void {
  const f = value as Record<string, unknown> | null;
  if (typeof f !== 'object' || f === null) throw invalid(`${what} input: ${key} must be an object`);
  requireString(f, 'workflowId', `${what} ${key}`);
  requireString(f, 'runId', `${what} ${key}`);
  requireSeq(f, 'msgSeq', `${what} ${key}`);
}

function requireErrorInfo(value: unknown, what: string): asserts value is ErrorInfo {
  const e = value as { name?: unknown; message?: unknown } | null;
  if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || typeof e.message !== 'string') {
    throw invalid(`${what} input: error must be an ErrorInfo { name, message }, got ${describe(value)}`);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value;
}
