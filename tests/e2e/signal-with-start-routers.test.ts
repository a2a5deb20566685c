/**
 * Signal-with-start racing across two router processes: the workflowId claim must make exactly
 * one run per id and deliver every signal, whichever router takes each request.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl } from '../harness/index.js';
import { type ServiceEnv, startService } from './processes.js';

const WORKFLOWS = 'tests/fixtures/callbacks/workflows.ts';
let env: ServiceEnv;
let clients: SquallClient[] = [];

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await Promise.all([
    startService('router-1', ['router', '--workflows', WORKFLOWS], env),
    startService('router-2', ['router', '--workflows', WORKFLOWS], env),
  ]);
  clients = await Promise.all(
    Array.from({ length: 6 }, () => connect({ servers: env.natsUrl, prefix: env.prefix, requestTimeoutMs: 30_000 })),
  );
  return async () => {
    await Promise.all(clients.map((c) => c.close()));
  };
});

describe('signal-with-start over two routers', () => {
  it('racing callers on three ids make one run per id and lose no signal', async () => {
    const ids = ['race-a', 'race-b', 'race-c'];
    const calls = ids.flatMap((id) =>
      clients.map((c, i) => c.signalWithStart('cart', id, { type: 'add', item: `${id}-${i}` })),
    );
    const results = await Promise.all(calls);
    for (const id of ids) {
      const mine = results.filter((r) => r.workflowId === id);
      expect(new Set(mine.map((r) => r.runId)).size, id).toBe(1);
      expect(
        mine.filter((r) => r.started),
        id,
      ).toHaveLength(1);
    }
    const [client] = clients;
    if (!client) throw new Error('no client');
    for (const id of ids) {
      await client.signal(id, { type: 'checkout' });
      const out = await client.result<{ items: string[] }>(id, { timeoutMs: 30_000 });
      expect([...out.items].sort()).toEqual(clients.map((_, i) => `${id}-${i}`).sort());
    }
  });
});
