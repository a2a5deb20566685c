/**
 * The indexes every store collection needs. Created idempotently by Store.init(); plain (not
 * partial) indexes only, so the same definitions work on MongoDB and FerretDB.
 */
import type { Db, IndexDescription } from 'mongodb';
import { ConfigError } from '../errors.js';
import type { CollectionNames } from '../names.js';

/**
 * Index definitions by collection role. `_id` indexes come for free. The outbox collection of
 * earlier versions is not created (see CommitStore.drainLegacyOutbox).
 */
export const STORE_INDEXES: Record<Exclude<keyof CollectionNames, 'outbox'>, IndexDescription[]> = {
  // Chunks of out-of-band payloads, read by `_id` (`<blobId>:<n>`); a swept run's are removed by
  // equality on their owner (see payloads.ts).
  blobs: [{ key: { runId: 1 }, name: 'runId' }],
  commits: [
    // The concurrency protocol: one commit per (runId, seq); also serves history reads.
    { key: { runId: 1, seq: 1 }, name: 'runId_seq', unique: true },
    // History pages, read by equality (see CommitStore.load): the one filter FerretDB 1.x indexes.
    { key: { runPage: 1 }, name: 'runPage' },
  ],
  runs: [
    { key: { workflowId: 1, startedAt: -1 }, name: 'workflowId_startedAt' },
    { key: { status: 1, workflowType: 1, startedAt: -1, _id: -1 }, name: 'status_type_startedAt' },
    { key: { workflowType: 1, startedAt: -1, _id: -1 }, name: 'type_startedAt' },
    { key: { startedAt: -1, _id: -1 }, name: 'startedAt' },
    // Closed runs by the minute their history expires, read by equality (see retention.ts).
    { key: { sweepBucket: 1 }, name: 'sweepBucket' },
  ],
  // Generations of each workflowId; the highest is the current holder.
  workflowIds: [{ key: { workflowId: 1, gen: -1 }, name: 'workflowId_gen', unique: true }],
  // A bucket's timers and their leases, read by equality (see timer-walk.ts); everything else of
  // a timer is read by `_id`. (Stores made before buckets keep their `status_fireAt` and
  // `timer_epoch` indexes, now unused; dropping them is safe.)
  timers: [{ key: { bucket: 1 }, name: 'bucket' }],
  // Schedules are read by `_id` only (a list pages by `_id`).
  schedules: [],
  scheduleStates: [],
  // Runs waiting on a user event, read by key at each publish (equality: FerretDB serves it).
  eventWaits: [{ key: { eventKey: 1 }, name: 'eventKey' }],
  // A handful of documents, read whole (see versions.ts).
  versions: [],
  // The sweeper's cursor, read by `_id`.
  sweeps: [],
};

/** Creates the collections and their indexes; safe to run concurrently and repeatedly. */
export async function ensureIndexes(db: Db, names: CollectionNames): Promise<void> {
  const roles = Object.keys(STORE_INDEXES) as (keyof typeof STORE_INDEXES)[];
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  for (const role of roles) {
    const name = names[role];
    if (!existing.has(name)) {
      try {
        await db.createCollection(name);
      } catch (err) {
        // 48 NamespaceExists: another service created it first.
        if ((err as { code?: unknown }).code !== 48) throw err;
      }
    }
    const indexes = STORE_INDEXES[role];
    if (indexes.length === 0) continue;
    try {
      // One index per call: FerretDB 1.24 panics on a createIndexes batch that mixes indexes
      // another service has just created with new ones; single creates are idempotent.
      for (const index of indexes) await db.collection(name).createIndexes([index]);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // 85 IndexOptionsConflict, 86 IndexKeySpecsConflict: an index of that name exists with other keys.
      if (code === 85 || code === 86) {
        throw new ConfigError(
          `collection ${name} has an index that conflicts with Squall's (${(err as Error).message}); drop it and restart`,
          { cause: err },
        );
      }
      throw err;
    }
  }
}
