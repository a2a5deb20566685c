/** Durable storage in MongoDB: history commits, run summaries, workflowId claims, timers. */

export { createMongoStore } from './mongo-store.js';
export * from './types.js';
