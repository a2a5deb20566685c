/**
 * The index of runs waiting on user events (docs/events.md): one document per (run, key) in
 * `<prefix>_event_waits`, `_id` `<runId>/<key>`, read by `eventKey` equality (the one filter
 * FerretDB 1.x serves from an index). A projection of history: the router writes it when it
 * publishes a commit's `watchEvents` command, so a commit republished after a crash writes it
 * again. An entry left behind by a run that moved on only costs a delivery the run ignores.
 */
import type { Collection, Db } from 'mongodb';
import type { EventFilter } from '../events/filter.js';
import type { EventWait } from '../events/wait.js';
import type { CollectionNames } from '../names.js';
import { toStoreError } from './errors.js';

/** One run's wait on one key, as the index holds it. */
export interface IndexedWait extends EventWait {
  runId: string;
  workflowId: string;
}

/** The wait index: written by routers as runs start and stop waiting, read by the fan-out. */
export interface EventWaitStore {
  /** Adds (or replaces) the waits of one run. */
  put(runId: string, workflowId: string, waits: readonly EventWait[]): Promise<void>;
  /** Removes one run's waits on `keys` (absent ones are ignored). */
  drop(runId: string, keys: readonly string[]): Promise<void>;
  /** Every run waiting on `key`. */
  waiting(key: string): Promise<IndexedWait[]>;
}

interface WaitDoc {
  _id: string;
  eventKey: string;
  runId: string;
  workflowId: string;
  since: number;
  /** The filter as JSON text: its operators (`$in`, `$gt`, ...) are not valid field names in a document. */
  filter?: string;
  label?: string;
}

/** The `_id` of one run's wait on one key. */
export function waitDocId(runId: string, key: string): string {
  return `${runId}/${key}`;
}

/** The index entry of `wait`, for memory and Mongo alike. */
export function toIndexedWait(runId: string, workflowId: string, wait: EventWait): IndexedWait {
  return { ...structuredClone(wait), runId, workflowId };
}

/** The wait index over MongoDB. */
export function createMongoEventWaitStore(db: Db, names: Pick<CollectionNames, 'eventWaits'>): EventWaitStore {
  const waits: Collection<WaitDoc> = db.collection(names.eventWaits);
  const guard = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(err, op);
    }
  };
  return {
    put: (runId, workflowId, list) =>
      guard('putEventWaits', async () => {
        if (list.length === 0) return;
        await waits.bulkWrite(
          list.map((w) => {
            const doc: WaitDoc = { _id: waitDocId(runId, w.key), eventKey: w.key, runId, workflowId, since: w.since };
            if (w.filter !== undefined) doc.filter = JSON.stringify(w.filter);
            if (w.label !== undefined) doc.label = w.label;
            return { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } };
          }),
          { ordered: false },
        );
      }),
    drop: (runId, keys) =>
      guard('dropEventWaits', async () => {
        // One delete per key: FerretDB pushes down `_id` equality, not `$in`.
        for (const k of keys) await waits.deleteOne({ _id: waitDocId(runId, k) });
      }),
    waiting: (key) =>
      guard('readEventWaits', async () => {
        const docs = await waits.find({ eventKey: key }).toArray();
        return docs.map(({ _id, eventKey, filter, ...d }) => ({
          ...d,
          key: eventKey,
          ...(filter === undefined ? {} : { filter: JSON.parse(filter) as EventFilter }),
        }));
      }),
  };
}
