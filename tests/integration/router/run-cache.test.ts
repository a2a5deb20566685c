/**
 * A router whose run cache has a budget of a few runs, over the real servers: runs interleaved
 * past that budget are evicted and reloaded from the store between their inputs, and still end
 * with every input applied once; health (over HTTP), the metrics and the log report the evictions.
 */
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceHandle, serveHttpHealth } from '../../../services/common/service.js';
import { startRouter } from '../../../services/router/router.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { createLogger } from '../../../shared/log.js';
import { stepsWorkflow as steps } from '../../fixtures/workflows.js';
import { connectMongo, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';
import { baseUrl, scrape, sum } from '../metrics/scrape.js';

/** A few `steps` runs' estimated bytes (0.8 to 1.2 KB each, see run-cache.ts). */
const BUDGET = 3_000;
const RUNS = 12;

const prefix = freshPrefix();
const dbName = freshDbName();
const lines: Record<string, unknown>[] = [];
let router: ServiceHandle;
let server: Server;
let client: SquallClient;

beforeAll(async () => {
  router = await startRouter({
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    dbName,
    prefix,
    workflows: [steps],
    runCacheBytes: BUDGET,
    upkeepIntervalMs: 200,
    log: createLogger({ level: 'info', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }),
  });
  server = await serveHttpHealth(0, () => [router.health()], { host: '127.0.0.1', metrics: () => [router.metrics] });
  client = await connect({ servers: natsUrl(), prefix });
}, 60_000);

afterAll(async () => {
  await client?.close();
  server?.close();
  await router?.stop();
  const mongo = await connectMongo();
  await mongo.db(dbName).dropDatabase();
  await mongo.close();
});

describe('router run cache under a byte budget', () => {
  it('completes runs evicted between their inputs, each input applied once, and reports the evictions', async () => {
    const ids = Array.from({ length: RUNS }, (_, i) => `cache-${i}`);
    for (const id of ids) await client.start('steps', undefined, { workflowId: id });
    // Round by round across all runs: each run's next input finds it evicted by the others.
    for (const event of ['add', 'add', 'next', 'add', 'finish']) {
      await Promise.all(ids.map((id) => client.signal(id, { type: event })));
    }
    for (const id of ids) {
      await expect(client.result(id, { timeoutMs: 30_000 })).resolves.toEqual({ finished: true, adds: 3 });
    }

    const health = await waitFor(
      'health with the cache figures',
      async () => {
        const res = await fetch(`${baseUrl(server)}/healthz`);
        const body = (await res.json()) as { services: { details: { cache: Record<string, unknown> } }[] };
        return body.services[0]?.details.cache;
      },
      { timeoutMs: 10_000 },
    );
    expect(health).toMatchObject({ maxBytes: BUDGET, maxRuns: null, ttlMs: null });
    const cache = health as { bytes: number; runs: number; misses: number; evictions: { bytes: number } };
    expect(cache.bytes).toBeLessThanOrEqual(BUDGET);
    expect(cache.runs).toBeLessThan(5);
    expect(cache.evictions.bytes).toBeGreaterThan(RUNS);
    // Each eviction was paid by a load from the store on the run's next input.
    expect(cache.misses).toBeGreaterThan(RUNS);

    const metrics = await scrape(baseUrl(server));
    expect(sum(metrics, 'squall_router_run_cache_evictions_total', { reason: 'bytes' })).toBeGreaterThan(RUNS);
    expect(sum(metrics, 'squall_router_run_cache_bytes')).toBeLessThanOrEqual(BUDGET);
    expect(sum(metrics, 'squall_router_run_cache_misses_total')).toBeGreaterThan(RUNS);

    const logged = await waitFor('an eviction log line', async () =>
      lines.find((l) => l.msg === 'run cache evicted runs'),
    );
    expect(logged).toMatchObject({ level: 'info', maxBytes: BUDGET, evictions: { bytes: expect.any(Number) } });
    expect(logged.evictedSince).toBeGreaterThan(0);
  }, 120_000);
});
