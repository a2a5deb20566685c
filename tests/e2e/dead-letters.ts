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
  /** Every header of the dead letter (the original's, plus the Squall-* ones). */
  headers: Record<string, string>;
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
  const messages = await consumer.consume({ max_messages: Math.min(total, 1000) });
  // Every stored message arrives; the timer only bounds a server that stops answering.
  const stop = setTimeout(() => messages.stop(), 30_000);
  for await (const m of messages) {
    const headers: Record<string, string> = {};
    if (m.headers) for (const [k, vs] of m.headers) headers[k] = vs.join(',');
    out.push({
      headers,
      reason: m.headers?.get(DLQ_HEADERS.reason) ?? '',
      error: m.headers?.get(DLQ_HEADERS.error) ?? '',
      originalSubject: m.headers?.get(DLQ_HEADERS.originalSubject) ?? '',
      bytes: m.data.length,
    });
    if (out.length >= total) break;
  }
  clearTimeout(stop);
  messages.stop();
  return out;
}
