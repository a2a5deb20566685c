/**
 * `client.publishEvent(key, payload)`: one user event for every run waiting on `key`
 * (docs/events.md). An acked JetStream publish on `<prefix>.userevent.<key>`: it resolves once
 * the event is stored; the routers' fan-out then delivers it. A retried publish keeps its eventId
 * (the `Nats-Msg-Id`), so the stream stores it once.
 */
import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeBody } from '../bus/codec.js';
import { UnavailableError } from '../errors.js';
import { type PublishedEvent, parsePublishedEvent, validateEventKey } from '../events/wait.js';
import type { Subjects } from '../names.js';

/** Options of publishEvent. */
export interface PublishEventOptions {
  /** Names the event in every run's history; a repeat within the duplicate window (2 min) is dropped. @default a random UUID */
  eventId?: string;
}

/** What publishEvent answers: the event's id and its position in the user events stream. */
export interface PublishedEventReceipt {
  eventId: string;
  seq: number;
}

/** Publishes one user event; InvalidInputError for a bad key or eventId, before anything is sent. */
export async function publishEvent(
  nc: NatsConnection,
  subjects: Subjects,
  retry: { timeoutMs: number; attempts: number },
  key: string,
  payload?: unknown,
  opts: PublishEventOptions = {},
): Promise<PublishedEventReceipt> {
  const subject = subjects.userEvent(validateEventKey(key));
  const body: PublishedEvent = parsePublishedEvent({ eventId: opts.eventId ?? randomUUID(), payload });
  const eventId = body.eventId as string;
  try {
    // Retried with the same msg id: a repeat the stream already holds is answered, not stored again.
    const ack = await jetstream(nc).publish(subject, encodeBody(body), {
      msgID: eventId,
      timeout: retry.timeoutMs,
      retries: Math.max(0, retry.attempts - 1),
    });
    return { eventId, seq: ack.seq };
  } catch (err) {
    throw new UnavailableError(`${subject}: the event was not stored: ${(err as Error).message}`, {
      cause: err,
      details: { subject, eventId },
    });
  }
}
