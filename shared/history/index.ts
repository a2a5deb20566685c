/** History: the event types of a run's append-only log and their storage and JSON encodings. */
export * from './codec.js';
export * from './events.js';
