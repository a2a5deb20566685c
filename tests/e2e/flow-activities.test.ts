/**
 * Concurrency keys and rate limits end to end: two routers and two executors as separate
 * processes over real NATS and a real MongoDB-protocol server. What ran at once, and how fast
 * tasks started, is measured from the start and end times the activities note.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl } from '../harness/index.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { FLOW_FIXTURES, flowNotes, flowNotesDir, maxRunningAtOnce, observedStartRate } from './flow-helpers.js';
import { type ServiceEnv, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
let notes: string;

type JobOutput = { output?: unknown; error?: { message?: string; code?: string } };

beforeAll(async () => {
  notes = flowNotesDir();
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await Promise.all([
    startService('router-1', ['router', '--workflows', FLOW_FIXTURES.workflows], env),
    startService('router-2', ['router', '--workflows', FLOW_FIXTURES.workflows], env),
  ]);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

async function startAll(type: string, ids: string[], input: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(ids.slice(i, i + 50).map((workflowId, j) => client.start(type, input(i + j), { workflowId })));
  }
}

function results(ids: string[]): Promise<JobOutput[]> {
  return Promise.all(ids.map((id) => client.result<JobOutput>(id, { timeoutMs: 90_000 })));
}

describe('flow control of activities', () => {
  // First, while no executor runs: the whole backlog is queued when the executors start.
  it('a rate limit of 20/s over 200 tasks: started within 10% of 20 a second, none dropped', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `rated-${i}`);
    await startAll('ratedJob', ids, () => ({ key: 'r' }));
    await Promise.all([
      startService('executor-1', ['executor', '--activities', FLOW_FIXTURES.activities], env),
      startService('executor-2', ['executor', '--activities', FLOW_FIXTURES.activities], env),
    ]);
    const outs = await results(ids);
    expect(outs.every((o) => o.output === 'r')).toBe(true);
    const starts = flowNotes(notes, 'rated').filter((n) => n.kind === 'start');
    expect(new Set(starts.map((n) => n.workflowId)).size).toBe(200);
    expect(new Set(starts.map((n) => n.pid)).size).toBe(2); // both executors took a share
    const rate = observedStartRate(starts);
    expect(rate).toBeGreaterThanOrEqual(18);
    expect(rate).toBeLessThanOrEqual(22);
  }, 120_000);

  it('a key limit of 2 holds across two executors and two routers: never 3 at once per key', async () => {
    const ids = Array.from({ length: 24 }, (_, i) => `limited-${i}`);
    await startAll('limitedJob', ids, (i) => ({ key: i % 2 === 0 ? 'a' : 'b', ms: 200 }));
    const outs = await results(ids);
    expect(outs.map((o) => o.output).sort()).toEqual([...Array(12).fill('a'), ...Array(12).fill('b')]);
    const all = flowNotes(notes, 'limited');
    expect(all.filter((n) => n.kind === 'end')).toHaveLength(24);
    expect(maxRunningAtOnce(all, 'a')).toBe(2);
    expect(maxRunningAtOnce(all, 'b')).toBe(2);
    expect(new Set(all.map((n) => n.pid)).size).toBe(2);
    // Fair across keys: key b ran while key a still had work, rather than after it.
    const firstB = Math.min(...all.filter((n) => n.key === 'b').map((n) => n.at));
    const lastA = Math.max(...all.filter((n) => n.key === 'a').map((n) => n.at));
    expect(firstB).toBeLessThan(lastA);
  }, 120_000);

  it('a key function that throws fails the activity at once, naming it (not retried)', async () => {
    await client.start('badKeyJob', { key: 'k' }, { workflowId: 'bad-key-1' });
    const out = await client.result<JobOutput>('bad-key-1', { timeoutMs: 30_000 });
    expect(out.error?.message).toMatch(/activity badKey concurrency\.key threw: no key for k/);
    const failed = ofType(await eventsOf(client, 'bad-key-1'), 'ActivityFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.error.code).toBe('INVALID_INPUT');
    expect(flowNotes(notes, 'badKey')).toHaveLength(0);
  });
});
