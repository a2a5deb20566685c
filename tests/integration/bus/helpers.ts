/** Test helpers for the bus, executor and timer tests: a bus per test and a message collector. */
import { DeliverPolicy } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import { afterEach } from 'vitest';
import { decodeBody } from '../../../shared/bus/codec.js';
import { type Bus, type BusOptions, connectBus } from '../../../shared/bus/connect.js';
import { freshPrefix, natsUrl } from '../../harness/index.js';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Registers a cleanup run after the current test, last registered first. */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

/** A bus on a fresh prefix; its streams are deleted and it is closed after the test. */
export async function testBus(opts: Partial<BusOptions> = {}): Promise<Bus> {
  const bus = await connectBus({ servers: natsUrl(), prefix: freshPrefix(), ...opts });
  onCleanup(async () => {
    if (!bus.nc.isClosed()) {
      for (const name of Object.values(bus.streams)) await bus.jsm.streams.delete(name).catch(() => undefined);
    }
    await bus.close();
  });
  return bus;
}

/** A message seen by a collector. */
export interface Seen {
  subject: string;
  body: unknown;
  headers: MsgHdrs | undefined;
  data: Uint8Array;
}

/** Reads every message of `stream` matching `filter` (from the start) into an array, until the test ends. */
export async function collect(bus: Bus, stream: string, filter: string): Promise<Seen[]> {
  const seen: Seen[] = [];
  const consumer = await bus.js.consumers.get(stream, {
    // A single filter as a string: an array needs nats-server 2.10.
    filter_subjects: filter,
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume();
  void (async () => {
    for await (const m of messages) {
      let body: unknown;
      try {
        body = decodeBody(m.data, m.headers, m.subject);
      } catch {
        body = undefined;
      }
      seen.push({ subject: m.subject, body, headers: m.headers, data: m.data });
    }
  })();
  onCleanup(async () => {
    await messages.close();
  });
  return seen;
}
