/**
 * Memo and search attributes of a run: the checks both go through (at start, and when the
 * machine upserts attributes), and `upsertSearchAttributes`, the action a machine uses to set
 * attributes while it runs. Search attributes are stored as plain fields of the run summary, so
 * `list({ where })` can match them; the memo is stored as given and returned by describe.
 */
import { emit } from 'xstate';
import { InvalidInputError } from '../errors.js';
import type { SearchAttributes, SearchAttributeValue } from '../history/events.js';

/** Type of the event `upsertSearchAttributes` emits; decide() turns it into SearchAttributesUpserted. */
export const SEARCH_ATTRIBUTES_EVENT = 'squall.searchAttributes';

/** A key: a letter, then letters, digits or `_`; at most 64 characters (safe as a MongoDB field). */
const KEY_RE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** Most attributes one run holds. */
export const MAX_SEARCH_ATTRIBUTES = 32;
/** Longest string value of an attribute. */
export const MAX_SEARCH_ATTRIBUTE_STRING = 256;
/** Largest JSON encoding of a run's whole attribute map, in bytes. */
export const MAX_SEARCH_ATTRIBUTES_BYTES = 4096;
/** Largest JSON encoding of a memo, in bytes. */
export const MAX_MEMO_BYTES = 8192;

function invalid(message: string, details: Record<string, unknown> = {}): InvalidInputError {
  return new InvalidInputError(message, { details: { reason: 'invalid-input', ...details } });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * Returns `value` as SearchAttributes, or throws InvalidInputError naming the bad key or value:
 * a flat object of at most 32 keys (`[A-Za-z][A-Za-z0-9_]*`, ≤ 64 chars) whose values are strings
 * (≤ 256 chars), finite numbers or booleans, ≤ 4 KiB as JSON.
 */
export function validateSearchAttributes(value: unknown, what = 'searchAttributes'): SearchAttributes {
  if (!isPlainObject(value)) {
    throw invalid(`${what} must be a flat object { key: string | number | boolean }, got ${describe(value)}`);
  }
  const keys = Object.keys(value);
  if (keys.length > MAX_SEARCH_ATTRIBUTES) {
    throw invalid(`${what} has ${keys.length} keys; the limit is ${MAX_SEARCH_ATTRIBUTES}`, { keys: keys.length });
  }
  for (const key of keys) {
    if (!KEY_RE.test(key)) {
      throw invalid(
        `${what} key ${JSON.stringify(key)} is invalid: use a letter, then letters, digits or '_' (at most 64)`,
        { key },
      );
    }
    checkValue(value[key], `${what}.${key}`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_SEARCH_ATTRIBUTES_BYTES) {
    throw invalid(`${what} is ${bytes} bytes as JSON; the limit is ${MAX_SEARCH_ATTRIBUTES_BYTES}`, { bytes });
  }
  return value as SearchAttributes;
}

function checkValue(v: unknown, where: string): asserts v is SearchAttributeValue {
  if (typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw invalid(`${where} must be a finite number, got ${String(v)}`);
    return;
  }
  if (typeof v === 'string') {
    if (v.length > MAX_SEARCH_ATTRIBUTE_STRING) {
      throw invalid(`${where} is ${v.length} characters long; the limit is ${MAX_SEARCH_ATTRIBUTE_STRING}`);
    }
    return;
  }
  throw invalid(`${where} must be a string, number or boolean, got ${describe(v)}`);
}

/** Merges an upsert into a run's attributes, checking the result against the limits. */
export function mergeSearchAttributes(
  current: SearchAttributes | undefined,
  update: SearchAttributes,
): SearchAttributes {
  return validateSearchAttributes({ ...current, ...update });
}

/**
 * Returns `value` as a memo, or throws InvalidInputError: a JSON object, ≤ 8 KiB as JSON, whose
 * keys (at any depth) are non-empty and hold no `.` and no leading `$` (it is stored as BSON).
 */
export function validateMemo(value: unknown): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(`memo must be a JSON object, got ${describe(value)}`);
  checkJson(value, 'memo', 0);
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_MEMO_BYTES) throw invalid(`memo is ${bytes} bytes as JSON; the limit is ${MAX_MEMO_BYTES}`);
  return value;
}

function checkJson(v: unknown, where: string, depth: number): void {
  if (depth > 16) throw invalid(`${where} is nested more than 16 levels deep`);
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw invalid(`${where} must be a finite number, got ${String(v)}`);
    return;
  }
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) checkJson(x, `${where}[${i}]`, depth + 1);
    return;
  }
  if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (k.length === 0 || k.startsWith('$') || k.includes('.')) {
        throw invalid(
          `${where} key ${JSON.stringify(k)} is invalid: keys may not be empty, start with '$' or hold '.'`,
        );
      }
      checkJson(x, `${where}.${k}`, depth + 1);
    }
    return;
  }
  throw invalid(`${where} must be JSON (object, array, string, number, boolean or null), got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v;
}

/** What `upsertSearchAttributes` takes: the attributes, or a pure function of context and event. */
export type SearchAttributesArg<TContext, TEvent> =
  | SearchAttributes
  | ((args: { context: TContext; event: TEvent }) => SearchAttributes);

/**
 * An XState action that sets search attributes of the run (merged over the current ones). The
 * engine records `SearchAttributesUpserted` and the run summary, hence `list({ where })`, picks
 * them up. Invalid attributes fail the run with an InvalidInputError naming the key.
 * ```ts
 * entry: upsertSearchAttributes(({ context }) => ({ stage: 'shipping', amount: context.amount }))
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: XState's action types are inferred at the call site, like its own creators
export function upsertSearchAttributes<TContext = any, TEvent = any>(arg: SearchAttributesArg<TContext, TEvent>) {
  return emit((args: { context: unknown; event: unknown }) => ({
    type: SEARCH_ATTRIBUTES_EVENT,
    attributes: typeof arg === 'function' ? arg(args as { context: TContext; event: TEvent }) : arg,
  })) as never;
}
