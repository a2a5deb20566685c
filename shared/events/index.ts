/** User events by key: filters, waits, published bodies (docs/events.md). */
export * from './filter.js';
export * from './wait.js';
