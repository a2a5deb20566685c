/**
 * `squall router --health-port N` serves `/metrics` next to `/healthz` and `/readyz`: the router's
 * own metrics, labelled with its service, and the process's (CPU, memory, event loop).
 */
import { expect, it } from 'vitest';
import { freePort } from '../../../services/dev/index.js';
import { connect } from '../../../shared/client/index.js';
import { SAMPLE, startService } from '../../e2e/processes.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';
import { scrape, sum } from './scrape.js';

it('a router started from the command line serves its metrics and the process’s on its health port', async () => {
  const env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  const port = await freePort();
  await startService('router', ['router', '--workflows', SAMPLE.workflows, '--health-port', String(port)], env);
  const base = `http://127.0.0.1:${port}`;
  const client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  try {
    await client.start('order', { orderId: 'o-1', amount: 5, approvalTimeoutMs: 60_000 }, { workflowId: 'o-1' });
    const m = await waitFor(
      'the start decided in /metrics',
      async () => {
        const s = await scrape(base);
        return sum(s, 'squall_router_decisions_total', { input: 'start', outcome: 'started' }) === 1 ? s : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(sum(m, 'squall_router_decisions_total', { service: 'router' })).toBeGreaterThanOrEqual(1);
    expect(sum(m, 'squall_nats_connected', { service: 'router' })).toBe(1);
    expect(sum(m, 'squall_mongodb_connected', { service: 'router' })).toBe(1);
    expect(m.has('process_resident_memory_bytes')).toBe(true);
    expect(m.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  } finally {
    await client.close();
  }
});
