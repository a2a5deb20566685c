/**
 * Scale: 300 runs across 2 routers, 3 executors and 2 timer services, all separate processes.
 * Every executor takes part, every run completes exactly once, and every history is gapless.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { streamNames, subjects as subjectsOf } from '../../shared/names.js';
import { createMongoStore } from '../../shared/store/index.js';
import type { StoredCommit } from '../../shared/store/types.js';
import { connectMongo, connectNats, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, startService } from './processes.js';

const RUNS = 300;
let env: ServiceEnv;
let client: SquallClient;
const executors: ServiceProcess[] = [];

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  // Start one service first so it creates streams and indexes; the rest then start together.
  await startService('router-1', ['router', '--workflows', SAMPLE.workflows], env);
  const rest = await Promise.all([
    startService('router-2', ['router', '--workflows', SAMPLE.workflows], env),
    ...[1, 2, 3].map((i) => startService(`executor-${i}`, ['executor', '--activities', SAMPLE.activities], env)),
    startService('timer-1', ['timer'], env),
    startService('timer-2', ['timer'], env),
  ]);
  executors.push(...rest.filter((p) => p.name.startsWith('executor')));
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
}, 180_000);

describe('scale', () => {
  it(`completes ${RUNS} runs exactly once with work spread over every executor`, async () => {
    const s = subjectsOf(env.prefix);
    const nc = await connectNats(env.natsUrl);
    const done = new Map<string, number>();
    const sub = nc.subscribe(s.doneFilter('order'), {
      callback: (_err, m) => {
        const body = decodeBody(m.data, m.headers, m.subject) as { workflowId: string };
        done.set(body.workflowId, (done.get(body.workflowId) ?? 0) + 1);
      },
    });
    const ids = Array.from({ length: RUNS }, (_, i) => `scale-${i}`);
    const started = Date.now();
    // Every third run is approved (three activities); the others time out after their charge.
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(
        ids
          .slice(i, i + 50)
          .map((id, j) =>
            client.start(
              'order',
              { orderId: id, amount: 100 + i + j, approvalTimeoutMs: (i + j) % 3 === 0 ? 60_000 : 300 },
              { workflowId: id },
            ),
          ),
      );
    }
    const approved = ids.filter((_, i) => i % 3 === 0);
    await Promise.all(
      approved.map(async (id) => {
        await waitFor(`${id} to await approval`, async () => (await client.query(id)).accepts.includes('approve'), {
          timeoutMs: 60_000,
          intervalMs: 200,
        });
        await client.signal(id, { type: 'approve' });
      }),
    );
    await waitFor(`${RUNS} completions`, () => done.size === RUNS, { timeoutMs: 120_000, intervalMs: 200 });
    const seconds = (Date.now() - started) / 1000;
    sub.unsubscribe();

    // A core subscriber may see a completion twice (a redelivered input republishing a publish
    // whose ack was lost); the outcomes stream dedupes by msg id and must hold exactly one per run.
    const outcomes = await (await jetstreamManager(nc)).streams.info(streamNames(env.prefix).outcomes, {
      subjects_filter: s.doneFilter('order'),
    });
    const stored = outcomes.state.subjects ?? {};
    expect(Object.keys(stored)).toHaveLength(RUNS);
    expect(Object.values(stored).every((n) => n === 1)).toBe(true);
    for (const e of executors) {
      expect(e.logs.filter((l) => l.activity !== undefined).length, `${e.name} ran activities`).toBeGreaterThan(0);
    }

    const mongo = await connectMongo(env.mongoUrl);
    const store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
    let repeatedResults = 0;
    for (const [i, id] of ids.entries()) {
      const run = await store.getRunByWorkflowId(id);
      expect(run?.status, id).toBe('completed');
      const commits: StoredCommit[] = [];
      for await (const c of store.loadHistory(run?.runId ?? '')) commits.push(c);
      expect(commits.map((c) => c.seq)).toEqual(commits.map((_, k) => k + 1));
      const types = commits.flatMap((c) => c.events.map((e) => e.type));
      expect(types.filter((t) => t === 'RunCompleted')).toHaveLength(1);
      expect(completedActivities(id, commits)).toBe(i % 3 === 0 ? 3 : 1);
      repeatedResults += commits
        .flatMap((c) => c.events)
        .filter((e) => e.type === 'ActivityCompleted' && e.ignored).length;
      expect(run?.output).toMatchObject({ status: i % 3 === 0 ? 'fulfilled' : 'timedOut' });
    }
    process.stderr.write(
      `${JSON.stringify({ scale: { runs: RUNS, seconds, runsPerSecond: RUNS / seconds, repeatedResults } })}\n`,
    );
  }, 300_000);
});

/**
 * How many activities a run's history completes, checking that each result was applied once.
 * The same result may reach the run twice: its executor offers it to the router directly and,
 * with neither an answer nor a progress notice within DIRECT_REPLY_TIMEOUT_MS (a router slowed by
 * a loaded machine), or none in DIRECT_MAX_WAIT_MS, also publishes it to the stream. A repeat that finds the run still open (here, its approval timer
 * not yet fired) is recorded `ignored: 'stale'` in a commit of its own that changes nothing
 * (docs/guarantees.md, "History is exactly once"); one that finds the run closed is dropped.
 */
function completedActivities(id: string, commits: readonly StoredCommit[]): number {
  const applied = new Map<number, number | undefined>();
  for (const c of commits) {
    for (const e of c.events) {
      if (e.type !== 'ActivityCompleted') continue;
      const where = `${id} commit ${c.seq}: ${JSON.stringify(e)}`;
      if (e.ignored === undefined) {
        expect(applied.has(e.activitySeq), `${where} completes its activity a second time`).toBe(false);
        applied.set(e.activitySeq, e.attempt);
        continue;
      }
      expect(e.ignored, where).toBe('stale');
      expect(applied.has(e.activitySeq), `${where} repeats no applied result`).toBe(true);
      expect(e.attempt, `${where} repeats another attempt`).toBe(applied.get(e.activitySeq));
      expect({ events: c.events.length, commands: c.commands.length }, `${where} changes nothing`).toEqual({
        events: 1,
        commands: 0,
      });
    }
  }
  return applied.size;
}
