/**
 * Schedules: a workflow started on a calendar (`cron`, in a time zone) or at a fixed interval
 * (`every`). This module is pure: it checks a spec and says when its ticks fall. A tick is named
 * by its nominal time (before jitter); the run it starts has a workflowId derived from the
 * schedule id and that time, so however many timer services look at one tick, and however often
 * one looks again after a crash, the tick starts one run at most (the router's workflowId claim
 * with `rejectDuplicate` decides).
 *
 * Cron expressions and time zones are croner's (5 fields, or 6 with seconds first; IANA zones).
 */
import { Cron } from 'croner';
import { InvalidInputError } from '../errors.js';
import { validateToken } from '../names.js';

/** What a tick does while the run of an earlier tick is still open (Temporal's names). */
export type OverlapPolicy = 'skip' | 'bufferOne' | 'allowAll' | 'cancelOther' | 'terminateOther';

export const OVERLAP_POLICIES: readonly OverlapPolicy[] = [
  'skip',
  'bufferOne',
  'allowAll',
  'cancelOther',
  'terminateOther',
];

/** The run each tick starts. */
export interface ScheduledWorkflow {
  type: string;
  input?: unknown;
  /** Start of each run's workflowId, `<prefix>-<tick as 20261204T090000Z>`. @default the schedule id */
  workflowIdPrefix?: string;
  memo?: Record<string, unknown>;
}

/** A schedule as created or updated. Exactly one of `cron` and `every`. */
export interface ScheduleSpec {
  /** Cron expression (5 fields, or 6 with seconds), read in `timezone`. */
  cron?: string;
  /** Fixed interval: milliseconds, or a duration such as `'30s'`, `'5m'`, `'1h'`, `'1d'` (≥ 1 s). */
  every?: number | string;
  /** IANA time zone the cron expression is read in. @default 'UTC' */
  timezone?: string;
  workflow: ScheduledWorkflow;
  /** Each tick fires up to this much after its nominal time, the same for every timer service. @default 0 */
  jitterMs?: number;
  /** @default 'skip' */
  overlap?: OverlapPolicy;
  /** Ticks missed (every timer service down) are still fired when they are at most this old. @default 60_000 */
  catchupWindowMs?: number;
  /** No tick before this time (ms since the epoch). */
  startAt?: number;
  /** No tick after this time (ms since the epoch). */
  endAt?: number;
  /** A paused schedule fires nothing (ticks passing meanwhile are not caught up). @default false */
  paused?: boolean;
}

/** A spec with its defaults filled in. */
export type ResolvedScheduleSpec = ScheduleSpec &
  Required<Pick<ScheduleSpec, 'jitterMs' | 'overlap' | 'catchupWindowMs'>> & { timezone?: string };

/** Defaults of the optional fields. */
export const SCHEDULE_DEFAULTS: {
  timezone: string;
  jitterMs: number;
  overlap: OverlapPolicy;
  catchupWindowMs: number;
} = {
  timezone: 'UTC',
  jitterMs: 0,
  overlap: 'skip',
  catchupWindowMs: 60_000,
};

const DURATION = /^(\d+)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Shortest interval and largest jitter accepted. */
const MIN_EVERY_MS = 1_000;
const MAX_JITTER_MS = 24 * 3_600_000;

/** An interval in milliseconds, from a number or a duration string; undefined if neither. */
export function parseDuration(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  const m = DURATION.exec(v.trim());
  return m ? Number(m[1]) * (UNIT_MS[m[2] as string] as number) : undefined;
}

function invalid(id: string, field: string, why: string): InvalidInputError {
  return new InvalidInputError(`schedule ${JSON.stringify(id)}: ${field} ${why}`, {
    details: { reason: 'invalid-schedule', scheduleId: id, field },
  });
}

/** The cron of a spec, checked (croner parses eagerly); its errors name the field. */
function cronOf(id: string, spec: Pick<ScheduleSpec, 'cron' | 'timezone'>): Cron {
  const tz = spec.timezone ?? SCHEDULE_DEFAULTS.timezone;
  try {
    // A throwaway Intl call names a bad zone clearly; croner's own message is long.
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw invalid(id, 'timezone', `${JSON.stringify(tz)} is not a known IANA time zone (e.g. "Europe/Berlin")`);
  }
  try {
    return new Cron(spec.cron as string, { timezone: tz, paused: true });
  } catch (err) {
    throw invalid(id, 'cron', `${JSON.stringify(spec.cron)} is not a valid cron expression: ${(err as Error).message}`);
  }
}

/**
 * Throws InvalidInputError naming the schedule and the field when `spec` is not a valid
 * ScheduleSpec (or `id` not a valid schedule id); returns the spec with its defaults filled in.
 */
export function validateScheduleSpec(id: string, spec: unknown): ResolvedScheduleSpec {
  validateToken('workflowId', id);
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw invalid(id, 'spec', 'must be an object');
  const s = spec as Record<string, unknown>;
  const known = new Set([
    'cron',
    'every',
    'timezone',
    'workflow',
    'jitterMs',
    'overlap',
    'catchupWindowMs',
    'startAt',
    'endAt',
    'paused',
  ]);
  for (const k of Object.keys(s))
    if (!known.has(k)) throw invalid(id, k, `is not a schedule field (known: ${[...known].join(', ')})`);
  if ((s.cron === undefined) === (s.every === undefined)) throw invalid(id, 'cron/every', 'exactly one must be given');
  if (s.cron !== undefined) {
    if (typeof s.cron !== 'string') throw invalid(id, 'cron', 'must be a string');
    cronOf(id, { cron: s.cron, ...(typeof s.timezone === 'string' ? { timezone: s.timezone } : {}) });
  }
  if (s.timezone !== undefined && typeof s.timezone !== 'string') throw invalid(id, 'timezone', 'must be a string');
  if (s.every !== undefined) {
    const ms = typeof s.every === 'number' || typeof s.every === 'string' ? parseDuration(s.every) : undefined;
    if (ms === undefined)
      throw invalid(id, 'every', `${JSON.stringify(s.every)} is not milliseconds or a duration like "5m"`);
    if (ms < MIN_EVERY_MS) throw invalid(id, 'every', `must be at least ${MIN_EVERY_MS} ms, got ${ms}`);
    if (s.timezone !== undefined) throw invalid(id, 'timezone', 'applies to cron schedules only');
  }
  const w = s.workflow as Record<string, unknown> | undefined;
  if (typeof w !== 'object' || w === null || Array.isArray(w)) throw invalid(id, 'workflow', 'must be an object');
  try {
    validateToken('workflowType', w.type);
    if (w.workflowIdPrefix !== undefined) validateToken('workflowId', w.workflowIdPrefix);
  } catch (err) {
    throw invalid(id, 'workflow', (err as Error).message);
  }
  if (w.memo !== undefined && (typeof w.memo !== 'object' || w.memo === null || Array.isArray(w.memo))) {
    throw invalid(id, 'workflow.memo', 'must be an object');
  }
  const nonNegative = (field: string, max = Number.MAX_SAFE_INTEGER): void => {
    const v = s[field];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
      throw invalid(id, field, `must be an integer from 0 to ${max}, got ${JSON.stringify(v)}`);
    }
  };
  nonNegative('jitterMs', MAX_JITTER_MS);
  nonNegative('catchupWindowMs');
  nonNegative('startAt');
  nonNegative('endAt');
  if (typeof s.startAt === 'number' && typeof s.endAt === 'number' && s.endAt < s.startAt) {
    throw invalid(id, 'endAt', 'must not be before startAt');
  }
  if (s.overlap !== undefined && !OVERLAP_POLICIES.includes(s.overlap as OverlapPolicy)) {
    throw invalid(id, 'overlap', `must be one of ${OVERLAP_POLICIES.join(', ')}, got ${JSON.stringify(s.overlap)}`);
  }
  if (s.paused !== undefined && typeof s.paused !== 'boolean') throw invalid(id, 'paused', 'must be a boolean');
  const { timezone: _tz, ...defaults } = SCHEDULE_DEFAULTS;
  return { ...defaults, ...(s as unknown as ScheduleSpec) };
}

/**
 * The nominal times of the ticks after `after` (exclusive), ascending, at most `limit` and none
 * past `until` (inclusive) or the spec's `endAt`. An `every` schedule's ticks fall on multiples
 * of the interval counted from `startAt` (else from the epoch), so every timer service agrees.
 */
export function ticksAfter(spec: ScheduleSpec, after: number, opts: { limit: number; until?: number }): number[] {
  const end = Math.min(opts.until ?? Number.POSITIVE_INFINITY, spec.endAt ?? Number.POSITIVE_INFINITY);
  const from = Math.max(after, (spec.startAt ?? Number.NEGATIVE_INFINITY) - 1);
  const out: number[] = [];
  if (spec.every !== undefined) {
    const step = parseDuration(spec.every) as number;
    const anchor = spec.startAt ?? 0;
    let t = anchor + Math.floor((from - anchor) / step + 1) * step;
    for (; out.length < opts.limit && t <= end; t += step) out.push(t);
    return out;
  }
  const cron = cronOf('?', spec);
  let prev = new Date(from);
  while (out.length < opts.limit) {
    const next = cron.nextRun(prev);
    if (!next || next.getTime() > end) break;
    out.push(next.getTime());
    prev = next;
  }
  return out;
}

/** When a tick fires: its nominal time plus the schedule's jitter, the same wherever computed. */
export function fireTimeOf(scheduleId: string, spec: Pick<ScheduleSpec, 'jitterMs'>, tick: number): number {
  const jitter = spec.jitterMs ?? 0;
  if (jitter <= 0) return tick;
  return tick + (fnv1a(`${scheduleId}@${tick}`) % jitter);
}

/** The workflowId of the run a tick starts: `<prefix>-20261204T090000Z`. */
export function tickWorkflowId(scheduleId: string, spec: Pick<ScheduleSpec, 'workflow'>, tick: number): string {
  const stamp = new Date(tick)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `${spec.workflow.workflowIdPrefix ?? scheduleId}-${stamp}`;
}

/** 32-bit FNV-1a: a stable spread of jitter over ticks (not for anything secret). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
