/**
 * Flow-control options as data, and their checks: debounce and singleton on a start,
 * concurrency keys and rate limits on an activity. Every check throws InvalidInputError naming
 * the bad field, on the caller's side (client, defineActivity) and again where the option is read
 * (router, executor), so a bad value never travels far.
 */
import { InvalidInputError } from '../errors.js';

/** Start option: only the last start with `key` within `windowMs` runs; earlier ones are superseded. */
export interface DebounceOption {
  /** Starts of one workflow type with equal keys debounce each other. */
  key: string;
  /** Quiet time after the last start before it runs, in ms (1 to 3_600_000). */
  windowMs: number;
}

/** What a singleton start does while a run with its key is open. */
export type SingletonMode = 'skip' | 'queue';

/** Start option: at most one open run per `key` of a workflow type. */
export interface SingletonOption {
  key: string;
  /** `skip`: the start is refused (StartSkippedError); `queue`: it starts once the open run closes. */
  mode: SingletonMode;
}

/** Activity option (executor side): at most `limit` tasks per key running at once, across executors. */
export interface ConcurrencyOption<I = unknown> {
  /** The key of a task, from its input; a throw fails the task (non-retryable). @default one key for all */
  key?(input: I): string;
  /** Most tasks of one key running at once (integer >= 1). */
  limit: number;
}

/** Activity option (executor side): at most `limit` task starts per `periodMs` (per key), smoothed. */
export interface RateLimitOption<I = unknown> {
  /** The key of a task, from its input (as for concurrency). @default one key for all */
  key?(input: I): string;
  /** Starts per period (integer >= 1). */
  limit: number;
  /** Period in ms (>= 1). */
  periodMs: number;
}

/** Longest key accepted, in characters. */
export const MAX_FLOW_KEY_LENGTH = 256;
/** Longest debounce window. */
export const MAX_DEBOUNCE_WINDOW_MS = 3_600_000;
const MODES: ReadonlySet<string> = new Set<SingletonMode>(['skip', 'queue']);

function bad(where: string, message: string, value?: unknown): InvalidInputError {
  return new InvalidInputError(`${where}: ${message}`, {
    details: { field: where, ...(value !== undefined ? { value: safeValue(value) } : {}) },
  });
}

function safeValue(v: unknown): unknown {
  return typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' ? v : typeof v;
}

function record(where: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(where, 'must be an object');
  return v as Record<string, unknown>;
}

/** Checks a flow key (a non-empty string of at most MAX_FLOW_KEY_LENGTH characters). */
export function checkFlowKey(where: string, v: unknown): string {
  if (typeof v !== 'string') throw bad(where, `must be a string, got ${v === null ? 'null' : typeof v}`);
  if (v.length === 0) throw bad(where, 'must not be empty');
  if (v.length > MAX_FLOW_KEY_LENGTH)
    throw bad(where, `is ${v.length} characters long; the limit is ${MAX_FLOW_KEY_LENGTH}`);
  return v;
}

function integerAtLeast(where: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw bad(where, `must be an integer from ${min} to ${max}, got ${String(v)}`, v);
  }
  return v;
}

function onlyFields(where: string, o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw bad(where, `unknown field ${JSON.stringify(k)} (known: ${allowed.join(', ')})`);
  }
}

/** Checks a start's `debounce` option. */
export function parseDebounce(v: unknown, where = 'start.debounce'): DebounceOption {
  const o = record(where, v);
  onlyFields(where, o, ['key', 'windowMs']);
  return {
    key: checkFlowKey(`${where}.key`, o.key),
    windowMs: integerAtLeast(`${where}.windowMs`, o.windowMs, 1, MAX_DEBOUNCE_WINDOW_MS),
  };
}

/** Checks a start's `singleton` option. */
export function parseSingleton(v: unknown, where = 'start.singleton'): SingletonOption {
  const o = record(where, v);
  onlyFields(where, o, ['key', 'mode']);
  if (typeof o.mode !== 'string' || !MODES.has(o.mode)) {
    throw bad(`${where}.mode`, `must be one of ${[...MODES].join(', ')}, got ${JSON.stringify(o.mode)}`, o.mode);
  }
  return { key: checkFlowKey(`${where}.key`, o.key), mode: o.mode as SingletonMode };
}

/** Checks an activity's `concurrency` option. */
export function checkConcurrency(v: unknown, where: string): ConcurrencyOption {
  const o = record(where, v);
  onlyFields(where, o, ['key', 'limit']);
  if (o.key !== undefined && typeof o.key !== 'function')
    throw bad(`${where}.key`, 'must be a function (input) => string');
  integerAtLeast(`${where}.limit`, o.limit, 1);
  return o as unknown as ConcurrencyOption;
}

/** Checks an activity's `rateLimit` option. */
export function checkRateLimit(v: unknown, where: string): RateLimitOption {
  const o = record(where, v);
  onlyFields(where, o, ['key', 'limit', 'periodMs']);
  if (o.key !== undefined && typeof o.key !== 'function')
    throw bad(`${where}.key`, 'must be a function (input) => string');
  integerAtLeast(`${where}.limit`, o.limit, 1);
  integerAtLeast(`${where}.periodMs`, o.periodMs, 1);
  return o as unknown as RateLimitOption;
}

/**
 * The key of a task from its option's key function: InvalidInputError (not retryable) naming the
 * activity when the function throws or returns something other than a valid key.
 */
export function flowKeyOf(fn: ((input: unknown) => string) | undefined, input: unknown, where: string): string {
  if (fn === undefined) return '*';
  let key: unknown;
  try {
    key = fn(input);
  } catch (err) {
    throw new InvalidInputError(`${where}.key threw: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
      retryable: false,
      details: { field: `${where}.key` },
    });
  }
  return checkFlowKey(`${where}.key(input)`, key);
}

/** The flow options a start carries. */
export interface StartFlow {
  debounce?: DebounceOption;
  singleton?: SingletonOption;
}
