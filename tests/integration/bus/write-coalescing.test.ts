/**
 * coalesceWrites on a real nats.js connection to a real nats-server: what one event-loop turn
 * sends, from however many chains of awaits, goes out in one socket write, every message arrives
 * in order, and a buffer past nats.js's threshold is still written at once. What is sent lazily
 * (acks) waits for the next write, or LAZY_WRITE_MS, or a close.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { coalesceWrites, flushHeldWrites, LAZY_WRITE_MS, sendLazily } from '../../../shared/bus/write-coalescing.js';
import { connectNats, waitFor } from '../../harness/index.js';

/** Counts the socket writes of a connection (nats.js's transport.send, an internal). */
function countWrites(nc: NatsConnection): { writes: number } {
  const transport = (nc as unknown as { protocol: { transport: { send(frame: Uint8Array): void } } }).protocol
    .transport;
  const counter = { writes: 0 };
  const send = transport.send.bind(transport);
  transport.send = (frame) => {
    counter.writes++;
    send(frame);
  };
  return counter;
}

/** Publishes `n` messages, each from its own microtask (as awaited decisions publish). */
async function publishApart(nc: NatsConnection, subject: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    nc.publish(subject, String(i));
    await Promise.resolve();
  }
}

async function received(sub: NatsConnection, subject: string, n: number): Promise<() => Promise<string[]>> {
  const got: string[] = [];
  const s = sub.subscribe(subject, {
    callback: (_err, m) => {
      got.push(m.string());
    },
  });
  await sub.flush();
  return async () => {
    await waitFor(`${n} messages on ${subject}`, () => got.length >= n || undefined);
    s.unsubscribe();
    return got;
  };
}

describe('coalesceWrites', () => {
  it('sends what one turn publishes from many microtasks in one write, every message in order', async () => {
    const sub = await connectNats();
    const plain = await connectNats();
    const coalesced = await connectNats();
    expect(coalesceWrites(coalesced)).toBe(true);
    const expected = Array.from({ length: 50 }, (_, i) => String(i));

    const plainGot = await received(sub, 'coalesce.plain', 50);
    const plainWrites = countWrites(plain);
    await publishApart(plain, 'coalesce.plain', 50);
    await plain.flush();
    expect(await plainGot()).toEqual(expected);

    const coalescedGot = await received(sub, 'coalesce.one', 50);
    const coalescedWrites = countWrites(coalesced);
    await publishApart(coalesced, 'coalesce.one', 50);
    await coalesced.flush();
    expect(await coalescedGot()).toEqual(expected);

    // nats.js alone writes once per microtask that published; coalesced, the turn's 50 messages
    // and the flush's PING go out together (the PING may take a write of its own).
    expect(plainWrites.writes).toBeGreaterThanOrEqual(50);
    expect(coalescedWrites.writes).toBeLessThanOrEqual(2);
  });

  it('writes at once past the pending limit, and requests still get their replies', async () => {
    const nc = await connectNats();
    expect(coalesceWrites(nc)).toBe(true);
    const writes = countWrites(nc);
    const big = new Uint8Array(40 * 1024);
    // nats.js's threshold is 32 KiB: each of these crosses it, so each is written as it is sent.
    nc.publish('coalesce.big', big);
    nc.publish('coalesce.big', big);
    expect(writes.writes).toBe(2);

    const responder = await connectNats();
    expect(coalesceWrites(responder)).toBe(true);
    responder.subscribe('coalesce.echo', {
      callback: (_err, m) => {
        m.respond(m.data);
      },
    });
    await responder.flush();
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => nc.request('coalesce.echo', String(i), { timeout: 5_000 })),
    );
    expect(replies.map((r) => r.string())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });

  it('sends a lazy command with the next write, or on its own once LAZY_WRITE_MS passed, in order', async () => {
    const sub = await connectNats();
    const nc = await connectNats();
    expect(coalesceWrites(nc)).toBe(true);
    const writes = countWrites(nc);

    // Alone: nothing is written this turn; it goes within the bound, in one write.
    const alone = await received(sub, 'lazy.alone', 1);
    const sentAt = performance.now();
    sendLazily(nc, () => nc.publish('lazy.alone', 'ack'));
    await new Promise((r) => setImmediate(r));
    expect(writes.writes).toBe(0);
    expect(await alone()).toEqual(['ack']);
    expect(writes.writes).toBe(1);
    expect(performance.now() - sentAt).toBeGreaterThanOrEqual(LAZY_WRITE_MS - 2);

    // With a later command that others wait for: both go in that command's write, in order.
    const together = await received(sub, 'lazy.together', 2);
    sendLazily(nc, () => nc.publish('lazy.together', 'ack'));
    await Promise.resolve();
    nc.publish('lazy.together', 'publish');
    expect(await together()).toEqual(['ack', 'publish']);
    expect(writes.writes).toBe(2);

    // Held back, then a close: flushHeldWrites sends it first.
    const closing = await received(sub, 'lazy.closing', 1);
    sendLazily(nc, () => nc.publish('lazy.closing', 'ack'));
    flushHeldWrites(nc);
    expect(writes.writes).toBe(3);
    expect(await closing()).toEqual(['ack']);
  });

  it('runs a lazy send as it is on a connection it did not take', async () => {
    const sub = await connectNats();
    const nc = await connectNats();
    const got = await received(sub, 'lazy.plain', 1);
    sendLazily(nc, () => nc.publish('lazy.plain', 'ack'));
    expect(await got()).toEqual(['ack']);
    expect(() => flushHeldWrites(nc)).not.toThrow();
  });

  it('leaves a connection it does not know as it is', () => {
    expect(coalesceWrites({} as NatsConnection)).toBe(false);
    expect(coalesceWrites({ protocol: { sendCommand: () => undefined } } as unknown as NatsConnection)).toBe(false);
  });
});
