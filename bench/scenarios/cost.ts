/**
 * `cost`: what one noop3 workflow costs the substrate. NATS: messages and bytes in/out of the
 * server from its monitoring endpoint (`/varz`; the scenario starts its own nats-server with
 * monitoring unless NATS_URL is set) plus messages stored per stream; MongoDB: commands by kind
 * (serverStatus), documents per collection and bytes stored (collStats); CPU per workflow of
 * every process, as `throughput` reports it. With `--by-kind`, a tap subscribed to every subject
 * of the private server counts the messages by kind (publishes per subject family, pull requests,
 * acks, deliveries, replies); the tap doubles the server's deliveries, so its CPU is then dearer.
 */
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
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
import { measureCpu, num, type ScenarioContext, topologyOf, withEngine } from '../lib/context.js';
import { Driver } from '../lib/driver.js';
import { procCpuSeconds, round } from '../lib/env.js';

interface Varz {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

/** A nats-server with JetStream and the HTTP monitoring port, for exact message counts. */
async function monitoredNats(): Promise<{
  url: string;
  pid: number | undefined;
  varz: () => Promise<Varz>;
  stop: () => Promise<void>;
}> {
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
    pid: proc.child.pid,
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

/**
 * What a message seen by the tap is: a pull request, an ack, a JetStream API call, a stream
 * message delivered to a consumer (it keeps its subject, with an ack reply subject), a status
 * (408, heartbeats), a reply, or a publish, by subject family.
 */
function messageKind(m: Msg, prefix: string): string {
  const subject = m.subject;
  if (subject.startsWith('$JS.API.CONSUMER.MSG.NEXT.')) return 'pullRequest';
  if (subject.startsWith('$JS.ACK.')) {
    const body = new TextDecoder().decode(m.data);
    return body === '' || body === '+ACK' ? 'ack' : `ack ${body.split(' ')[0]}`;
  }
  if (subject.startsWith('$JS.API.')) return `jsApi ${subject.split('.').slice(2, 4).join('.')}`;
  const family = subject.startsWith(`${prefix}.`) ? subject.slice(prefix.length + 1).split('.')[0] : undefined;
  if (m.reply?.startsWith('$JS.ACK.')) return `delivery ${family ?? subject.split('.')[0]}`;
  const code = m.headers?.code;
  if (code) return `status ${code}`;
  if (family !== undefined) return `publish ${family}`;
  return subject.startsWith('_INBOX.') ? 'reply' : `other ${subject.split('.')[0]}`;
}

/** Counts every message on the server by kind, from a connection subscribed to every subject. */
async function tapMessages(
  url: string,
  prefix: string,
): Promise<{ counts: Map<string, number>; close: () => Promise<void> }> {
  const nc: NatsConnection = await connect({ servers: url });
  const counts = new Map<string, number>();
  nc.subscribe('>', {
    callback: (_err, m) => {
      const kind = messageKind(m, prefix);
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    },
  });
  await nc.flush();
  return { counts, close: () => nc.close() };
}

/** `cost`: per-workflow messages, database commands, documents and bytes for noop3. */
export async function cost(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const n = num(ctx.flags, 'n', 300);
  const concurrency = num(ctx.flags, 'concurrency', 50);
  const byKind = ctx.flags['by-kind'] === true;
  const own = process.env.NATS_URL ? undefined : await monitoredNats();
  const servers = own
    ? { ...ctx.servers, natsUrl: own.url, nats: { ...ctx.servers.nats, pid: undefined } }
    : ctx.servers;
  const mongo = await new MongoClient(servers.mongoUrl).connect();
  try {
    return await withEngine({ ...ctx, servers }, 'cost', topologyOf(ctx.flags), async ({ target, cpu }) => {
      const driver = await Driver.open(target.natsUrl, target.prefix, ['noop3']);
      const nc = await connect({ servers: target.natsUrl });
      const tap = byKind && own ? await tapMessages(own.url, target.prefix) : undefined;
      const ownPid = own?.pid;
      const readers = ownPid === undefined ? cpu : { ...cpu, natsServer: () => procCpuSeconds(ownPid) };
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
        tap?.counts.clear();
        const m = await measureCpu(
          readers,
          () => n,
          () => driver.runMany('noop3', n, concurrency, (i) => ({ n: i })),
        );
        const { timings, failures } = m.out;
        const tapped = tap ? new Map(tap.counts) : undefined;
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
        const kinds = tapped ? [...tapped.entries()].sort((a, b) => b[1] - a[1]) : [];
        return {
          workflows: n,
          completed: done,
          failures,
          workflowsPerSec: round((done / m.wallMs) * 1000, 1),
          // While the runs ran (the trailing writes after the last done message are not counted).
          cpuMsPerWorkflow: m.cpuMsPerUnit,
          coresBusy: m.coresBusy,
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
            ...(tapped
              ? {
                  // What the server routed while the runs ran: what clients sent and what it delivered.
                  messagesPerWorkflowByKind: Object.fromEntries(kinds.map(([k, v]) => [k, round(v / done, 2)])),
                }
              : {}),
          },
          mongo: {
            commandsPerWorkflow: delta(cmd0, cmd1, done),
            collections,
          },
        };
      } finally {
        await tap?.close();
        await nc.close();
        await driver.close();
      }
    });
  } finally {
    await mongo.close();
    await own?.stop();
  }
}
