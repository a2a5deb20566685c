/**
 * One socket write per turn of the event loop. nats.js buffers what a connection sends and
 * writes it from a microtask queued by the first command after the last write, so under load
 * every chain of awaits that publishes or acks ends in a write syscall of its own: 10-13% of a
 * busy service's CPU went to `writeBuffer` in the profile (bench/profile-summary.ts), and
 * nats-server paid a read for each. Here the write waits for `setImmediate`, which runs right
 * after the I/O callbacks of the turn that buffered it: everything a turn sends goes out in one
 * write, a few microseconds later. A buffer past nats.js's own threshold is still written at once.
 *
 * This replaces `sendCommand` on the connection's protocol handler, an internal of nats.js
 * (@nats-io/nats-core 3.x): when that shape is not found, the connection is left as it is.
 */
import type { NatsConnection } from '@nats-io/transport-node';

/** The parts of nats.js's ProtocolHandler that sendCommand uses. */
interface ProtocolHandlerShape {
  outbound: { fill(buf: Uint8Array, ...payloads: Uint8Array[]): void; size(): number };
  pendingLimit: number;
  flushPending(): void;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
}

function isProtocolHandler(p: unknown): p is ProtocolHandlerShape {
  if (typeof p !== 'object' || p === null) return false;
  const h = p as Partial<Record<keyof ProtocolHandlerShape, unknown>>;
  const out = h.outbound as Partial<Record<'fill' | 'size', unknown>> | undefined;
  return (
    typeof h.sendCommand === 'function' &&
    typeof h.flushPending === 'function' &&
    typeof h.pendingLimit === 'number' &&
    typeof out?.fill === 'function' &&
    typeof out.size === 'function'
  );
}

const encoder = new TextEncoder();

/**
 * Makes `nc` write what it buffered once per event-loop turn (see the module comment). Returns
 * false, changing nothing, when the connection is not the nats.js implementation it knows.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const protocol: unknown = (nc as unknown as { protocol?: unknown }).protocol;
  if (!isProtocolHandler(protocol)) return false;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    protocol.flushPending();
  };
  protocol.sendCommand = (cmd, ...payloads) => {
    protocol.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (protocol.outbound.size() >= protocol.pendingLimit) {
      protocol.flushPending();
    } else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return true;
}
