/**
 * An executor with fewer permits than activities serves each of them promptly: its idle pulls
 * hold no permit, so a task of one activity never waits for another activity's idle poll to
 * expire. A router and an executor (concurrency 1, four activities) as separate processes over
 * real NATS and a real MongoDB-protocol server; runs go through three activities one after another.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl } from '../harness/index.js';
import { FLOW_FIXTURES, flowNotes, flowNotesDir } from './flow-helpers.js';
import { type ServiceEnv, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
let notes: string;

beforeAll(async () => {
  notes = flowNotesDir();
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await startService('router', ['router', '--workflows', FLOW_FIXTURES.workflows], env);
  await startService('executor', ['executor', '--activities', FLOW_FIXTURES.activities, '--concurrency', '1'], env);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

describe('an executor with fewer permits than activities', () => {
  it('runs workflows that use three of its activities in turn, without waiting on idle polls', async () => {
    const ids = ['k0', 'k1', 'k2'];
    // Each run hands over between activities twice; an idle poll holding the one permit kept the
    // next activity's task waiting for the poll's 5 s expiry at handovers (then k0 missed this deadline).
    const deadlineMs = 8_000;
    await Promise.all(ids.map((id) => client.start('threeKindsJob', { key: id }, { workflowId: id })));
    const outs = await Promise.all(ids.map((id) => client.result<{ key: string }>(id, { timeoutMs: deadlineMs })));
    expect(outs.map((o) => o.key)).toEqual(ids);
    for (const id of ids) {
      const ran = (['plain', 'limited', 'rated'] as const).map((a) =>
        flowNotes(notes, a).filter((n) => n.workflowId === id && n.kind === 'start'),
      );
      expect(ran.map((r) => r.length)).toEqual([1, 1, 1]);
      const [plainAt, limitedAt, ratedAt] = ran.map((r) => r[0]?.at ?? 0);
      expect(plainAt).toBeLessThanOrEqual(limitedAt as number);
      expect(limitedAt).toBeLessThanOrEqual(ratedAt as number);
    }
  }, 60_000);
});
