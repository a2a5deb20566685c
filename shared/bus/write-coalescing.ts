/**
 * One socket write per turn of the event loop. nats.js buffers what a connection sends and
 * writes it from a microtask queued by the first command after the last write, so under load
 * every chain of awaits that publishes or acks ends in a write syscall of its own: 10-13% of a
 * busy service's CPU went to `writeBuffer` in the profile (bench/profile-summary.ts), and
 * nats-server paid a read for each. Here the write waits for `setImmediate`, which runs right
 * after the I/O callbacks of the turn that buffered it: everything a turn sends goes out in one
 * write, a few microseconds later. A buffer past nats.js's own threshold is still written at once.
 *
 * What nobody waits for can wait longer (sendLazily): an input's or a task's ack, sent once what
 * it settles is published, goes out with the connection's next write, or after LAZY_WRITE_MS
 * when nothing else is sent. At light load each of those acks was a write of its own (about
 * 0.13 ms of a service's main thread on a 2-vCPU VM, and a read in nats-server).
 *
 * This replaces `sendCommand` on the connection's protocol handler, an internal of nats.js
 * (@nats-io/nats-core 3.x): when that shape is not found, the connection is left as it is, and
 * what is sent lazily is sent as usual.
 */
import type { NatsConnection } from '@nats-io/transport-node';

/** Longest a lazily sent command waits for another write to go out with. */
export const LAZY_WRITE_MS = 20;

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

/** A coalesced connection's write schedule. */
interface WriteSchedule {
  /** True while sendLazily runs its callback. */
  lazy: boolean;
  /** A write is due at the end of this turn. */
  immediate: boolean;
  /** A write is due when this timer fires (only lazy commands are buffered). */
  timer: NodeJS.Timeout | undefined;
  /** Writes what the connection holds, clearing any write due. */
  flush: () => void;
}

const schedules = new WeakMap<NatsConnection, WriteSchedule>();

/**
 * Makes `nc` write what it buffered once per event-loop turn (see the module comment). Returns
 * false, changing nothing, when the connection is not the nats.js implementation it knows.
 */
export function coalesceWrites(nc: NatsConnection): boolean {
  const protocol: unknown = (nc as unknown as { protocol?: unknown }).protocol;
  if (!isProtocolHandler(protocol)) return false;
  const flush = (): void => {
    s.immediate = false;
    if (s.timer !== undefined) {
      clearTimeout(s.timer);
      s.timer = undefined;
    }
    protocol.flushPending();
  };
  const s: WriteSchedule = { lazy: false, immediate: false, timer: undefined, flush };
  protocol.sendCommand = (cmd, ...payloads) => {
    protocol.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (protocol.outbound.size() >= protocol.pendingLimit) {
      flush();
    } else if (s.immediate) {
      // Goes out with the write already due this turn.
    } else if (!s.lazy) {
      s.immediate = true;
      setImmediate(flush);
    } else if (s.timer === undefined) {
      s.timer = setTimeout(flush, LAZY_WRITE_MS);
      s.timer.unref();
    }
  };
  schedules.set(nc, s);
  return true;
}

/**
 * Runs `send` (commands on `nc` nobody waits for, such as an ack) so that what it buffers goes out
 * with the connection's next write, or within LAZY_WRITE_MS (see the module comment). On a
 * connection coalesceWrites did not take, `send` runs as it is.
 */
export function sendLazily(nc: NatsConnection, send: () => void): void {
  const s = schedules.get(nc);
  if (!s) {
    send();
    return;
  }
  s.lazy = true;
  try {
    send();
  } finally {
    s.lazy = false;
  }
}

/** Writes at once whatever `nc` holds back, lazily sent commands included (before a close). */
export function flushHeldWrites(nc: NatsConnection): void {
  schedules.get(nc)?.flush();
}
