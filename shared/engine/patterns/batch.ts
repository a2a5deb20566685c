/**
 * The bookkeeping of a map (dynamic fan-out), as plain data and pure functions: which items to
 * start next under a concurrency limit, how each result is recorded in item order, and when a
 * completion policy ends the batch. mapState() (map-state.ts) keeps a BatchResult in the
 * machine's context, so it is persisted and replayed with the snapshot like any other context.
 */

import type { ErrorInfo } from '../../errors.js';
import { InvalidInputError } from '../../errors.js';

/**
 * When a map ends. `'all'`: every item runs; the batch succeeds when none failed.
 * `'failFast'`: the first failure ends it (failed), cancelling running items and starting no more.
 * `{ minSuccessful: n }`: ends as soon as n items succeeded (succeeded, the rest cancelled), or as
 * soon as n can no longer be reached (failed).
 */
export type CompletionPolicy = 'all' | 'failFast' | { readonly minSuccessful: number };

/** `running` until the completion policy decides. */
export type BatchStatus = 'running' | 'succeeded' | 'failed';

/** Why a batch ended. */
export type CompletionReason = 'allCompleted' | 'minSuccessfulReached' | 'failureToleranceExceeded';

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
 * are). `succeeded` and `failed` list item indexes, ascending.
 */
export interface BatchResult<TOutput = unknown> {
  status: BatchStatus;
  completionReason?: CompletionReason;
  results: (TOutput | null)[];
  errors: (ErrorInfo | null)[];
  succeeded: number[];
  failed: number[];
  counts: BatchCounts;
}

/** One item's outcome, as its activity's result event carries it. */
export type ItemOutcome<TOutput> = { output: TOutput } | { error: ErrorInfo };

/** Checks a completion policy; throws InvalidInputError for a malformed one. */
export function validateCompletion(policy: unknown, where: string): CompletionPolicy {
  if (policy === 'all' || policy === 'failFast') return policy;
  const n = (policy as { minSuccessful?: unknown } | null)?.minSuccessful;
  if (typeof policy === 'object' && policy !== null && typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) {
    return { minSuccessful: n };
  }
  throw new InvalidInputError(
    `${where}: completion must be 'all', 'failFast' or { minSuccessful: n } with n a non-negative integer, got ${JSON.stringify(policy)}`,
  );
}

/** A batch of `total` items, nothing started; already decided when the policy needs no item. */
export function openBatch<TOutput>(total: number, policy: CompletionPolicy): BatchResult<TOutput> {
  const batch: BatchResult<TOutput> = {
    status: 'running',
    results: Array.from({ length: total }, () => null),
    errors: Array.from({ length: total }, () => null),
    succeeded: [],
    failed: [],
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

function decideCompletion<TOutput>(batch: BatchResult<TOutput>, policy: CompletionPolicy): BatchResult<TOutput> {
  const { counts } = batch;
  const finished = counts.succeeded + counts.failed;
  const remaining = counts.total - finished;
  let status: BatchStatus | undefined;
  let reason: CompletionReason | undefined;
  if (policy === 'failFast' && counts.failed > 0) {
    [status, reason] = ['failed', 'failureToleranceExceeded'];
  } else if (typeof policy === 'object' && counts.succeeded >= policy.minSuccessful) {
    [status, reason] = ['succeeded', 'minSuccessfulReached'];
  } else if (typeof policy === 'object' && counts.succeeded + remaining < policy.minSuccessful) {
    [status, reason] = ['failed', 'failureToleranceExceeded'];
  } else if (remaining === 0) {
    [status, reason] = [counts.failed > 0 ? 'failed' : 'succeeded', 'allCompleted'];
  }
  if (status === undefined || reason === undefined) return batch;
  return {
    ...batch,
    status,
    completionReason: reason,
    counts: { ...counts, cancelled: counts.cancelled + counts.running, running: 0 },
  };
}

function insertSorted(list: readonly number[], value: number): number[] {
  const out = [...list, value];
  out.sort((a, b) => a - b);
  return out;
}
