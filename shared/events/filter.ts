/**
 * The filter a wait puts on an event's payload: a small JSON predicate, in the spirit of MongoDB's
 * query language. Data, not a function, because two places evaluate it: the fan-out worker skips
 * runs whose filter does not match without loading them (the filter is stored in the wait index),
 * and the machine's guard decides again from history, so replay gives the same answer.
 *
 * `{ "<path>": <condition>, ... }`, every entry must hold. A path is dot-separated (`order.total`);
 * a condition is a JSON value (deep equality) or an object of operators: `$eq`, `$ne`, `$in`,
 * `$nin` (arrays), `$gt`, `$gte`, `$lt`, `$lte` (numbers or strings, same type only), `$exists`.
 */
import { InvalidInputError } from '../errors.js';

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** Operators of one condition. */
export interface FilterOperators {
  $eq?: JsonValue;
  $ne?: JsonValue;
  $in?: JsonValue[];
  $nin?: JsonValue[];
  $gt?: number | string;
  $gte?: number | string;
  $lt?: number | string;
  $lte?: number | string;
  $exists?: boolean;
}

/** A filter: every path's condition must hold. */
export type EventFilter = Record<string, JsonValue | FilterOperators>;

const OPERATORS: ReadonlySet<string> = new Set(['$eq', '$ne', '$in', '$nin', '$gt', '$gte', '$lt', '$lte', '$exists']);
const PATH_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** Deepest nesting a filter value may have: the filter is checked at every wait and every publish. */
const MAX_DEPTH = 16;

function bad(message: string, path?: string): never {
  throw new InvalidInputError(`event filter: ${message}`, {
    details: { reason: 'bad-filter', ...(path === undefined ? {} : { path }) },
  });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkJson(v: unknown, path: string, depth = 0): void {
  if (depth > MAX_DEPTH) bad(`${path} is nested deeper than ${MAX_DEPTH}`, path);
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) bad(`${path} must be a finite number`, path);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) checkJson(x, path, depth + 1);
    return;
  }
  if (isPlainObject(v)) {
    for (const x of Object.values(v)) checkJson(x, path, depth + 1);
    return;
  }
  bad(`${path} must be JSON (null, boolean, number, string, array or object), got ${typeof v}`, path);
}

function isOperatorObject(v: unknown): v is FilterOperators {
  return isPlainObject(v) && Object.keys(v).some((k) => k.startsWith('$'));
}

/** Throws InvalidInputError naming the path and what is wrong; returns the filter typed. */
export function validateFilter(filter: unknown): EventFilter {
  if (!isPlainObject(filter)) {
    bad(`must be an object of { path: condition }, got ${Array.isArray(filter) ? 'an array' : typeof filter}`);
  }
  for (const [path, cond] of Object.entries(filter)) {
    if (!PATH_RE.test(path)) bad(`path ${JSON.stringify(path)} must be dot-separated names of A-Z a-z 0-9 _ -`, path);
    if (!isOperatorObject(cond)) {
      checkJson(cond, path);
      continue;
    }
    for (const [op, arg] of Object.entries(cond)) {
      if (!OPERATORS.has(op))
        bad(`${path}: unknown operator ${JSON.stringify(op)}; use ${[...OPERATORS].join(', ')}`, path);
      if ((op === '$in' || op === '$nin') && !Array.isArray(arg)) bad(`${path}.${op} must be an array`, path);
      if (op === '$exists' && typeof arg !== 'boolean') bad(`${path}.$exists must be true or false`, path);
      if (op.startsWith('$g') || op.startsWith('$l')) {
        if (typeof arg !== 'string' && !(typeof arg === 'number' && Number.isFinite(arg))) {
          bad(`${path}.${op} must be a finite number or a string`, path);
        }
      }
      checkJson(arg, `${path}.${op}`);
    }
  }
  return filter as EventFilter;
}

/** The value at a dot-separated path of `v`, or undefined. */
function at(v: unknown, path: string): unknown {
  let cur = v;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Deep equality of JSON values (object key order does not matter). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

function compare(v: unknown, arg: number | string): number | undefined {
  if (typeof v !== typeof arg) return undefined;
  if (typeof v === 'number') return v - (arg as number);
  return (v as string) < (arg as string) ? -1 : (v as string) > (arg as string) ? 1 : 0;
}

function holds(v: unknown, cond: JsonValue | FilterOperators): boolean {
  if (!isOperatorObject(cond)) return jsonEqual(v, cond);
  for (const [op, arg] of Object.entries(cond) as [keyof FilterOperators, unknown][]) {
    const c = op.startsWith('$g') || op.startsWith('$l') ? compare(v, arg as number | string) : 0;
    const ok =
      op === '$eq'
        ? jsonEqual(v, arg)
        : op === '$ne'
          ? !jsonEqual(v, arg)
          : op === '$in'
            ? (arg as unknown[]).some((x) => jsonEqual(v, x))
            : op === '$nin'
              ? !(arg as unknown[]).some((x) => jsonEqual(v, x))
              : op === '$exists'
                ? (v !== undefined) === arg
                : c !== undefined && (op === '$gt' ? c > 0 : op === '$gte' ? c >= 0 : op === '$lt' ? c < 0 : c <= 0);
    if (!ok) return false;
  }
  return true;
}

/** True when `payload` satisfies every condition of `filter` (an absent filter matches everything). */
export function matchesFilter(filter: EventFilter | undefined, payload: unknown): boolean {
  if (filter === undefined) return true;
  for (const [path, cond] of Object.entries(filter)) if (!holds(at(payload, path), cond)) return false;
  return true;
}
