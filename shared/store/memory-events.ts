/** The wait index in memory, for the in-memory store (same contract as createMongoEventWaitStore). */
import { type EventWaitStore, type IndexedWait, toIndexedWait, waitDocId } from './events.js';

export function createMemoryEventWaitStore(): EventWaitStore {
  const byId = new Map<string, IndexedWait>();
  return {
    async put(runId, workflowId, waits) {
      for (const w of waits) byId.set(waitDocId(runId, w.key), toIndexedWait(runId, workflowId, w));
    },
    async drop(runId, keys) {
      for (const k of keys) byId.delete(waitDocId(runId, k));
    },
    async waiting(key) {
      return [...byId.values()].filter((w) => w.key === key).map((w) => structuredClone(w));
    },
  };
}
