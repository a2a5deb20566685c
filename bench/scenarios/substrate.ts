/**
 * `substrate`: the raw limits of the servers under the engine, measured with the same clients:
 * JetStream acked publishes (pipelined), pull consume + ack, and both at once; MongoDB-protocol
 * inserts one at a time, concurrently, and batched. Engine figures are read against these.
 */
import { randomBytes } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { MongoClient } from 'mongodb';
import { encodeBody } from '../../shared/bus/codec.js';
import { num, type ScenarioContext } from '../lib/context.js';
import { round } from '../lib/env.js';

const perSec = (n: number, ms: number): number => round((n / ms) * 1000, 0);

/** JetStream: publish N (window W in flight, with msg ids), then consume+ack N, then both at once. */
async function jetStreamLimits(natsUrl: string, n: number, window: number): Promise<Record<string, number>> {
  const nc = await connect({ servers: natsUrl, name: 'bench-substrate' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const name = `BENCH_${randomBytes(3).toString('hex').toUpperCase()}`;
  await jsm.streams.add({
    name,
    subjects: [`${name}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Workqueue,
    discard: DiscardPolicy.Old,
    duplicate_window: 120_000_000_000,
  });
  await jsm.consumers.add(name, {
    durable_name: 'c',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 4096,
  });
  // A body the size of a typical task message.
  const body = encodeBody({
    runId: 'a'.repeat(36),
    workflowId: 'wf-123456',
    activity: 'stepA',
    seq: 1,
    input: { n: 1 },
  });
  let id = 0;
  const publish = async (count: number): Promise<void> => {
    let sent = 0;
    const inFlight = new Set<Promise<unknown>>();
    while (sent < count) {
      while (inFlight.size < window && sent < count) {
        const h = headers();
        h.set('Nats-Msg-Id', `m-${++id}`);
        const p = js.publish(`${name}.task`, body, { headers: h });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        sent++;
      }
      await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  };
  const consume = async (count: number): Promise<void> => {
    const c = await js.consumers.get(name, 'c');
    const msgs = await c.consume({ max_messages: 512 });
    let got = 0;
    for await (const m of msgs) {
      m.ack();
      if (++got >= count) break;
    }
    await msgs.close();
  };
  try {
    let t0 = performance.now();
    await publish(n);
    const publishMs = performance.now() - t0;
    t0 = performance.now();
    await consume(n);
    const consumeMs = performance.now() - t0;
    t0 = performance.now();
    await Promise.all([publish(n), consume(n)]);
    const bothMs = performance.now() - t0;
    // One message at a time, each publish awaited: the latency floor of one acked hop.
    t0 = performance.now();
    const single = Math.min(500, n);
    for (let i = 0; i < single; i++) {
      const h = headers();
      h.set('Nats-Msg-Id', `s-${i}`);
      await js.publish(`${name}.task`, body, { headers: h });
    }
    const singleMs = performance.now() - t0;
    return {
      messages: n,
      publishWindow: window,
      publishPerSec: perSec(n, publishMs),
      consumeAckPerSec: perSec(n, consumeMs),
      publishAndConsumeAckConcurrentPerSec: perSec(n, bothMs),
      sequentialAckedPublishMs: round(singleMs / single, 3),
    };
  } finally {
    await jsm.streams.delete(name).catch(() => undefined);
    await nc.close();
  }
}

/** MongoDB protocol: insertOne sequential, insertOne with 64 in flight, insertMany of 500. */
async function mongoLimits(mongoUrl: string, n: number): Promise<Record<string, number>> {
  const client = await new MongoClient(mongoUrl, { maxPoolSize: 100 }).connect();
  const dbName = `bench_substrate_${randomBytes(3).toString('hex')}`;
  const col = client.db(dbName).collection<{ _id: string; runId: string; seq: number; events: Buffer }>('c');
  const events = Buffer.alloc(200, 7); // about one commit's msgpack payload
  const doc = (i: number, tag: string) => ({ _id: `${tag}:${i}`, runId: `${tag}-${i % 97}`, seq: i, events });
  try {
    await col.insertOne(doc(0, 'warm'));
    let t0 = performance.now();
    const seqN = Math.min(n, 1500);
    for (let i = 0; i < seqN; i++) await col.insertOne(doc(i, 'seq'));
    const seqMs = performance.now() - t0;
    t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < n) await col.insertOne(doc(next++, 'conc'));
      }),
    );
    const concMs = performance.now() - t0;
    const batches = Math.max(1, Math.round((n * 3) / 500));
    t0 = performance.now();
    for (let b = 0; b < batches; b++) {
      await col.insertMany(
        Array.from({ length: 500 }, (_, i) => doc(b * 500 + i, 'many')),
        { ordered: false },
      );
    }
    const manyMs = performance.now() - t0;
    t0 = performance.now();
    const lookups = 500;
    for (let i = 0; i < lookups; i++) await col.findOne({ _id: `seq:${i}` });
    const idLookupMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < 20; i++) await col.findOne({ runId: `seq-${i}`, seq: i });
    const fieldLookupMs = performance.now() - t0;
    const count = await col.countDocuments();
    return {
      insertOneSequentialPerSec: perSec(seqN, seqMs),
      insertOneConcurrent64PerSec: perSec(n, concMs),
      insertManyBatch500DocsPerSec: perSec(batches * 500, manyMs),
      findByIdMs: round(idLookupMs / lookups, 3),
      // No index on these fields: a collection scan on FerretDB/SQLite (and on mongod too).
      findByUnindexedFieldMs: round(fieldLookupMs / 20, 2),
      docsInCollectionAtLookup: count,
    };
  } finally {
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
  }
}

/** `substrate`: JetStream and MongoDB-protocol limits on this machine. */
export async function substrate(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const messages = num(ctx.flags, 'messages', 20_000);
  const docs = num(ctx.flags, 'docs', 3_000);
  return {
    jetstream: await jetStreamLimits(ctx.servers.natsUrl, messages, 1024),
    mongo: await mongoLimits(ctx.servers.mongoUrl, docs),
  };
}
