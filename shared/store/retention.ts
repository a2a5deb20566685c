/**
 * Retention of closed runs: a closing summary records when its run expires (`expireAt`, closedAt
 * plus the run's `retentionMs` or the store's default) and the minute bucket of that time
 * (`sweepBucket`, indexed). The sweeper walks buckets from a stored cursor up to now, each by
 * equality (the one filter FerretDB 1.x serves from an index), so a sweep costs the expired runs
 * and the minutes since the last sweep, never the runs stored. A swept run loses its commits and
 * its summary shrinks to a tombstone (ids, type, status, times, no state, output or memo): its
 * workflowId claim stays, and the tombstone says the holder is closed, so the id can be reused
 * as its reuse policy allows and a request for it finds a closed run with no history.
 *
 * No TTL index: a TTL index deletes documents of one collection by their own date, and a run's
 * history is many commits without one; stamping every commit at close would cost a write per
 * commit, and a TTL on summaries alone would orphan the commits. FerretDB 1.24 has none anyway.
 */
import type { RunState } from '../engine/types.js';
import type { Millis } from '../history/events.js';

/** Width of a sweep bucket: runs expire to the minute. */
export const SWEEP_BUCKET_MS = 60_000;

/** Most buckets one sweep walks (a store swept after a long pause catches up over several sweeps). */
export const MAX_SWEEP_BUCKETS = 1_440;

/** The bucket of an expiry time. */
export function sweepBucketOf(expireAt: Millis): number {
  return Math.floor(expireAt / SWEEP_BUCKET_MS);
}

/** When a closed run's history expires; undefined while it is open. */
export function expiryOf(state: RunState, defaultRetentionMs: number): Millis | undefined {
  if (state.closedAt === undefined) return undefined;
  return state.closedAt + (state.retentionMs ?? defaultRetentionMs);
}

/** What is left of a swept run's state: who it was and how it ended, nothing the machine held. */
export function tombstoneState(state: RunState, sweptAt: Millis): RunState {
  const t: RunState = {
    workflowId: state.workflowId,
    runId: state.runId,
    workflowType: state.workflowType,
    version: state.version,
    status: state.status,
    snapshot: undefined,
    lastSeq: state.lastSeq,
    nextSeq: state.nextSeq,
    activities: {},
    timers: {},
    children: {},
    mailbox: [],
    startedAt: state.startedAt,
    updatedAt: state.updatedAt,
    swept: sweptAt,
  };
  if (state.closedAt !== undefined) t.closedAt = state.closedAt;
  return t;
}

/** What one sweep did. */
export interface SweepReport {
  /** Runs whose history was removed. */
  swept: number;
  /** Their ids (so a router can drop them from its cache). */
  runIds: string[];
  /** Buckets read. */
  buckets: number;
}
