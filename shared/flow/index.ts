/** Flow control: start gates (debounce, singleton), concurrency keys, rate limits and priorities. */
export * from './priority.js';
export * from './slots.js';
export * from './spec.js';
export * from './starts.js';
export * from './state.js';
