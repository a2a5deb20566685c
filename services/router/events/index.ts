/** User events by key in the router: the fan-out of published events and the wait index's writer. */
export { deliverEvent, type StoredUserEvent, storedUserEvent } from './deliver.js';
export { EventFanout, type EventFanoutOptions } from './fanout.js';
export { EventWatch } from './watch.js';
