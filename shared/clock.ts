/**
 * Time as an injected dependency: services and stores read the time only through a Clock, so a
 * test can drive it (XState's SimulatedClock does the same for delayed events).
 */

/** A source of the current time, in milliseconds since the Unix epoch. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };
