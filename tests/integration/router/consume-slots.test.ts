/**
 * The router's in-flight slots (services/router/consume.ts) against a real nats-server: pulled
 * inputs and direct offers share `maxInFlight`. A slot a finished input hands to a pulled input
 * waiting for one is not free for an offer in between, so the two together never exceed it.
 */
import { AckPolicy } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import { InputConsumer } from '../../../services/router/consume.js';
import type { InputMessage } from '../../../services/router/input-message.js';
import { connectBus } from '../../../shared/bus/connect.js';
import { createLogger } from '../../../shared/log.js';
import { freshPrefix, natsUrl, waitFor } from '../../harness/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An offered input that needs no answer. */
const offered = (n: number): InputMessage => ({
  subject: `offered.${n}`,
  data: new Uint8Array(),
  info: { streamSequence: 0, deliveryCount: 1, timestampNanos: 0 },
  working: () => undefined,
  ack: () => undefined,
  nak: () => undefined,
  term: () => undefined,
});

describe('router in-flight slots', () => {
  it('are never exceeded by offers made while a finished input hands its slot to a pulled one', async () => {
    const prefix = freshPrefix();
    const bus = await connectBus({ servers: natsUrl(), prefix });
    cleanups.push(() => bus.close());
    const stream = `${prefix}_slots`;
    const durable = 'slots';
    await bus.jsm.streams.add({ name: stream, subjects: [`${prefix}.slots.>`] });
    cleanups.push(async () => void (await bus.jsm.streams.delete(stream)));
    await bus.jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit });
    const PULLED = 20;
    for (let i = 0; i < PULLED; i++) await bus.js.publish(`${prefix}.slots.${i}`, new Uint8Array([i]));

    let maxSeen = 0;
    let offersTaken = 0;
    let pulledDone = 0;
    let offers = 0;
    const consumer: InputConsumer = new InputConsumer({
      bus,
      log: createLogger({ level: 'error' }),
      maxInFlight: 1,
      ackWaitMs: 30_000,
      handle: async (m) => {
        maxSeen = Math.max(maxSeen, consumer.inFlight());
        if (m.subject.startsWith('offered.')) {
          offersTaken++;
          return;
        }
        await new Promise((r) => setTimeout(r, 1));
        m.ack();
        pulledDone++;
        // While this input's slot goes to the next pulled one (a few microtasks from now), offer
        // at every step of the hand-off: each must be refused or fit in a free slot.
        let chain: Promise<void> = Promise.resolve();
        for (let i = 0; i < 8; i++) {
          chain = chain.then(() => {
            offers++;
            consumer.offer(offered(offers));
          });
        }
      },
    });
    cleanups.push(async () => consumer.stop());
    void consumer.consume({ stream, durable, filter: `${prefix}.slots.>` });
    await waitFor('every pulled input handled', () => pulledDone === PULLED, { timeoutMs: 20_000 });
    expect(offers).toBe(PULLED * 8);
    expect(maxSeen).toBe(1);
    // Offers were taken when the slot was free (after the last pulled input, at least).
    expect(offersTaken).toBeGreaterThan(0);
  });
});
