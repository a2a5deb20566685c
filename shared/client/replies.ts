/**
 * Reading what comes back: replies checked for the fields a method returns, and the bodies of
 * outcome and emit messages recognised before a result() or watch() hands them out.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import { readLargeBody } from '../bus/codec.js';
import { SquallError } from '../errors.js';
import type { BlobBackend } from '../payload/blobs.js';
import type { EmittedEvent, RunOutcome } from './types.js';
import { decode, isRecord } from './wire.js';

/** `reply` as T once it has every field of `keys`; an INTERNAL SquallError otherwise (a router bug). */
export function expectShape<T>(reply: unknown, subject: string, keys: string[]): T {
  if (!isRecord(reply) || keys.some((k) => !(k in reply))) {
    throw new SquallError('INTERNAL', `unexpected reply to ${subject}: expected fields ${keys.join(', ')}`, {
      details: { subject },
    });
  }
  return reply as T;
}

/** Is `body` a run's outcome (a message on a done subject)? */
export function isOutcome(body: unknown): body is RunOutcome {
  return (
    isRecord(body) &&
    typeof body.workflowId === 'string' &&
    typeof body.runId === 'string' &&
    typeof body.status === 'string'
  );
}

/** Is `body` an event a run emitted (a message on an emit subject)? */
export function isEmitted(body: unknown): body is EmittedEvent {
  return (
    isRecord(body) && typeof body.workflowId === 'string' && isRecord(body.event) && typeof body.event.type === 'string'
  );
}

/** safeDecode for a body that may have been sent out of band: loaded from `blobs` first. */
export async function safeRead(
  msg: { data: Uint8Array; headers?: MsgHdrs | undefined; subject: string },
  blobs: BlobBackend,
): Promise<unknown> {
  try {
    return await readLargeBody(msg, blobs);
  } catch {
    return undefined;
  }
}

/** The decoded body, or undefined for one that cannot be read (the caller skips it). */
export function safeDecode(msg: { data: Uint8Array; headers?: MsgHdrs | undefined; subject: string }): unknown {
  try {
    return decode(msg);
  } catch {
    return undefined;
  }
}
