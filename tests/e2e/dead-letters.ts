/** Reads a namespace's dead-letter stream, for tests that check what was parked and why. */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DLQ_HEADERS } from '../../shared/bus/connect.js';
import { streamNames } from '../../shared/names.js';

/** One parked message. */
export interface DeadLetter {
  reason: string;
  error: string;
  originalSubject: string;
  bytes: number;
}

/** Every dead letter parked so far in `prefix`'s DLQ stream. */
export async function readDeadLetters(nc: NatsConnection, prefix: string): Promise<DeadLetter[]> {
  const js = jetstream(nc);
  const stream = streamNames(prefix).dlq;
  const info = await (await js.jetstreamManager()).streams.info(stream);
  const total = info.state.messages;
  if (total === 0) return [];
  const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const out: DeadLetter[] = [];
  const messages = await consumer.fetch({ max_messages: total, expires: 5_000 });
  for await (const m of messages) {
    out.push({
      reason: m.headers?.get(DLQ_HEADERS.reason) ?? '',
      error: m.headers?.get(DLQ_HEADERS.error) ?? '',
      originalSubject: m.headers?.get(DLQ_HEADERS.originalSubject) ?? '',
      bytes: m.data.length,
    });
    if (out.length >= total) break;
  }
  return out;
}
