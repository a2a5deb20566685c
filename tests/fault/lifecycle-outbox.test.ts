/**
 * The run lifecycle across a router crash: a router that dies right after storing the commit
 * that starts a child or continues a run as new (nothing published yet, input not acked). The
 * input's redelivery to another router must republish the child start / the next run's start,
 * once, and the runs must finish.
 * The crash point comes from the test-only `SQUALL_FAULT` variable (see services/cli/args.ts).
 */
import type { MongoClient } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { createMongoStore } from '../../shared/store/index.js';
import type { Store } from '../../shared/store/types.js';
import { eventsOf, historyProblems, loadCommits } from '../chaos/invariants.js';
import { type ServiceEnv, type ServiceProcess, spawnSquall, startService } from '../e2e/processes.js';
import { connectMongo, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';

const FIXTURES = {
  workflows: 'tests/fixtures/lifecycle/workflows.ts',
  activities: 'tests/fixtures/lifecycle/activities.ts',
} as const;

let mongo: MongoClient;

beforeAll(async () => {
  mongo = await connectMongo();
});

async function namespace(): Promise<{ env: ServiceEnv; store: Store; client: SquallClient }> {
  const env: ServiceEnv = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await Promise.all([
    startService('executor', ['executor', '--activities', FIXTURES.activities], env),
    startService('timer', ['timer'], env),
  ]);
  const client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  const store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
  return { env, store, client };
}

async function router(env: ServiceEnv, name: string, fault?: string): Promise<ServiceProcess> {
  const p = spawnSquall(name, ['router', '--workflows', FIXTURES.workflows], {
    ...env,
    ...(fault ? { extra: { SQUALL_FAULT: fault } } : {}),
  });
  await waitFor(`${name} to start`, () => p.logs.some((l) => l.msg === 'router started'), { timeoutMs: 30_000 });
  return p;
}

/** Every run of a workflowId, from the runs collection, with its history checked for gaps. */
async function runsOf(store: Store, workflowType: string, workflowId: string) {
  const page = await store.listRuns({ workflowType }, { limit: 100 });
  const runs = page.items.filter((r) => r.workflowId === workflowId);
  return Promise.all(
    runs.map(async (r) => {
      const commits = await loadCommits(store, r.runId);
      return { runId: r.runId, status: r.status, events: eventsOf(commits), problems: historyProblems(commits) };
    }),
  );
}

describe('lifecycle commands survive a router crash', () => {
  it('continue-as-new stored but not published: the redelivery starts the next run, once', async () => {
    const { env, store, client } = await namespace();
    // Commit 1 (start) publishes the increment task; commit 2 (its result) would publish the next run's start.
    const doomed = await router(env, 'router-doomed', 'exit-after-commit:2');
    await client.start('counter', { generation: 0, total: 0 }, { workflowId: 'crash-count' });
    expect(await doomed.exited).toBe(137);
    const after = await router(env, 'router-after');
    await expect(client.result('crash-count', { timeoutMs: 45_000 })).resolves.toEqual({ generation: 2, total: 3 });
    expect(after.logs.some((l) => l.msg === 'republished the commits of a redelivered input')).toBe(true);
    const runs = await waitFor('three closed runs of crash-count', async () => {
      const rs = await runsOf(store, 'counter', 'crash-count');
      return rs.length === 3 && rs.every((r) => r.status !== 'running') ? rs : undefined;
    });
    expect(runs.map((r) => r.status).sort()).toEqual(['completed', 'continued', 'continued']);
    for (const r of runs) {
      expect(r.problems).toEqual([]);
      expect(r.events.filter((e) => e.type === 'RunStarted')).toHaveLength(1);
    }
  }, 120_000);

  it('a child start stored but not published: the redelivery starts the child and the parent completes', async () => {
    const { env, store, client } = await namespace();
    // Commit 1 (the parent's start) would publish the child's start.
    const doomed = await router(env, 'router-doomed', 'exit-after-commit:1');
    // The doomed router dies before it can answer; the reply does not matter here.
    const starting = client.start('parent', { policy: 'terminate', label: 'z' }, { workflowId: 'crash-par' });
    starting.catch(() => undefined);
    expect(await doomed.exited).toBe(137);
    await router(env, 'router-after');
    await waitFor(
      'the child to run',
      async () => ((await store.getRunByWorkflowId('crash-par-kid-1'))?.status === 'running' ? true : undefined),
      { timeoutMs: 45_000 },
    );
    await client.signal('crash-par-kid-1', { type: 'finish', value: 'late' });
    await expect(client.result('crash-par', { timeoutMs: 30_000 })).resolves.toMatchObject({
      result: { label: 'z', value: 'late' },
    });
    const [kid] = await runsOf(store, 'kid', 'crash-par-kid-1');
    expect(kid?.problems).toEqual([]);
    expect((await runsOf(store, 'kid', 'crash-par-kid-1')).length).toBe(1);
  }, 120_000);
});
