/**
 * Dead letters: a message that cannot be processed is parked on `dlq.<reason>` with why, and its
 * original bytes, so nothing is silently dropped while NATS is there to take it.
 */
import { headers as createHeaders, type MsgHdrs } from '@nats-io/transport-node';
import { PayloadTooLargeError, SquallError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Publisher } from './publish.js';

/** Dead-letter headers. */
export const DLQ_HEADERS = {
  reason: 'Squall-Reason',
  error: 'Squall-Error',
  originalSubject: 'Squall-Original-Subject',
  truncated: 'Squall-Truncated',
} as const;

/** The original message of a dead letter. */
export interface DeadLetterOriginal {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs | undefined;
}

// Headers JetStream interprets that must not be copied onto a dead letter.
const DROP_ON_DLQ = /^nats-(expected-|rollup|ttl|batch-|schedule)/i;
const MAX_HEADER_VALUE = 1024;
/** What is kept of a message too large for the DLQ stream. */
const TRUNCATED_BYTES = 64 * 1024;

/** Makes a string safe as a header value: one line, bounded length. */
export function headerValue(s: string): string {
  const line = s.replace(/[\r\n]+/g, ' ');
  return line.length > MAX_HEADER_VALUE ? `${line.slice(0, MAX_HEADER_VALUE - 1)}…` : line;
}

/**
 * Publishes `original` to `subject` as a dead letter (see Bus.parkDeadLetter for the contract):
 * throws UnavailableError only when NATS stays unavailable; other failures are logged and swallowed.
 */
export async function parkDeadLetter(
  publisher: Pick<Publisher, 'publishBytes'>,
  log: Logger,
  subject: string,
  reason: string,
  original: DeadLetterOriginal,
  err: unknown,
): Promise<void> {
  const h = createHeaders();
  if (original.headers) {
    for (const [k, vs] of original.headers) {
      if (DROP_ON_DLQ.test(k)) continue;
      for (const v of vs) h.append(k, v);
    }
  }
  const info = err instanceof SquallError || err instanceof Error ? err.message : String(err);
  h.set(DLQ_HEADERS.reason, reason);
  h.set(DLQ_HEADERS.error, headerValue(info));
  h.set(DLQ_HEADERS.originalSubject, original.subject);
  log.warn('dead-lettered a message', {
    reason,
    subject: original.subject,
    error: info,
    bytes: original.data.length,
  });
  try {
    await publisher.publishBytes(subject, original.data, { headers: h });
  } catch (first) {
    let pubErr = first;
    if (first instanceof PayloadTooLargeError) {
      h.set(DLQ_HEADERS.truncated, String(original.data.length));
      try {
        await publisher.publishBytes(subject, original.data.subarray(0, TRUNCATED_BYTES), { headers: h });
        return;
      } catch (again) {
        pubErr = again;
      }
    }
    if (pubErr instanceof SquallError && pubErr.code === 'UNAVAILABLE') throw pubErr;
    log.error('could not dead-letter a message; dropping it', {
      reason,
      subject: original.subject,
      err: pubErr,
    });
  }
}
