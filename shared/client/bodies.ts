/**
 * Request bodies of the run-lifecycle calls (start options, callback completions), checked
 * before anything is sent so a bad value fails with InvalidInputError on the caller's side.
 */
import { parseCallbackToken } from '../engine/callback.js';
import { validateRunTiming } from '../engine/run-timeouts.js';
import { validateMemo, validateSearchAttributes } from '../engine/search-attributes.js';
import { InvalidInputError, toErrorInfo } from '../errors.js';
import { checkPriority } from '../flow/priority.js';
import { parseDebounce, parseSingleton } from '../flow/spec.js';
import type { StartOptions } from './types.js';

/** The error a callback is failed with, as `failCallback` accepts it. */
export type CallbackFailure = Error | string | { message: string; name?: string; code?: string; details?: unknown };

/** The body of a start request (`signal` is added by signal-with-start). */
export function startBody(
  workflowId: string,
  input: unknown,
  opts: Omit<StartOptions, 'workflowId'>,
): Record<string, unknown> {
  const body: Record<string, unknown> = { workflowId };
  if (input !== undefined) body.input = input;
  if (opts.idReusePolicy !== undefined) body.idReusePolicy = opts.idReusePolicy;
  if (opts.memo !== undefined) body.memo = validateMemo(opts.memo);
  if (opts.searchAttributes !== undefined) body.searchAttributes = validateSearchAttributes(opts.searchAttributes);
  Object.assign(body, validateRunTiming(opts as Record<string, unknown>, 'start'));
  if (opts.debounce !== undefined) body.debounce = parseDebounce(opts.debounce, 'debounce');
  if (opts.singleton !== undefined) body.singleton = parseSingleton(opts.singleton, 'singleton');
  if (opts.priority !== undefined) body.priority = checkPriority('priority', opts.priority);
  return body;
}

/** The body of `callback.complete`. */
export function completeCallbackBody(token: string, output: unknown): Record<string, unknown> {
  parseCallbackToken(token);
  return output === undefined ? { token } : { token, output };
}

/** The body of `callback.heartbeat`. */
export function heartbeatCallbackBody(token: string): Record<string, unknown> {
  parseCallbackToken(token);
  return { token };
}

/** The body of `callback.fail`: the error as `{ name, message, code?, details? }`, without a stack. */
export function failCallbackBody(token: string, error: CallbackFailure): Record<string, unknown> {
  parseCallbackToken(token);
  let info: { name?: unknown; message?: unknown; code?: unknown; details?: unknown };
  if (typeof error === 'string') info = { name: 'Error', message: error };
  else if (error instanceof Error) info = toErrorInfo(error);
  else info = (typeof error === 'object' && error !== null ? error : {}) as typeof info;
  if (typeof info.message !== 'string') {
    throw new InvalidInputError('failCallback needs an Error, a message string or { message, name?, code? }');
  }
  const out: Record<string, unknown> = {
    name: typeof info.name === 'string' ? info.name : 'Error',
    message: info.message,
  };
  if (typeof info.code === 'string') out.code = info.code;
  if (info.details !== undefined) out.details = info.details;
  return { token, error: out };
}
