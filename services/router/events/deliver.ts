/**
 * How a published event reaches one waiting run: as a signal for that run (by runId) on its
 * workflowId's signal subject, with the message id `<eventId>:<runId>`, so a repeat (a fan-out
 * redelivered after a crash, or found again by a wait's catch-up) is dropped by JetStream's
 * duplicate window and, past it, by the run's recent inputs or its state (a stale event is ignored).
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import { decodeBody } from '../../../shared/bus/codec.js';
import type { Bus } from '../../../shared/bus/connect.js';
import {
  deliveryMsgId,
  parsePublishedEvent,
  reachesWait,
  USER_EVENT_SIGNAL_TYPE,
  type UserEvent,
  type UserEventDelivery,
  userEventType,
} from '../../../shared/events/wait.js';
import type { Millis } from '../../../shared/history/events.js';
import type { IndexedWait } from '../../../shared/store/events.js';

/** A stored user event, read from the stream (by the fan-out's consumer or a wait's catch-up). */
export interface StoredUserEvent {
  key: string;
  eventId: string;
  payload?: unknown;
  publishedAt: Millis;
}

/**
 * Parses a user event message: the key from its subject, the body `{ eventId?, payload? }`; an
 * event published without an eventId is named by its stream sequence. Throws InvalidInputError.
 */
export function storedUserEvent(
  bus: Bus,
  m: { subject: string; data: Uint8Array; headers?: MsgHdrs | undefined; seq: number; publishedAt: Millis },
): StoredUserEvent {
  const key = m.subject.slice(bus.subjects.all.userEvent.length - 1);
  const body = parsePublishedEvent(m.data.length === 0 ? undefined : decodeBody(m.data, m.headers, m.subject));
  const out: StoredUserEvent = { key, eventId: body.eventId ?? `s${m.seq}`, publishedAt: m.publishedAt };
  if (body.payload !== undefined) out.payload = body.payload;
  return out;
}

/**
 * Publishes `event` to each of `waits` it reaches (time and filter), then flushes once: the inbox
 * stream acks nothing, so the flush's round trip is what says the server took them. Returns how many.
 */
export async function deliverEvent(bus: Bus, event: StoredUserEvent, waits: readonly IndexedWait[]): Promise<number> {
  let sent = 0;
  for (const w of waits) {
    if (!reachesWait(w, event.publishedAt, event.payload)) continue;
    const e: UserEvent = {
      type: userEventType(event.key),
      key: event.key,
      eventId: event.eventId,
      publishedAt: event.publishedAt,
    };
    if (event.payload !== undefined) e.payload = event.payload;
    if (w.label !== undefined) e.label = w.label;
    const body: UserEventDelivery = { type: USER_EVENT_SIGNAL_TYPE, runId: w.runId, event: e };
    bus.publishCore(bus.subjects.signal(w.workflowId), body, {
      headers: { 'Nats-Msg-Id': deliveryMsgId(event.eventId, w.runId) },
    });
    sent++;
  }
  if (sent > 0) await bus.nc.flush();
  return sent;
}
