/**
 * Callbacks: a run waits for an outside system that completes or fails it with a token. Invoking
 * a `callback()` actor records `CallbackCreated` with a token derived from the run and the
 * callback's engine sequence, and sends the machine `{ type: 'squall.callback', id, token }` so it
 * can hand the token out (e.g. to an activity that emails a link). The invoke finishes with
 * `xstate.done.actor.<id>` (the output sent) or `xstate.error.actor.<id>` (the error sent, or a
 * TimeoutError when the optional durable timeout fires first, or when no heartbeat came within
 * the optional heartbeat window). Leaving the state cancels it.
 */

import type { ErrorInfo } from '../errors.js';
import { InvalidInputError } from '../errors.js';
import type { Millis, SignalEvent } from '../history/events.js';
import { type ActionTarget, actorResult } from './action-target.js';
import { type ActivityLogic, placeholderActivityLogic } from './definition.js';
import type { PendingCallback, RunState } from './types.js';

/** Type of the event that hands a new callback's token to the machine. */
export const CALLBACK_EVENT = 'squall.callback';

/** The event a machine receives when a callback it invoked is created. */
export interface CallbackEvent {
  type: typeof CALLBACK_EVENT;
  /** The invoke id of the callback. */
  id: string;
  token: string;
}

/** Options of `callback()`. */
export interface CallbackOptions {
  /** Fail the invoke with a TimeoutError after this long (a durable timer). @default no timeout */
  timeoutMs?: number;
  /**
   * Fail the invoke with a TimeoutError when the outside system sends no heartbeat
   * (`client.heartbeatCallback(token)`) for this long, counted from creation and then from each
   * heartbeat (a durable timer, re-armed by each). @default no heartbeat needed
   */
  heartbeatTimeoutMs?: number;
}

/** Placeholder logic of a callback, typed with the output the outside system sends. */
export interface CallbackLogic<TOutput = unknown> extends ActivityLogic<unknown, TOutput> {
  readonly squallCallback: CallbackOptions;
}

/**
 * Declares a callback inside `setup({ actors: { approval: callback<Approval>({ timeoutMs }) } })`.
 * `invoke: { src: 'approval' }` then waits for `client.completeCallback(token, output)`; an invoke
 * `input` with a numeric `timeoutMs` or `heartbeatTimeoutMs` overrides the option for that invoke.
 */
export function callback<TOutput = unknown>(options: CallbackOptions = {}): CallbackLogic<TOutput> {
  checkTimeout(options.timeoutMs, 'callback()');
  checkTimeout(options.heartbeatTimeoutMs, 'callback()', 'heartbeatTimeoutMs');
  return Object.freeze({
    ...placeholderActivityLogic,
    squallCallback: { ...options },
  }) as unknown as CallbackLogic<TOutput>;
}

/** The callback options of an actor logic made by `callback()`, else undefined. */
export function callbackOptionsOf(logic: unknown): CallbackOptions | undefined {
  const o = (logic as { squallCallback?: CallbackOptions } | undefined)?.squallCallback;
  return typeof o === 'object' && o !== null ? o : undefined;
}

function checkTimeout(value: unknown, where: string, name = 'timeoutMs'): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new InvalidInputError(`${where}: ${name} must be a positive number of ms, got ${String(value)}`);
  }
}

const TOKEN_PREFIX = 'cb1_';

/** The token of callback `callbackSeq` of a run: opaque to users, derived only from history. */
export function callbackToken(workflowId: string, runId: string, callbackSeq: number): string {
  return TOKEN_PREFIX + Buffer.from(JSON.stringify([workflowId, runId, callbackSeq])).toString('base64url');
}

/** What a token names. Throws InvalidInputError (reason `invalid-input`) for anything else. */
export function parseCallbackToken(token: unknown): { workflowId: string; runId: string; callbackSeq: number } {
  const bad = (why: string): never => {
    throw new InvalidInputError(`invalid callback token: ${why}`, { details: { reason: 'invalid-input' } });
  };
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX) || token.length > 2048) {
    return bad(`expected a string starting ${TOKEN_PREFIX}, as handed to the workflow`);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return bad('it does not decode');
  }
  if (
    !Array.isArray(v) ||
    typeof v[0] !== 'string' ||
    typeof v[1] !== 'string' ||
    !Number.isSafeInteger(v[2]) ||
    (v[2] as number) < 1
  ) {
    return bad('it does not name a callback');
  }
  return { workflowId: v[0], runId: v[1], callbackSeq: v[2] as number };
}

/** True when an invoked `src` names an actor declared with `callback()`. */
export function isCallbackSrc(callbacks: Readonly<Record<string, CallbackOptions>> | undefined, src: unknown) {
  return typeof src === 'string' && callbacks !== undefined && Object.hasOwn(callbacks, src);
}

/** Records a new callback for invoke `id` and sends the machine its token. */
export function createCallback(options: CallbackOptions, id: string, input: unknown, target: ActionTarget): void {
  const { state, at } = target;
  const overrides = input as { timeoutMs?: unknown; heartbeatTimeoutMs?: unknown } | undefined;
  checkTimeout(overrides?.timeoutMs, `callback invoke ${id}`);
  checkTimeout(overrides?.heartbeatTimeoutMs, `callback invoke ${id}`, 'heartbeatTimeoutMs');
  const timeoutMs = (overrides?.timeoutMs as number | undefined) ?? options.timeoutMs;
  const heartbeatTimeoutMs = (overrides?.heartbeatTimeoutMs as number | undefined) ?? options.heartbeatTimeoutMs;
  const callbackSeq = state.nextSeq++;
  const token = callbackToken(state.workflowId, state.runId, callbackSeq);
  const pending: PendingCallback = { callbackSeq, invokeId: id, token, createdAt: at };
  const created: Extract<ActionTarget['events'][number], { type: 'CallbackCreated' }> = {
    type: 'CallbackCreated',
    at,
    callbackSeq,
    invokeId: id,
    token,
  };
  target.events.push(created);
  if (timeoutMs !== undefined) {
    created.timeoutMs = timeoutMs;
    const timer = scheduleCallbackTimer(target, callbackSeq, 'timeout', timeoutMs);
    pending.timerSeq = timer.timerSeq;
    pending.fireAt = timer.fireAt;
  }
  if (heartbeatTimeoutMs !== undefined) {
    created.heartbeatTimeoutMs = heartbeatTimeoutMs;
    pending.heartbeatTimeoutMs = heartbeatTimeoutMs;
    pending.heartbeat = scheduleCallbackTimer(target, callbackSeq, 'heartbeat', heartbeatTimeoutMs);
  }
  state.callbacks = { ...state.callbacks, [id]: pending };
  const event: CallbackEvent = { type: CALLBACK_EVENT, id, token };
  target.selfEvents.push(event as unknown as SignalEvent);
}

/** Arms one of a callback's durable timers: its overall timeout or its heartbeat window. */
function scheduleCallbackTimer(
  target: ActionTarget,
  callbackSeq: number,
  purpose: 'timeout' | 'heartbeat',
  delayMs: number,
): { timerSeq: number; fireAt: Millis } {
  const timerSeq = target.state.nextSeq++;
  const fireAt: Millis = target.at + delayMs;
  target.events.push({
    type: 'TimerScheduled',
    at: target.at,
    timerSeq,
    sendId: `squall.callback.${callbackSeq}.${purpose}`,
    delayMs,
    fireAt,
  });
  target.commands.push({ kind: 'scheduleTimer', timerSeq, fireAt });
  return { timerSeq, fireAt };
}

function cancelTimer(target: ActionTarget, timerSeq: number): void {
  target.events.push({ type: 'TimerCancelled', at: target.at, timerSeq });
  target.commands.push({ kind: 'cancelTimer', timerSeq });
}

/**
 * An outside system's heartbeat reached pending callback `cb`: its heartbeat window starts again
 * (the old timer cancelled, a new one armed). A callback without a window only records it.
 */
export function heartbeatCallback(target: ActionTarget, cb: PendingCallback): void {
  if (cb.heartbeatTimeoutMs === undefined || cb.heartbeat === undefined) return;
  cancelTimer(target, cb.heartbeat.timerSeq);
  const heartbeat = scheduleCallbackTimer(target, cb.callbackSeq, 'heartbeat', cb.heartbeatTimeoutMs);
  target.state.callbacks = { ...target.state.callbacks, [cb.invokeId]: { ...cb, heartbeat } };
}

/** The pending callback with this sequence number. */
export function pendingCallback(state: RunState, callbackSeq: number): PendingCallback | undefined {
  return Object.values(state.callbacks ?? {}).find((c) => c.callbackSeq === callbackSeq);
}

/** Forgets a pending callback and cancels its live timers but `fired` (the one that just fired). */
function remove(target: ActionTarget, cb: PendingCallback, fired?: number): void {
  const { [cb.invokeId]: _gone, ...rest } = target.state.callbacks ?? {};
  target.state.callbacks = rest;
  for (const timerSeq of [cb.timerSeq, cb.heartbeat?.timerSeq]) {
    if (timerSeq !== undefined && timerSeq !== fired) cancelTimer(target, timerSeq);
  }
}

/** A completion or failure reached a pending callback: the event the machine gets for it. */
export function settleCallback(
  target: ActionTarget,
  cb: PendingCallback,
  result: { output: unknown } | { error: ErrorInfo },
): SignalEvent {
  remove(target, cb);
  return actorResult(cb.invokeId, result);
}

/**
 * A timer fired: if it is a callback's timeout or heartbeat window, records CallbackTimedOut and
 * returns the machine's error event (a TimeoutError; `details.timeoutType` says which).
 */
export function callbackTimerFired(target: ActionTarget, timerSeq: number): SignalEvent | undefined {
  const cb = Object.values(target.state.callbacks ?? {}).find(
    (c) => c.timerSeq === timerSeq || c.heartbeat?.timerSeq === timerSeq,
  );
  if (!cb) return undefined;
  remove(target, cb, timerSeq);
  const heartbeat = cb.heartbeat?.timerSeq === timerSeq;
  const what = `callback ${cb.invokeId} (seq ${cb.callbackSeq})`;
  const message = heartbeat
    ? `${what} got no heartbeat within ${cb.heartbeatTimeoutMs} ms`
    : `${what} was not completed within ${(cb.fireAt ?? 0) - cb.createdAt} ms`;
  const error: ErrorInfo = {
    name: 'TimeoutError',
    message,
    code: 'TIMEOUT',
    retryable: false,
    details: { callbackSeq: cb.callbackSeq, invokeId: cb.invokeId, ...(heartbeat ? { timeoutType: 'heartbeat' } : {}) },
  };
  target.events.push({ type: 'CallbackTimedOut', at: target.at, callbackSeq: cb.callbackSeq, error });
  return actorResult(cb.invokeId, { error });
}

/** The machine left the invoking state (or the run ended): the callback can no longer complete. */
export function cancelCallback(id: string | undefined, target: ActionTarget): void {
  const cb = id === undefined ? undefined : target.state.callbacks?.[id];
  if (!cb) return;
  target.events.push({ type: 'CallbackCancelled', at: target.at, callbackSeq: cb.callbackSeq });
  remove(target, cb);
}

/** Cancels every pending callback, in creation order (the run is closing). */
export function cancelAllCallbacks(target: ActionTarget): void {
  const all = Object.values(target.state.callbacks ?? {}).sort((a, b) => a.callbackSeq - b.callbackSeq);
  for (const cb of all) cancelCallback(cb.invokeId, target);
}
