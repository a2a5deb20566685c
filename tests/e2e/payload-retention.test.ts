/**
 * Retention of runs with large payloads over real services, with encryption on (so every stored
 * state is sealed): closed runs past their retention lose the chunks of their out-of-band inputs
 * and states with their history, an open run keeps all of its own, and a router SIGKILLed in the
 * middle of that sweep leaves the rest to the router that replaces it, which finishes: no chunk
 * of a swept run is left, and the open run still reads whole and completes.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { collectionNames } from '../../shared/names.js';
import { payloadCodecsFrom, usePayloadCodecs } from '../../shared/payload/index.js';
import type { RunDoc } from '../../shared/store/documents.js';
import type { BlobChunkDoc } from '../../shared/store/payloads.js';
import { payloadOf } from '../fixtures/payloads/data.js';
import { connectMongo, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { type ServiceEnv, startService } from './processes.js';

const WORKFLOWS = 'tests/fixtures/payloads/workflows.ts';
const ACTIVITIES = 'tests/fixtures/payloads/activities.ts';
const KEYS = `k1:${randomBytes(32).toString('base64')}`;
/** Runs swept at once: enough that a sweep of them takes long enough to be caught mid-way. */
const CLOSED_RUNS = 16;
/** 600 KiB of hex: its start, its task and its state each go out of band. */
const PAD_BYTES = 600 * 1024;
/** A sweep interval no test here outlives: only the routers started to sweep do. */
const NEVER_MS = '3600000';

let env: ServiceEnv;
let client: SquallClient;

beforeAll(async () => {
  env = {
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    prefix: freshPrefix(),
    dbName: freshDbName(),
    extra: { SQUALL_ENCRYPTION_KEYS: KEYS },
  };
  client = await connect({
    servers: env.natsUrl,
    prefix: env.prefix,
    codecs: payloadCodecsFrom({ encryptionKeys: KEYS }),
  });
});

afterAll(async () => {
  await client?.close();
  usePayloadCodecs([]);
});

describe('retention of large payloads', () => {
  it('a router SIGKILLed mid-sweep leaves nothing orphaned once another finishes; the open run keeps its chunks', async () => {
    const mongo = await connectMongo(env.mongoUrl);
    const db = mongo.db(env.dbName);
    const chunks = db.collection<BlobChunkDoc>(collectionNames(env.prefix).blobs);
    const runs = db.collection<RunDoc>(collectionNames(env.prefix).runs);
    // No executor yet: every run waits on its activity, open until terminated.
    const router = await startService(
      'router',
      ['router', '--workflows', WORKFLOWS, '--sweep-interval-ms', NEVER_MS],
      env,
    );
    const seed = randomBytes(8).toString('hex');
    const input = (n: string) => ({ seed: `${seed}-${n}`, size: 64, pad: payloadOf(`${seed}-${n}`, PAD_BYTES) });

    const live = await client.start('payloads', input('live'), { workflowId: `live-${seed}` });
    const closed = await Promise.all(
      Array.from({ length: CLOSED_RUNS }, (_, i) =>
        client.start('payloads', input(`${i}`), { workflowId: `closed-${seed}-${i}`, retentionMs: 1 }),
      ),
    );
    for (const r of closed) await client.terminate(r.workflowId, 'to be swept');
    const closedIds = closed.map((r) => r.runId);
    await waitFor(
      'every terminated run to be stored closed',
      async () => (await runs.countDocuments({ _id: { $in: closedIds }, closedAt: { $exists: true } })) === CLOSED_RUNS,
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const ownedBy = async (runIds: string[]) => chunks.countDocuments({ runId: { $in: runIds } });
    // Each run's start commit and state are out of band.
    await waitFor(
      'the open run to store its summary',
      async () => (await runs.countDocuments({ _id: live.runId })) > 0,
    );
    const liveChunks = await ownedBy([live.runId]);
    expect(liveChunks).toBeGreaterThanOrEqual(2);
    expect(await ownedBy(closedIds)).toBeGreaterThanOrEqual(2 * CLOSED_RUNS);

    // A router that sweeps at once, SIGKILLed when it has swept some of the runs but not all.
    const sweeping = ['router', '--workflows', WORKFLOWS, '--sweep-interval-ms', '100'];
    const first = await startService('sweeper', sweeping, env);
    const swept = async () => runs.countDocuments({ _id: { $in: closedIds }, swept: { $exists: true } });
    await waitFor(
      'the sweeper to be part way through the closed runs',
      async () => {
        const n = await swept();
        return n > 0 && n < CLOSED_RUNS;
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    );
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const cutShort = await swept();
    expect(cutShort).toBeLessThan(CLOSED_RUNS);

    // The router that replaces it finishes the sweep: each run a tombstone out of its bucket.
    const second = await startService('sweeper-2', sweeping, env);
    await waitFor(
      'every closed run swept to the end',
      async () =>
        (await runs.countDocuments({
          _id: { $in: closedIds },
          swept: { $exists: true },
          sweepBucket: { $exists: false },
        })) === CLOSED_RUNS,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(await ownedBy(closedIds)).toBe(0);
    // Nothing orphaned: every chunk left belongs to the open run, which has all of its own.
    const owners = new Set((await chunks.find({}, { projection: { runId: 1 } }).toArray()).map((c) => c.runId));
    expect(owners).toEqual(new Set([live.runId]));
    expect(await ownedBy([live.runId])).toBeGreaterThanOrEqual(liveChunks);

    // The open run reads whole and completes once an executor comes.
    const executor = await startService('executor', ['executor', '--activities', ACTIVITIES], env);
    const output = (await client.result(live.workflowId, { runId: live.runId, timeoutMs: 60_000 })) as {
      echo: string;
    };
    expect(output.echo).toBe(`OUTPUT-${seed}-live`);
    const events = (await client.history(live.workflowId)).commits.flatMap((c) => c.events);
    const started = events.find((e) => e.type === 'RunStarted') as { input?: { pad: string } } | undefined;
    expect(started?.input?.pad === input('live').pad).toBe(true);
    for (const p of [executor, second, router]) p.kill('SIGTERM');
  }, 180_000);
});
