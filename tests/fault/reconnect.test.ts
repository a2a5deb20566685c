/**
 * Every service rides out MongoDB and nats-server going away and coming back: readiness (NATS
 * request/reply and HTTP /readyz) drops while a server is away and returns after, the change is
 * logged, runs started before, during and after the outages complete exactly once, nothing is
 * left unacked, and SIGTERM then stops each service cleanly within its deadline.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HealthReply } from '../../services/common/service.js';
import { freePort } from '../../services/dev/index.js';
import { decodeBody, encodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { subjects as subjectsOf } from '../../shared/names.js';
import { createMongoStore } from '../../shared/store/index.js';
import { consumerBacklogs, historyProblems, loadCommits } from '../chaos/invariants.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, startService } from '../e2e/processes.js';
import {
  connectMongo,
  connectNats,
  freshDbName,
  freshPrefix,
  type LocalServers,
  privateServers,
  waitFor,
} from '../harness/index.js';

let servers: LocalServers;
let env: ServiceEnv;
let client: SquallClient;
const procs: { p: ServiceProcess; port: number }[] = [];

async function status(port: number, path: '/healthz' | '/readyz'): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return 0;
  }
}

async function allReady(ready: boolean, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `every service /readyz to answer ${ready ? 200 : 503}`,
    async () =>
      (await Promise.all(procs.map((x) => status(x.port, '/readyz')))).every((c) => c === (ready ? 200 : 503)),
    { timeoutMs, intervalMs: 200 },
  );
}

beforeAll(async () => {
  servers = await privateServers();
  env = { natsUrl: servers.nats.url, mongoUrl: servers.mongo.url, prefix: freshPrefix(), dbName: freshDbName() };
  const specs: [string, string[]][] = [
    ['router', ['router', '--workflows', SAMPLE.workflows]],
    ['executor', ['executor', '--activities', SAMPLE.activities]],
    ['timer', ['timer']],
  ];
  for (const [name, args] of specs) {
    const port = await freePort();
    procs.push({ p: await startService(name, [...args, '--health-port', String(port)], env), port });
  }
  client = await connect({ servers: env.natsUrl, prefix: env.prefix, name: 'reconnect-test' });
  return async () => {
    await client.close();
  };
}, 120_000);

describe('reconnect', () => {
  it('carries on through a MongoDB and a nats-server restart, and stops on SIGTERM', async () => {
    const s = subjectsOf(env.prefix);
    const startRaw = async (id: string): Promise<void> => {
      // A plain publish is durable in the inbox even while no router can answer a request.
      const nc = await connectNats(env.natsUrl);
      nc.publish(
        s.start('order'),
        encodeBody({ workflowId: id, input: { orderId: id, amount: 5, approvalTimeoutMs: 500 } }),
      );
      await nc.flush();
      await nc.close();
    };
    await allReady(true);
    expect(await status(procs[0]?.port ?? 0, '/healthz')).toBe(200);
    const nc = await connectNats(env.natsUrl);
    const msg = await nc.request(s.health('router'), encodeBody({}), { timeout: 5_000 });
    const reply = decodeBody(msg.data, msg.headers, msg.subject) as HealthReply;
    expect(reply).toMatchObject({ service: 'router', live: true, ready: true });
    await nc.close();

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(`before-${i}`);
      await client.start(
        'order',
        { orderId: `before-${i}`, amount: 5, approvalTimeoutMs: 500 },
        { workflowId: `before-${i}` },
      );
    }

    // MongoDB away: router and timer turn unready and say so; starts sent meanwhile wait in the inbox.
    servers.mongo.kill('SIGKILL');
    const [router, , timer] = procs;
    await waitFor(
      'router and timer to report MongoDB unreachable',
      async () =>
        (await status(router?.port ?? 0, '/readyz')) === 503 && (await status(timer?.port ?? 0, '/readyz')) === 503,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    for (let i = 0; i < 5; i++) {
      ids.push(`during-mongo-${i}`);
      await startRaw(`during-mongo-${i}`);
    }
    await servers.mongo.restart();
    await allReady(true);
    // Each said so in its log (the driver's view of the server, or the store failing and recovering).
    const said = (x: (typeof procs)[number] | undefined, msgs: string[]): boolean =>
      x?.p.logs.some((l) => msgs.includes(String(l.msg))) === true;
    for (const x of [router, timer]) {
      expect(said(x, ['mongodb unreachable', 'store operations failing; timers wait until they work again'])).toBe(
        true,
      );
      expect(said(x, ['mongodb reachable again', 'store operations work again'])).toBe(true);
    }

    // nats-server away (same store dir): everyone turns unready, reconnects, re-establishes consumers.
    servers.nats.kill('SIGKILL');
    await allReady(false, 30_000);
    await servers.nats.restart();
    await allReady(true);
    for (const x of procs)
      expect(
        x.p.logs.some((l) => l.msg === 'nats reconnected'),
        x.p.name,
      ).toBe(true);
    for (let i = 0; i < 5; i++) {
      ids.push(`after-${i}`);
      await startRaw(`after-${i}`);
    }

    const mongo = await connectMongo(env.mongoUrl);
    const store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
    for (const id of ids) {
      const run = await waitFor(
        `${id} to complete`,
        async () => {
          const r = await store.getRunByWorkflowId(id);
          return r?.status === 'completed' ? r : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 250 },
      ).catch(async (err: unknown) => {
        // What the services said of it, and the summary and history as stored, for the next reader.
        const lines = procs.flatMap((x) =>
          x.p.logs
            .filter((l) => l.workflowId === id || l.level === 'warn' || l.level === 'error')
            .map((l) => `${x.p.name} ${JSON.stringify(l)}`),
        );
        const summary = await mongo
          .db(env.dbName)
          .collection(`${env.prefix}_runs`)
          .findOne({ workflowId: id } as never)
          .catch(() => null);
        process.stderr.write(`STUCK ${id} summary=${JSON.stringify(summary)}\n${lines.slice(-60).join('\n')}\n`);
        throw err;
      });
      expect(run.output, id).toMatchObject({ status: 'timedOut' });
      const commits = await loadCommits(store, run.runId).catch(async (err: unknown) => {
        const raw = mongo.db(env.dbName).collection<{ _id: string }>(`${env.prefix}_commits`);
        const probe = await Promise.all([1, 2, 3, 4, 5].map((q) => raw.findOne({ _id: `${run.runId}:${q}` })));
        const byRun = await raw.find({ runId: run.runId } as never).toArray();
        const readable: string[] = [];
        for (const q of [1, 3]) {
          for await (const c of store.loadHistory(run.runId, q - 1)) {
            readable.push(`${c.seq}:${c.events.map((e) => e.type).join('+')}`);
            break;
          }
        }
        process.stderr.write(`GAP-EVENTS ${readable.join(' | ')} summaryLastSeq=${run.lastSeq}\n`);
        process.stderr.write(
          `GAP ${id} probe=${JSON.stringify(probe.map((d) => d?._id ?? null))} scan=${JSON.stringify(byRun.map((d) => d._id))}\n`,
        );
        throw err;
      });
      expect(historyProblems(commits), id).toEqual([]);
    }
    const jsNc = await connectNats(env.natsUrl);
    const jsm = await jetstreamManager(jsNc);
    await waitFor(
      'no backlog',
      async () => (await consumerBacklogs(jsm, env.prefix)).every((b) => b.ackPending === 0 && b.pending === 0),
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    // Graceful shutdown: SIGTERM, exit 0 within the deadline, "shut down" logged.
    for (const x of procs) x.p.kill('SIGTERM');
    const codes = await Promise.all(procs.map((x) => x.p.exited));
    expect(codes).toEqual([0, 0, 0]);
    for (const x of procs)
      expect(
        x.p.logs.some((l) => l.msg === 'shut down'),
        x.p.name,
      ).toBe(true);
  }, 300_000);
});
