/** Durable storage in MongoDB: history commits, run summaries, workflowId claims, timers. */
export { DUPLICATE_KEY, isDuplicateKeyError, isRetryableStoreError, toStoreError } from './errors.js';
export { STORE_INDEXES } from './indexes.js';
export { createMongoStore } from './mongo-store.js';
export * from './types.js';
