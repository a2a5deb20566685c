/**
 * User events by key (docs/events.md): what a run waits on, what a publish carries, and the event
 * a waiting run receives. Pure data and checks, shared by the engine, the fan-out and the client.
 */
import { InvalidInputError } from '../errors.js';
import type { Millis } from '../history/events.js';
import { validateToken } from '../names.js';
import { type EventFilter, matchesFilter, validateFilter } from './filter.js';

/** Event types a run receives for key `k` are `squall.event.<k>`; the engine lets only these `squall.*` in. */
export const USER_EVENT_PREFIX = 'squall.event.';

/** The machine event type of key `key`. */
export function userEventType(key: string): `squall.event.${string}` {
  return `${USER_EVENT_PREFIX}${validateEventKey(key)}`;
}

/** The key of a user event type, or undefined for any other type. */
export function keyOfEventType(type: string): string | undefined {
  return type.startsWith(USER_EVENT_PREFIX) ? type.slice(USER_EVENT_PREFIX.length) : undefined;
}

/** Throws InvalidInputError naming what is wrong with a key (a subject token: no `.`, `*`, `>`, spaces). */
export function validateEventKey(key: unknown): string {
  return validateToken('eventKey', key);
}

/** Longest label of a wait. */
const MAX_LABEL = 128;

/**
 * How far back a wait looks when it begins: `'runStart'` takes every event of its key published
 * since the run started, a number that many milliseconds before the wait began. Absent: only
 * events published after the wait began.
 */
export type WaitSince = 'runStart' | number;

/** What a state of a machine declares it waits on (the transition's `meta.squallWait`). */
export interface WaitSpec {
  key: string;
  filter?: EventFilter;
  label?: string;
  since?: WaitSince;
}

/** A run's live wait on one key, in its RunState and in the wait index. */
export interface EventWait {
  key: string;
  filter?: EventFilter;
  label?: string;
  /** Events published at or after this time reach the wait. */
  since: Millis;
}

/** Checks a wait's declaration; throws InvalidInputError naming the field. */
export function validateWaitSpec(spec: unknown): WaitSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new InvalidInputError('waitForEvent needs { key, filter?, label?, since? }');
  }
  const s = spec as Record<string, unknown>;
  const out: WaitSpec = { key: validateEventKey(s.key) };
  if (s.filter !== undefined) out.filter = validateFilter(s.filter);
  if (s.label !== undefined) {
    if (typeof s.label !== 'string' || s.label.length === 0 || s.label.length > MAX_LABEL) {
      throw new InvalidInputError(`waitForEvent label must be a string of 1 to ${MAX_LABEL} characters`, {
        details: { key: out.key },
      });
    }
    out.label = s.label;
  }
  if (s.since !== undefined) {
    if (s.since !== 'runStart' && !(typeof s.since === 'number' && Number.isSafeInteger(s.since) && s.since >= 0)) {
      throw new InvalidInputError(
        `waitForEvent since must be 'runStart' or a non-negative number of milliseconds, got ${JSON.stringify(s.since)}`,
        { details: { key: out.key } },
      );
    }
    out.since = s.since;
  }
  return out;
}

/** The body of a published event (`<prefix>.userevent.<key>`). */
export interface PublishedEvent {
  /** Names the event in every run's history; a publish without one is named by its stream sequence. */
  eventId?: string;
  payload?: unknown;
}

/** Checks a published event's body; throws InvalidInputError naming the field. */
export function parsePublishedEvent(body: unknown): PublishedEvent {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new InvalidInputError('a user event body must be an object { eventId?, payload? }');
  }
  const b = body as Record<string, unknown>;
  const out: PublishedEvent = {};
  if (b.eventId !== undefined) out.eventId = validateToken('eventKey', b.eventId);
  if (b.payload !== undefined) out.payload = b.payload;
  return out;
}

/** The event a waiting run's machine receives (`{ type: 'squall.event.<key>', ... }`), as recorded in history. */
export interface UserEvent {
  type: `squall.event.${string}`;
  key: string;
  eventId: string;
  payload?: unknown;
  /** When the event was stored (the stream's time). */
  publishedAt: Millis;
  /** The wait's label, when it has one: shown in `squall history --table`. */
  label?: string;
}

/** `type` of a signal body that delivers a user event to one run of the signalled workflowId. */
export const USER_EVENT_SIGNAL_TYPE = 'squall.userEvent';

/** One event's delivery to one waiting run, on the signal subject of its workflowId. */
export interface UserEventDelivery {
  type: typeof USER_EVENT_SIGNAL_TYPE;
  runId: string;
  event: UserEvent;
}

/** The message id of one event's delivery to one run: a repeat is dropped by JetStream and by the run. */
export function deliveryMsgId(eventId: string, runId: string): string {
  return `${eventId}:${runId}`;
}

/** True when an event published at `publishedAt` with `payload` reaches `wait` (its time, then its filter). */
export function reachesWait(wait: EventWait, publishedAt: Millis, payload: unknown): boolean {
  return publishedAt >= wait.since && matchesFilter(wait.filter, payload);
}

/** When a wait declared by `spec` at `enteredAt` starts taking events, for a run started at `runStartedAt`. */
export function waitSince(spec: WaitSpec, enteredAt: Millis, runStartedAt: Millis): Millis {
  if (spec.since === 'runStart') return runStartedAt;
  if (typeof spec.since === 'number') return enteredAt - spec.since;
  return enteredAt;
}
