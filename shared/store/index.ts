/** Durable storage in MongoDB (and in memory, for tests): history commits, run summaries, workflowId claims, timers. */
export { DUPLICATE_KEY, isDuplicateKeyError, isRetryableStoreError, toStoreError } from './errors.js';
export { STORE_INDEXES } from './indexes.js';
export { createMemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { createMongoStore } from './mongo-store.js';
export * from './types.js';
