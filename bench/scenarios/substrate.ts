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

/** Drops the scenario's database (best effort) and closes its client. */
async function dropAndClose(client: MongoClient, dbName: string): Promise<void> {
  await client
    .db(dbName)
    .dropDatabase()
    .catch(() => undefined);
  await client.close();
}

/**
 * The latency floors a run's path is read against, one at a time, medians over `n`: one
 * insertOne round trip, one acked JetStream publish, one JetStream leg (publish until a pull
 * consumer has the message, as a task reaches an executor or a result a router), and one core
 * NATS leg (the same without a stream).
 */
export async function latencyFloors(
  natsUrl: string,
  mongoUrl: string,
  n: number,
): Promise<{ insertOneMs: number; ackedPublishMs: number; jetStreamLegMs: number; coreLegMs: number }> {
  const median = (xs: number[]): number => round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0, 3);
  const client = await new MongoClient(mongoUrl).connect();
  const dbName = `bench_floor_${randomBytes(3).toString('hex')}`;
  const inserts: number[] = [];
  try {
    const col = client.db(dbName).collection<{ _id: string; runId: string; seq: number; events: Buffer }>('c');
    const events = Buffer.alloc(200, 7);
    await col.insertOne({ _id: 'warm', runId: 'warm', seq: 0, events });
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await col.insertOne({ _id: `f:${i}`, runId: `f-${i % 97}`, seq: i, events });
      inserts.push(performance.now() - t0);
    }
  } finally {
    await dropAndClose(client, dbName);
  }
  const nc = await connect({ servers: natsUrl, name: 'bench-floor' });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const name = `FLOOR_${randomBytes(3).toString('hex').toUpperCase()}`;
  const acked: number[] = [];
  const legs: number[] = [];
  try {
    await jsm.streams.add({
      name,
      subjects: [`${name}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Workqueue,
    });
    await jsm.consumers.add(name, {
      durable_name: 'c',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
    const msgs = await (await js.consumers.get(name, 'c')).consume({ max_messages: 64 });
    const it = msgs[Symbol.asyncIterator]();
    const body = encodeBody({ runId: 'a'.repeat(36), workflowId: 'wf-123456', activity: 'stepA', seq: 1, input: {} });
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const pub = js.publish(`${name}.task`, body, { msgID: `l-${i}` }).then(() => acked.push(performance.now() - t0));
      const got = await it.next();
      legs.push(performance.now() - t0);
      if (!got.done) got.value.ack();
      await pub;
    }
    // Ends the iteration too (close() would wait for an iterator this loop no longer reads).
    await it.return?.();
    await msgs.close();
  } finally {
    await jsm.streams.delete(name).catch(() => undefined);
    await nc.close();
  }
  return {
    insertOneMs: median(inserts),
    ackedPublishMs: median(acked),
    jetStreamLegMs: median(legs),
    coreLegMs: median(await coreLegs(natsUrl, n)),
  };
}

/**
 * Core NATS legs, one at a time: a publish on one connection until a subscriber on another has
 * it (no stream). What a leg costs without JetStream's store and PubAck: the floor under the
 * JetStream leg.
 */
async function coreLegs(natsUrl: string, n: number): Promise<number[]> {
  const pub = await connect({ servers: natsUrl, name: 'bench-floor-pub' });
  const sub = await connect({ servers: natsUrl, name: 'bench-floor-sub' });
  const subject = `floor.core.${randomBytes(3).toString('hex')}`;
  const legs: number[] = [];
  try {
    const it = sub.subscribe(subject)[Symbol.asyncIterator]();
    await sub.flush();
    const body = encodeBody({ runId: 'a'.repeat(36), workflowId: 'wf-123456', activity: 'stepA', seq: 1, input: {} });
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      pub.publish(subject, body);
      await it.next();
      legs.push(performance.now() - t0);
    }
  } finally {
    await pub.close();
    await sub.close();
  }
  return legs;
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
    await dropAndClose(client, dbName);
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
