/** Schedules in memory, for the in-memory store (same contract as createMongoScheduleStore). */
import { ConflictError } from '../errors.js';
import type { ScheduleSpec } from '../schedules/spec.js';
import { newScheduleState, type ScheduleRecord, type ScheduleState, type ScheduleStore } from '../schedules/store.js';
import { notFound } from './schedules.js';

/** A copy through structuredClone, so callers never share the stored objects. */
const copy = <T>(v: T): T => structuredClone(v);

export function createMemoryScheduleStore(): ScheduleStore {
  const specs = new Map<string, { spec: ScheduleSpec; createdAt: number; updatedAt: number }>();
  const states = new Map<string, ScheduleState>();
  const record = (id: string): ScheduleRecord | undefined => {
    const s = specs.get(id);
    return s ? copy({ id, ...s, state: states.get(id) ?? newScheduleState() }) : undefined;
  };
  return {
    async create(id, spec, now) {
      if (specs.has(id)) {
        throw new ConflictError(`schedule ${JSON.stringify(id)} exists; update it, or delete it first`, {
          retryable: false,
          details: { reason: 'schedule-exists', scheduleId: id },
        });
      }
      specs.set(id, { spec: copy(spec), createdAt: now, updatedAt: now });
    },
    async updateSpec(id, spec, now) {
      const s = specs.get(id);
      if (!s) throw notFound(id);
      specs.set(id, { ...s, spec: copy(spec), updatedAt: now });
    },
    async get(id) {
      return record(id);
    },
    async list(page = {}) {
      const limit = Math.min(Math.max(1, Math.floor(page.limit ?? 100)), 1000);
      const ids = [...specs.keys()].sort().filter((id) => page.cursor === undefined || id > page.cursor);
      const items = ids.slice(0, limit).map((id) => record(id) as ScheduleRecord);
      const last = items[items.length - 1];
      return ids.length > limit && last ? { items, nextCursor: last.id } : { items };
    },
    async delete(id) {
      states.delete(id);
      return specs.delete(id);
    },
    async saveState(id, state) {
      states.set(id, copy(state));
    },
  };
}
