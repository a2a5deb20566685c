/**
 * Payload codecs and large payloads end to end, with encryption and compression on in every
 * process (services by environment, this client by `connect({ codecs })`):
 * - no plaintext of a run's input, activity result or output in any MongoDB document of its
 *   database or any JetStream message of its namespace (stored, or seen on the wire while it ran),
 *   and no key in any service log;
 * - a 20 MiB activity result flows through a run (out of band on the wire and in the store) and
 *   comes back byte-identical;
 * - the router killed right after storing the commit of a large result; the executor SIGKILLed
 *   while sending one, then the router SIGKILLed while storing it: the processes that replace
 *   them finish the run, nothing lost and the result recorded once, byte-identical; once swept
 *   after its retention, the run leaves no chunk behind, not even those of the write the dead
 *   router cut.
 * Routers and executors of the fault tests run with 2 s ack waits, so what a dead one held comes
 * back at once.
 */
import { randomBytes } from 'node:crypto';
import type { JetStreamManager } from '@nats-io/jetstream';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/transport-node';
import { BSON } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { collectionNames, streamNames, subjects } from '../../shared/names.js';
import { payloadCodecsFrom, usePayloadCodecs } from '../../shared/payload/index.js';
import type { CommitDoc, RunDoc } from '../../shared/store/documents.js';
import { createMongoStore } from '../../shared/store/index.js';
import type { BlobChunkDoc } from '../../shared/store/payloads.js';
import { payloadOf } from '../fixtures/payloads/data.js';
import { runCli } from '../harness/cli.js';
import { connectMongo, connectNats, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { type ServiceEnv, type ServiceProcess, startService } from './processes.js';

const WORKFLOWS = 'tests/fixtures/payloads/workflows.ts';
const ACTIVITIES = 'tests/fixtures/payloads/activities.ts';
const key1 = randomBytes(32).toString('base64');
const key2 = randomBytes(32).toString('base64');
// Rotated: k2 writes, k1 still reads.
const KEYS = `k2:${key2},k1:${key1}`;
const codecSettings = { encryptionKeys: KEYS, compression: 'deflate' };

let env: ServiceEnv;
let client: SquallClient;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  env = {
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    prefix: freshPrefix(),
    dbName: freshDbName(),
    extra: { SQUALL_ENCRYPTION_KEYS: KEYS, SQUALL_COMPRESSION: 'deflate' },
  };
  services.push(
    ...(await Promise.all([
      startService('executor', ['executor', '--activities', ACTIVITIES], env),
      startService('router', ['router', '--workflows', WORKFLOWS], env),
    ])),
  );
  client = await connect({ servers: env.natsUrl, prefix: env.prefix, codecs: payloadCodecsFrom(codecSettings) });
});

afterAll(async () => {
  await client?.close();
  usePayloadCodecs([]);
});

describe('payload encryption', () => {
  it('leaves no plaintext of input, activity result or output in MongoDB or JetStream, and no key in logs', async () => {
    const seed = randomBytes(16).toString('hex');
    const nc = await connectNats(env.natsUrl);
    const leaks: string[] = [];
    const seen = (where: string, bytes: Uint8Array) => {
      if (Buffer.from(bytes).includes(seed)) leaks.push(where);
    };
    // Everything on the wire while the run goes, whatever the subject (other files' traffic too).
    const wire = nc.subscribe('>', {
      callback: (_err, m: Msg) => {
        seen(`wire ${m.subject}`, m.data);
        if (m.headers) seen(`wire headers ${m.subject}`, Buffer.from(m.headers.toString()));
      },
    });
    const started = await client.start('payloads', { seed, size: 64 }, { workflowId: `enc-${seed.slice(0, 8)}` });
    const output = (await client.result(started.workflowId, { runId: started.runId, timeoutMs: 30_000 })) as {
      echo: string;
      result: { text: string };
    };
    await nc.flush();
    wire.unsubscribe();
    // The client decodes what the services sealed.
    expect(output.echo).toBe(`OUTPUT-${seed}`);
    expect(output.result.text).toBe(`RESULT-${seed}`);

    // Every stored message of the namespace.
    const jsm: JetStreamManager = await jetstreamManager(nc);
    for (const name of Object.values(streamNames(env.prefix))) {
      const info = await jsm.streams.info(name).catch(() => undefined);
      if (!info) continue;
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(name, { seq }).catch(() => null);
        if (m) seen(`stream ${name} seq ${seq}`, m.data);
      }
    }
    // Every document of the run's database.
    const mongo = await connectMongo(env.mongoUrl);
    const db = mongo.db(env.dbName);
    let documents = 0;
    for (const c of await db.listCollections().toArray()) {
      for (const d of await db.collection(c.name).find({}).toArray()) {
        documents++;
        seen(`document ${c.name}/${String(d._id)}`, BSON.serialize(d));
      }
    }
    expect(documents).toBeGreaterThan(0);
    expect(leaks).toEqual([]);

    // The command line decodes with the same codecs, given by the same variables.
    const cli = await runCli(['describe', started.workflowId], {
      NATS_URL: env.natsUrl,
      SQUALL_PREFIX: env.prefix,
      SQUALL_ENCRYPTION_KEYS: KEYS,
      SQUALL_COMPRESSION: 'deflate',
    });
    expect(cli.code).toBe(0);
    expect(JSON.stringify(cli.lines)).toContain(`OUTPUT-${seed}`);

    const logs = JSON.stringify(services.map((s) => [s.logs, s.noise]));
    for (const k of [key1, key2, Buffer.from(key1, 'base64').toString('hex')]) expect(logs).not.toContain(k);
  });
});

describe('large payloads', () => {
  const SIZE = 20 * 1024 * 1024;

  it('carries a 20 MiB activity result through a run and back, byte-identical', async () => {
    const seed = randomBytes(8).toString('hex');
    const started = await client.start('payloads', { seed, size: SIZE }, { workflowId: `big-${seed}` });
    const output = (await client.result(started.workflowId, { runId: started.runId, timeoutMs: 120_000 })) as {
      result: { data: string };
    };
    expect(output.result.data.length).toBe(SIZE);
    expect(output.result.data === payloadOf(seed, SIZE)).toBe(true);
    // History replies that large come out of band too.
    const events = (await client.history(started.workflowId)).commits.flatMap((c) => c.events);
    const completed = events.find((e) => e.type === 'ActivityCompleted') as { output?: { data: string } } | undefined;
    expect(completed?.output?.data === output.result.data).toBe(true);
  }, 180_000);

  it('loses nothing and counts the result once when the router dies right after storing it', async () => {
    // 2 MiB: out of band like 20 (anything over 256 KiB is), at a tenth of the cost.
    const size = 2 * 1024 * 1024;
    // A router that exits once it stored its 2nd commit (the run's start is the 1st, the result
    // the 2nd), before publishing or acking anything for it.
    const faulty = faultNamespace();
    const [executor, router] = await Promise.all([
      startService('executor', ['executor', '--activities', ACTIVITIES], faulty),
      startService('router', ['router', '--workflows', WORKFLOWS], {
        ...faulty,
        extra: { ...faulty.extra, SQUALL_FAULT: 'exit-after-append:2' },
      }),
    ]);
    const c = await connect({ servers: faulty.natsUrl, prefix: faulty.prefix });
    try {
      const seed = randomBytes(8).toString('hex');
      const started = await c.start('payloads', { seed, size }, { workflowId: `crash-${seed}` });
      expect(await router.exited).toBe(137);
      const second = await startService('router-2', ['router', '--workflows', WORKFLOWS], faulty);
      await expectCompletedOnce(c, faulty, started, payloadOf(seed, size));
      second.kill('SIGTERM');
      executor.kill('SIGTERM');
    } finally {
      await c.close();
    }
  }, 120_000);

  it('loses nothing and counts the result once when the executor is SIGKILLed while sending it, then the router while storing it', async () => {
    // 4 MiB of hex, about 2 MiB sealed: some 9 chunks, written 8 at a time.
    const size = 4 * 1024 * 1024;
    const ns = faultNamespace();
    const [router, executor] = await Promise.all([
      startService('router', ['router', '--workflows', WORKFLOWS], ns),
      startService('executor', ['executor', '--activities', ACTIVITIES], ns),
    ]);
    const c = await connect({ servers: ns.natsUrl, prefix: ns.prefix });
    const nc = await connectNats(ns.natsUrl);
    const mongo = await connectMongo(ns.mongoUrl);
    const chunks = mongo.db(ns.dbName).collection<BlobChunkDoc>(collectionNames(ns.prefix).blobs);
    // Chunks seen on the wire, by blob; the executor dies at the first chunk of its result.
    const chunksByBlob = new Map<string, number>();
    let executorKilled = false;
    const wire = nc.subscribe(subjects(ns.prefix).all.blob, {
      callback: (_err, m: Msg) => {
        if (!executorKilled) executor.kill('SIGKILL');
        const blob = m.subject.split('.').at(-2) ?? '';
        chunksByBlob.set(blob, (chunksByBlob.get(blob) ?? 0) + 1);
      },
    });
    try {
      const seed = randomBytes(8).toString('hex');
      // Expired as soon as it closes; these routers sweep only a minute after they start.
      const started = await c.start('payloads', { seed, size }, { workflowId: `kills-${seed}`, retentionMs: 1 });
      expect(await executor.exited).toBe('SIGKILL');
      executorKilled = true;
      // The task it held comes back after the ack wait, to the executor that replaces it; the
      // router dies once it stored a chunk of that result, writing the rest.
      const executor2 = await startService('executor-2', ['executor', '--activities', ACTIVITIES], ns);
      const commits = mongo.db(ns.dbName).collection<CommitDoc>(collectionNames(ns.prefix).commits);
      await waitFor(
        'the router to store a chunk of the result',
        async () => (await chunks.countDocuments({ runId: started.runId })) > 0,
        { timeoutMs: 60_000, intervalMs: 2 },
      );
      router.kill('SIGKILL');
      await router.exited;
      // Killed mid-way: the commit of the result was not stored, only its first chunks were.
      expect(await commits.countDocuments({ runId: started.runId })).toBe(1);
      const router2 = await startService('router-2', ['router', '--workflows', WORKFLOWS], ns);
      await expectCompletedOnce(c, ns, started, payloadOf(seed, size));
      await nc.flush();
      // The executor dies at its first chunk on the wire: mostly before its last one, so its blob
      // is short of a finished one's; a kill that lands after the last chunk leaves two whole
      // blobs, and still one result counted (above). Never more chunks than a whole blob has.
      const [first, ...rest] = [...chunksByBlob.values()];
      expect(rest.length).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(Math.max(...rest));

      // Swept by a router that sweeps at once: its chunks go, those the dead router left too.
      // The router that finished the run goes first: one still writing the closed run's summary
      // (a redelivery of its result) would race the sweep.
      router2.kill('SIGKILL');
      await router2.exited;
      expect(await chunks.countDocuments({ runId: started.runId })).toBeGreaterThan(0);
      const sweeper = await startService(
        'sweeper',
        ['router', '--workflows', WORKFLOWS, '--sweep-interval-ms', '200'],
        ns,
      );
      // Swept to the end: a tombstone, out of its sweep bucket (which it leaves last).
      const runs = mongo.db(ns.dbName).collection<RunDoc>(collectionNames(ns.prefix).runs);
      await waitFor(
        `run ${started.runId} swept`,
        async () => {
          const run = await runs.findOne({ _id: started.runId });
          return run?.swept !== undefined && run.sweepBucket === undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(await chunks.countDocuments({ runId: started.runId })).toBe(0);
      for (const p of [sweeper, executor2]) p.kill('SIGTERM');
    } finally {
      wire.unsubscribe();
      await nc.close();
      await c.close();
    }
  }, 120_000);
});

/**
 * A namespace of its own with the file's codecs, where inputs and tasks a killed process held come
 * back after 2 s rather than the 30 s default (the routers' and executors' ack waits).
 */
function faultNamespace(extra: Record<string, string> = {}): ServiceEnv {
  return {
    ...env,
    prefix: freshPrefix(),
    dbName: freshDbName(),
    extra: { ...env.extra, SQUALL_ROUTER_ACK_WAIT_MS: '2000', SQUALL_ACK_WAIT_MS: '2000', ...extra },
  };
}

function storeOf(ns: ServiceEnv): { dbName: string; collectionPrefix: string } {
  return { dbName: ns.dbName, collectionPrefix: ns.prefix };
}

/** The run completes with `data` as its result, recorded once in its stored history. */
async function expectCompletedOnce(
  c: SquallClient,
  ns: ServiceEnv,
  started: { workflowId: string; runId: string },
  data: string,
): Promise<void> {
  const output = (await c.result(started.workflowId, { runId: started.runId, timeoutMs: 60_000 })) as {
    result: { data: string };
  };
  expect(output.result.data === data).toBe(true);
  const store = createMongoStore(await connectMongo(ns.mongoUrl), storeOf(ns));
  const events = [];
  for await (const commit of store.loadHistory(started.runId)) events.push(...commit.events);
  const completed = events.filter((e) => e.type === 'ActivityCompleted') as { output?: { data: string } }[];
  expect(completed).toHaveLength(1);
  expect(completed[0]?.output?.data === data).toBe(true);
  expect(events.filter((e) => e.type === 'RunCompleted')).toHaveLength(1);
}
