/**
 * `cost`: what one noop3 workflow costs the substrate. NATS: messages and bytes in/out of the
 * server from its monitoring endpoint (`/varz`; the scenario starts its own nats-server with
 * monitoring unless NATS_URL is set) plus messages stored per stream; MongoDB: commands by kind
 * (serverStatus), documents per collection and bytes stored (collStats).
 */
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { MongoClient } from 'mongodb';
import { findNatsServer } from '../../services/dev/index.js';
import {
  freePort,
  makeTempDir,
  removeDir,
  type ServerProcess,
  spawnServer,
  stopProcess,
  tcpReachable,
} from '../../services/dev/process.js';
import { collectionNames, streamNames } from '../../shared/names.js';
import { num, type ScenarioContext, topologyOf, withEngine } from '../lib/context.js';
import { Driver } from '../lib/driver.js';
import { round } from '../lib/env.js';

interface Varz {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

/** A nats-server with JetStream and the HTTP monitoring port, for exact message counts. */
async function monitoredNats(): Promise<{ url: string; varz: () => Promise<Varz>; stop: () => Promise<void> }> {
  const bin = await findNatsServer();
  const dir = makeTempDir('nats-server');
  const [port, mport] = [await freePort(), await freePort()];
  const proc: ServerProcess = spawnServer(
    bin.path,
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-m', String(mport), '-sd', dir],
    join(dir, 'nats.log'),
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await tcpReachable('127.0.0.1', mport, 500);
      await tcpReachable('127.0.0.1', port, 500);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    varz: async () => (await (await fetch(`http://127.0.0.1:${mport}/varz`)).json()) as Varz,
    stop: async () => {
      await stopProcess(proc);
      removeDir(dir);
    },
  };
}

async function mongoCommands(client: MongoClient): Promise<Record<string, number>> {
  const s = (await client.db('admin').command({ serverStatus: 1 })) as {
    metrics?: { commands?: Record<string, { total?: number | { toNumber(): number } }> };
    opcounters?: Record<string, number>;
  };
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.metrics?.commands ?? {})) {
    const t = v?.total;
    if (t !== undefined) out[k] = typeof t === 'number' ? t : t.toNumber();
  }
  for (const [k, v] of Object.entries(s.opcounters ?? {})) out[`opcounters.${k}`] = Number(v);
  return out;
}

function delta(a: Record<string, number>, b: Record<string, number>, per: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = v - (a[k] ?? 0);
    if (d > 0) out[k] = round(d / per, 2);
  }
  return out;
}

/** `cost`: per-workflow messages, database commands, documents and bytes for noop3. */
export async function cost(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const n = num(ctx.flags, 'n', 300);
  const concurrency = num(ctx.flags, 'concurrency', 50);
  const own = process.env.NATS_URL ? undefined : await monitoredNats();
  const servers = own
    ? { ...ctx.servers, natsUrl: own.url, nats: { ...ctx.servers.nats, pid: undefined } }
    : ctx.servers;
  const mongo = await new MongoClient(servers.mongoUrl).connect();
  try {
    return await withEngine({ ...ctx, servers }, 'cost', topologyOf(ctx.flags), async ({ target }) => {
      const driver = await Driver.open(target.natsUrl, target.prefix, ['noop3']);
      const nc = await connect({ servers: target.natsUrl });
      try {
        const jsm = await jetstreamManager(nc);
        const streams = streamNames(target.prefix);
        const lastSeqs = async (): Promise<Record<string, number>> => {
          const out: Record<string, number> = {};
          for (const [k, name] of Object.entries(streams)) out[k] = (await jsm.streams.info(name)).state.last_seq;
          return out;
        };
        const seq0 = await lastSeqs();
        const varz0 = own ? await own.varz() : undefined;
        const cmd0 = await mongoCommands(mongo);
        const { timings, failures } = await driver.runMany('noop3', n, concurrency, (i) => ({ n: i }));
        // Summary and published-mark writes trail the done message; let them land.
        await new Promise((r) => setTimeout(r, 1_500));
        const cmd1 = await mongoCommands(mongo);
        const varz1 = own ? await own.varz() : undefined;
        const seq1 = await lastSeqs();
        const done = timings.filter((t) => t.status === 'completed').length;
        const db = mongo.db(target.dbName);
        const names = collectionNames(target.prefix);
        const collections: Record<string, unknown> = {};
        for (const [k, name] of Object.entries(names)) {
          const count = await db.collection(name).countDocuments();
          let size: number | null = null;
          let storageSize: number | null = null;
          try {
            const st = (await db.command({ collStats: name })) as { size?: number; storageSize?: number };
            size = st.size ?? null;
            storageSize = st.storageSize ?? null;
          } catch {
            // collStats is optional: report counts only
          }
          collections[k] = {
            docsPerWorkflow: round(count / done, 2),
            bytesPerWorkflow: size === null ? null : round(size / done, 0),
            storageBytesPerWorkflow: storageSize === null ? null : round(storageSize / done, 0),
          };
        }
        const streamMsgs = delta(seq0, seq1, done);
        return {
          workflows: n,
          completed: done,
          failures,
          // Includes the 300 runs only: warm-up is skipped so every count is theirs.
          nats: {
            source: own
              ? 'private nats-server /varz (exact, includes JetStream API, acks, pulls)'
              : 'stream counts only',
            jetstreamMessagesStoredPerWorkflow: streamMsgs,
            jetstreamMessagesStoredTotal: round(
              Object.values(streamMsgs).reduce((a, b) => a + b, 0),
              2,
            ),
            ...(varz0 && varz1
              ? {
                  serverInMsgsPerWorkflow: round((varz1.in_msgs - varz0.in_msgs) / done, 1),
                  serverOutMsgsPerWorkflow: round((varz1.out_msgs - varz0.out_msgs) / done, 1),
                  serverInBytesPerWorkflow: round((varz1.in_bytes - varz0.in_bytes) / done, 0),
                  serverOutBytesPerWorkflow: round((varz1.out_bytes - varz0.out_bytes) / done, 0),
                }
              : {}),
          },
          mongo: {
            commandsPerWorkflow: delta(cmd0, cmd1, done),
            collections,
          },
        };
      } finally {
        await nc.close();
        await driver.close();
      }
    });
  } finally {
    await mongo.close();
    await own?.stop();
  }
}
