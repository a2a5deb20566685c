/**
 * Callbacks: a run waits for an outside system that completes or fails it with a token. Invoking
 * a `callback()` actor records `CallbackCreated` with a token derived from the run and the
 * callback's engine sequence, and sends the machine `{ type: 'squall.callback', id, token }` so it
 * can hand the token out (e.g. to an activity that emails a link). The invoke finishes with
 * `xstate.done.actor.<id>` (the output sent) or `xstate.error.actor.<id>` (the error sent, or a
 * TimeoutError when the optional durable timeout fires first). Leaving the state cancels it.
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
}

/** Placeholder logic of a callback, typed with the output the outside system sends. */
export interface CallbackLogic<TOutput = unknown> extends ActivityLogic<unknown, TOutput> {
  readonly squallCallback: CallbackOptions;
}

/**
 * Declares a callback inside `setup({ actors: { approval: callback<Approval>({ timeoutMs }) } })`.
 * `invoke: { src: 'approval' }` then waits for `client.completeCallback(token, output)`; an invoke
 * `input` with a numeric `timeoutMs` overrides the option for that invoke.
 */
export function callback<TOutput = unknown>(options: CallbackOptions = {}): CallbackLogic<TOutput> {
  checkTimeout(options.timeoutMs, 'callback()');
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

function checkTimeout(value: unknown, where: string): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new InvalidInputError(`${where}: timeoutMs must be a positive number of ms, got ${String(value)}`);
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
  const override = (input as { timeoutMs?: unknown } | undefined)?.timeoutMs;
  if (override !== undefined) checkTimeout(override, `callback invoke ${id}`);
  const timeoutMs = (override as number | undefined) ?? options.timeoutMs;
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
  if (timeoutMs !== undefined) {
    const timerSeq = state.nextSeq++;
    const fireAt: Millis = at + timeoutMs;
    pending.timerSeq = timerSeq;
    pending.fireAt = fireAt;
    created.timeoutMs = timeoutMs;
    target.events.push(created, {
      type: 'TimerScheduled',
      at,
      timerSeq,
      sendId: `squall.callback.${callbackSeq}.timeout`,
      delayMs: timeoutMs,
      fireAt,
    });
    target.commands.push({ kind: 'scheduleTimer', timerSeq, fireAt });
  } else {
    target.events.push(created);
  }
  state.callbacks = { ...state.callbacks, [id]: pending };
  const event: CallbackEvent = { type: CALLBACK_EVENT, id, token };
  target.selfEvents.push(event as unknown as SignalEvent);
}

/** The pending callback with this sequence number. */
export function pendingCallback(state: RunState, callbackSeq: number): PendingCallback | undefined {
  return Object.values(state.callbacks ?? {}).find((c) => c.callbackSeq === callbackSeq);
}

/** Forgets a pending callback and cancels its timeout timer. */
function remove(target: ActionTarget, cb: PendingCallback, cancelTimer: boolean): void {
  const { [cb.invokeId]: _gone, ...rest } = target.state.callbacks ?? {};
  target.state.callbacks = rest;
  if (cancelTimer && cb.timerSeq !== undefined) {
    target.events.push({ type: 'TimerCancelled', at: target.at, timerSeq: cb.timerSeq });
    target.commands.push({ kind: 'cancelTimer', timerSeq: cb.timerSeq });
  }
}

/** A completion or failure reached a pending callback: the event the machine gets for it. */
export function settleCallback(
  target: ActionTarget,
  cb: PendingCallback,
  result: { output: unknown } | { error: ErrorInfo },
): SignalEvent {
  remove(target, cb, true);
  return actorResult(cb.invokeId, result);
}

/** A timer fired: if it is a callback's timeout, records it and returns the machine's error event. */
export function callbackTimerFired(target: ActionTarget, timerSeq: number): SignalEvent | undefined {
  const cb = Object.values(target.state.callbacks ?? {}).find((c) => c.timerSeq === timerSeq);
  if (!cb) return undefined;
  remove(target, cb, false);
  const error: ErrorInfo = {
    name: 'TimeoutError',
    message: `callback ${cb.invokeId} (seq ${cb.callbackSeq}) was not completed within ${(cb.fireAt ?? 0) - cb.createdAt} ms`,
    code: 'TIMEOUT',
    retryable: false,
    details: { callbackSeq: cb.callbackSeq, invokeId: cb.invokeId },
  };
  target.events.push({ type: 'CallbackTimedOut', at: target.at, callbackSeq: cb.callbackSeq, error });
  return actorResult(cb.invokeId, { error });
}

/** The machine left the invoking state (or the run ended): the callback can no longer complete. */
export function cancelCallback(id: string | undefined, target: ActionTarget): void {
  const cb = id === undefined ? undefined : target.state.callbacks?.[id];
  if (!cb) return;
  target.events.push({ type: 'CallbackCancelled', at: target.at, callbackSeq: cb.callbackSeq });
  remove(target, cb, true);
}

/** Cancels every pending callback, in creation order (the run is closing). */
export function cancelAllCallbacks(target: ActionTarget): void {
  const all = Object.values(target.state.callbacks ?? {}).sort((a, b) => a.callbackSeq - b.callbackSeq);
  for (const cb of all) cancelCallback(cb.invokeId, target);
}
