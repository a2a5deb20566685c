/**
 * The bookkeeping of a map (dynamic fan-out), as plain data and pure functions: which items to
 * start next under a concurrency limit, how each result is recorded in item order, and when a
 * completion policy ends the batch. mapState() (map-state.ts) keeps a BatchResult in the
 * machine's context, so it is persisted and replayed with the snapshot like any other context.
 */

import type { ErrorInfo } from '../../errors.js';
import { InvalidInputError } from '../../errors.js';

/**
 * Thresholds of a completion policy, as the AWS durable execution SDK's `completionConfig` names
 * them; any combination. The batch fails (`FAILURE_TOLERANCE_EXCEEDED`) as soon as more than
 * `toleratedFailureCount` items failed, or more than `toleratedFailurePercentage` % of all items;
 * it succeeds (`MIN_SUCCESSFUL_REACHED`) as soon as `minSuccessful` items succeeded, and fails as
 * soon as that minimum can no longer be reached. With no threshold met, it ends when every item
 * has (`ALL_COMPLETED`): succeeded if failures were within tolerance (`{}`: failed if any failed).
 */
export interface CompletionConfig {
  /** Succeed as soon as this many items succeeded, a non-negative integer. */
  readonly minSuccessful?: number;
  /** Fail as soon as more than this many items failed, a non-negative integer. */
  readonly toleratedFailureCount?: number;
  /** Fail as soon as more than this percentage (0 to 100) of all items failed. */
  readonly toleratedFailurePercentage?: number;
}

/**
 * When a map or parallel state ends. `'all'` (`{}`): every item runs; the batch succeeds when none
 * failed. `'failFast'` (alias `'allSuccessful'`, `{ toleratedFailureCount: 0 }`): the first failure
 * ends it. `'firstSuccessful'` (`{ minSuccessful: 1 }`): the first success ends it. Or the
 * thresholds of a CompletionConfig. Items running when the policy decides are cancelled.
 */
export type CompletionPolicy = 'all' | 'failFast' | 'allSuccessful' | 'firstSuccessful' | CompletionConfig;

/** `running` until the completion policy decides. */
export type BatchStatus = 'running' | 'succeeded' | 'failed';

/** Why a batch ended: the AWS durable execution SDK's names. */
export type CompletionReason = 'ALL_COMPLETED' | 'MIN_SUCCESSFUL_REACHED' | 'FAILURE_TOLERANCE_EXCEEDED';

/** How many items are where. `started = succeeded + failed + running + cancelled`. */
export interface BatchCounts {
  total: number;
  started: number;
  succeeded: number;
  failed: number;
  running: number;
  /** Running when the policy ended the batch; their activities were cancelled. */
  cancelled: number;
  /** Never started (the policy ended the batch first). */
  notStarted: number;
}

/**
 * A map's result, in item order. `results[i]` is item i's output and `errors[i]` its failure;
 * `null` where there is none (null, not undefined, so the arrays survive BSON and msgpack as they
 * are). `succeeded` and `failed` list item indexes, ascending; once the policy decided,
 * `cancelled` lists the items it stopped while running and `notStarted` those it never started.
 */
export interface BatchResult<TOutput = unknown> {
  status: BatchStatus;
  completionReason?: CompletionReason;
  results: (TOutput | null)[];
  errors: (ErrorInfo | null)[];
  succeeded: number[];
  failed: number[];
  /** Items running when the policy decided (their work was cancelled); empty until then. */
  cancelled: number[];
  /** Items never started because the policy decided first; empty until then. */
  notStarted: number[];
  counts: BatchCounts;
}

/** One item's outcome, as its activity's result event carries it. */
export type ItemOutcome<TOutput> = { output: TOutput } | { error: ErrorInfo };

const NAMED: Readonly<Record<string, CompletionConfig>> = {
  all: {},
  failFast: { toleratedFailureCount: 0 },
  allSuccessful: { toleratedFailureCount: 0 },
  firstSuccessful: { minSuccessful: 1 },
};

/**
 * Checks a completion policy and reduces it to its thresholds (a named policy to its
 * CompletionConfig); throws InvalidInputError naming the bad field.
 */
export function validateCompletion(policy: unknown, where: string): CompletionConfig {
  if (typeof policy === 'string' && Object.hasOwn(NAMED, policy)) return NAMED[policy] as CompletionConfig;
  const bad = (why: string): never => {
    throw new InvalidInputError(
      `${where}: completion must be 'all', 'failFast', 'allSuccessful', 'firstSuccessful' or { minSuccessful?, toleratedFailureCount?, toleratedFailurePercentage? } (${why}), got ${JSON.stringify(policy)}`,
    );
  };
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy))
    return bad('not a known name or an object');
  const config = policy as Record<string, unknown>;
  const known = ['minSuccessful', 'toleratedFailureCount', 'toleratedFailurePercentage'];
  const unknown = Object.keys(config).find((k) => !known.includes(k));
  if (unknown !== undefined) return bad(`unknown field ${JSON.stringify(unknown)}`);
  const out: { -readonly [K in keyof CompletionConfig]: CompletionConfig[K] } = {};
  for (const name of ['minSuccessful', 'toleratedFailureCount'] as const) {
    const n = config[name];
    if (n === undefined) continue;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      return bad(`${name} must be a non-negative integer`);
    out[name] = n;
  }
  const pct = config.toleratedFailurePercentage;
  if (pct !== undefined) {
    if (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100) {
      return bad('toleratedFailurePercentage must be a number from 0 to 100');
    }
    out.toleratedFailurePercentage = pct;
  }
  return out;
}

/** A batch of `total` items, nothing started; already decided when the policy needs no item. */
export function openBatch<TOutput>(total: number, policy: CompletionPolicy): BatchResult<TOutput> {
  const batch: BatchResult<TOutput> = {
    status: 'running',
    results: Array.from({ length: total }, () => null),
    errors: Array.from({ length: total }, () => null),
    succeeded: [],
    failed: [],
    cancelled: [],
    notStarted: [],
    counts: { total, started: 0, succeeded: 0, failed: 0, running: 0, cancelled: 0, notStarted: total },
  };
  return decideCompletion(batch, policy);
}

/** Indexes of the items running now (started, no result yet), ascending. */
export function runningItems(batch: BatchResult<unknown>): number[] {
  if (batch.status !== 'running') return [];
  const done = new Set([...batch.succeeded, ...batch.failed]);
  const out: number[] = [];
  for (let i = 0; i < batch.counts.started; i++) if (!done.has(i)) out.push(i);
  return out;
}

/**
 * Starts as many next items (in item order) as `concurrency` allows; returns the new batch and
 * the indexes started. Nothing starts once the batch is decided.
 */
export function startItems<TOutput>(
  batch: BatchResult<TOutput>,
  concurrency: number,
): { batch: BatchResult<TOutput>; started: number[] } {
  if (batch.status !== 'running') return { batch, started: [] };
  const { counts } = batch;
  const room = Math.max(0, Math.min(concurrency - counts.running, counts.total - counts.started));
  const started = Array.from({ length: room }, (_, k) => counts.started + k);
  const next: BatchResult<TOutput> = {
    ...batch,
    counts: {
      ...counts,
      started: counts.started + room,
      running: counts.running + room,
      notStarted: counts.notStarted - room,
    },
  };
  return { batch: next, started };
}

/**
 * Records item `index`'s outcome and applies the policy. A result for an item that is not
 * running (or after the batch was decided) changes nothing. When the policy decides, the items
 * still running count as cancelled; the caller stops them.
 */
export function recordItem<TOutput>(
  batch: BatchResult<TOutput>,
  index: number,
  outcome: ItemOutcome<TOutput>,
  policy: CompletionPolicy,
): BatchResult<TOutput> {
  if (!runningItems(batch).includes(index)) return batch;
  const next: BatchResult<TOutput> = {
    ...batch,
    results: [...batch.results],
    errors: [...batch.errors],
    counts: { ...batch.counts, running: batch.counts.running - 1 },
  };
  if ('error' in outcome) {
    next.errors[index] = outcome.error;
    next.failed = insertSorted(batch.failed, index);
    next.counts.failed++;
  } else {
    next.results[index] = outcome.output ?? null;
    next.succeeded = insertSorted(batch.succeeded, index);
    next.counts.succeeded++;
  }
  return decideCompletion(next, policy);
}

/** Whether `failed` failures out of `total` items exceed the policy's tolerance. */
function toleranceExceeded(rule: CompletionConfig, failed: number, total: number): boolean {
  if (rule.toleratedFailureCount !== undefined && failed > rule.toleratedFailureCount) return true;
  const pct = rule.toleratedFailurePercentage;
  return pct !== undefined && total > 0 && (failed / total) * 100 > pct;
}

/** The policy's verdict on the counts so far; undefined while it is open. Tolerance comes first, as in AWS's SDK. */
export function completionVerdict(
  policy: CompletionPolicy,
  counts: Pick<BatchCounts, 'total' | 'succeeded' | 'failed'>,
): { status: 'succeeded' | 'failed'; reason: CompletionReason } | undefined {
  const rule = typeof policy === 'string' ? (NAMED[policy] ?? {}) : policy;
  const { total, succeeded, failed } = counts;
  const remaining = total - succeeded - failed;
  const min = rule.minSuccessful;
  if (toleranceExceeded(rule, failed, total)) return { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' };
  if (min !== undefined && succeeded >= min) return { status: 'succeeded', reason: 'MIN_SUCCESSFUL_REACHED' };
  if (min !== undefined && succeeded + remaining < min)
    return { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' };
  if (remaining > 0) return undefined;
  // Every item finished within tolerance; with no threshold at all ('all'), any failure fails the batch.
  const lenient =
    min !== undefined || rule.toleratedFailureCount !== undefined || rule.toleratedFailurePercentage !== undefined;
  return { status: failed > 0 && !lenient ? 'failed' : 'succeeded', reason: 'ALL_COMPLETED' };
}

function decideCompletion<TOutput>(batch: BatchResult<TOutput>, policy: CompletionPolicy): BatchResult<TOutput> {
  const verdict = completionVerdict(policy, batch.counts);
  if (!verdict) return batch;
  const { counts } = batch;
  return {
    ...batch,
    status: verdict.status,
    completionReason: verdict.reason,
    cancelled: runningItems(batch),
    notStarted: Array.from({ length: counts.total - counts.started }, (_, k) => counts.started + k),
    counts: { ...counts, cancelled: counts.cancelled + counts.running, running: 0 },
  };
}

function insertSorted(list: readonly number[], value: number): number[] {
  const out = [...list, value];
  out.sort((a, b) => a - b);
  return out;
}
