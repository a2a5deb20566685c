/**
 * Schedules over MongoDB: `<prefix>_schedules` holds each schedule's spec (users write it) and
 * `<prefix>_schedule_states` its progress (timer services write it), both keyed by schedule id
 * (see shared/schedules/store.ts for why they are two documents). Every filter is by `_id`, the
 * one FerretDB 1.x serves from an index; a list reads its page by `_id` order.
 */
import type { Collection, Db } from 'mongodb';
import { ConflictError, NotFoundError } from '../errors.js';
import type { CollectionNames } from '../names.js';
import type { ScheduleSpec } from '../schedules/spec.js';
import { newScheduleState, type ScheduleRecord, type ScheduleState, type ScheduleStore } from '../schedules/store.js';
import { isDuplicateKeyError, toStoreError } from './errors.js';

interface ScheduleDoc {
  _id: string;
  spec: ScheduleSpec;
  createdAt: number;
  updatedAt: number;
}

interface ScheduleStateDoc extends ScheduleState {
  _id: string;
}

/** Default and largest page of a schedule list. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/** Creates the schedule operations of a Mongo store. */
export function createMongoScheduleStore(
  db: Db,
  names: Pick<CollectionNames, 'schedules' | 'scheduleStates'>,
): ScheduleStore {
  const specs: Collection<ScheduleDoc> = db.collection(names.schedules);
  const states: Collection<ScheduleStateDoc> = db.collection(names.scheduleStates);
  const guard = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ConflictError || err instanceof NotFoundError) throw err;
      throw toStoreError(err, op);
    }
  };
  const stateOf = async (id: string): Promise<ScheduleState> => {
    const d = await states.findOne({ _id: id });
    if (!d) return newScheduleState();
    const { _id, ...state } = d;
    return state;
  };
  const recordOf = async (d: ScheduleDoc): Promise<ScheduleRecord> => ({
    id: d._id,
    spec: d.spec,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    state: await stateOf(d._id),
  });
  return {
    create: (id, spec, now) =>
      guard('createSchedule', async () => {
        try {
          await specs.insertOne({ _id: id, spec, createdAt: now, updatedAt: now });
        } catch (err) {
          if (!isDuplicateKeyError(err)) throw err;
          throw new ConflictError(`schedule ${JSON.stringify(id)} exists; update it, or delete it first`, {
            retryable: false,
            details: { reason: 'schedule-exists', scheduleId: id },
          });
        }
      }),
    updateSpec: (id, spec, now) =>
      guard('updateSchedule', async () => {
        const r = await specs.updateOne({ _id: id }, { $set: { spec, updatedAt: now } });
        if (r.matchedCount === 0) throw notFound(id);
      }),
    get: (id) =>
      guard('getSchedule', async () => {
        const d = await specs.findOne({ _id: id });
        return d ? recordOf(d) : undefined;
      }),
    list: (page = {}) =>
      guard('listSchedules', async () => {
        const limit = Math.min(Math.max(1, Math.floor(page.limit ?? DEFAULT_PAGE)), MAX_PAGE);
        const filter = page.cursor === undefined ? {} : { _id: { $gt: page.cursor } };
        const docs = await specs.find(filter, { sort: { _id: 1 }, limit: limit + 1 }).toArray();
        const items = await Promise.all(docs.slice(0, limit).map(recordOf));
        const last = items[items.length - 1];
        return docs.length > limit && last ? { items, nextCursor: last.id } : { items };
      }),
    delete: (id) =>
      guard('deleteSchedule', async () => {
        const r = await specs.deleteOne({ _id: id });
        await states.deleteOne({ _id: id });
        return r.deletedCount > 0;
      }),
    saveState: (id, state) =>
      guard('saveScheduleState', async () => {
        await states.replaceOne({ _id: id }, state, { upsert: true });
      }),
  };
}

export function notFound(id: string): NotFoundError {
  return new NotFoundError(`no schedule ${JSON.stringify(id)}`, {
    details: { reason: 'unknown-schedule', scheduleId: id },
  });
}
