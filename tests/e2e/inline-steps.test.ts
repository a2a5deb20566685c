/**
 * Inline steps end to end, services as real processes over real NATS and FerretDB: a workflow of
 * inline steps completes with a router alone (no executor, no timer service), and a workflow
 * mixing inline steps with an executor activity completes once an executor runs. Each history
 * replays to the state the router stored.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { replayCommits } from '../../shared/engine/index.js';
import { createMongoStore, type Store, type StoredCommit } from '../../shared/store/index.js';
import { inlineMixed, inlineSequence } from '../fixtures/inline-workflows.js';
import { connectMongo, freshDbName, freshPrefix, mongoUrl, natsUrl } from '../harness/index.js';
import { type ServiceEnv, startService } from './processes.js';

const FIXTURES = {
  workflows: 'tests/fixtures/inline-workflows.ts',
  activities: 'tests/fixtures/inline-activities.ts',
} as const;

let env: ServiceEnv;
let client: SquallClient;
let store: Store;

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await startService('router', ['router', '--workflows', FIXTURES.workflows, '--activities', FIXTURES.activities], env);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  const mongo = await connectMongo();
  store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
  return async () => {
    await client.close();
  };
});

async function historyOf(workflowId: string): Promise<StoredCommit[]> {
  const rec = await store.getRunByWorkflowId(workflowId);
  const out: StoredCommit[] = [];
  for await (const c of store.loadHistory(rec?.runId ?? 'none')) out.push(c);
  return out;
}

describe('inline steps end to end', () => {
  it('a workflow of three inline steps completes with a router alone, recorded like executor activities', async () => {
    await client.start('inlineSequence', undefined, { workflowId: 'inline-e2e-1' });
    const out = await client.result('inline-e2e-1', { timeoutMs: 20_000 });
    expect(out).toEqual(['a1', 'b2', 'c3']);
    const commits = await historyOf('inline-e2e-1');
    expect(commits.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
    const events = commits.flatMap((c) => c.events);
    expect(events.filter((e) => e.type === 'ActivityScheduled')).toHaveLength(3);
    expect(events.filter((e) => e.type === 'ActivityCompleted')).toHaveLength(3);
    const replayed = replayCommits(inlineSequence, commits);
    expect(replayed).toMatchObject({ status: 'completed', output: ['a1', 'b2', 'c3'] });
    expect(replayed).toEqual((await store.getRunByWorkflowId('inline-e2e-1'))?.state);
  });

  it('mixes inline steps with an executor activity', async () => {
    await client.start('inlineMixed', undefined, { workflowId: 'inline-e2e-mixed' });
    // Nobody runs execMiddle yet: the run waits on it after its first, inline, step.
    await startService('executor', ['executor', '--activities', FIXTURES.activities], env);
    const out = await client.result('inline-e2e-mixed', { timeoutMs: 20_000 });
    expect(out).toEqual(['a1', 'x2', 'c3']);
    const commits = await historyOf('inline-e2e-mixed');
    expect(replayCommits(inlineMixed, commits)).toMatchObject({ status: 'completed', output: ['a1', 'x2', 'c3'] });
  });
});
