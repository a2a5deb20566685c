/**
 * `events`: how long one user event takes to reach N waiting runs (docs/events.md).
 *
 * A fresh namespace with routers only: `--runs` (default 10,000) `awaitEvent` runs are started and
 * left waiting on the key `bench-go`, until the wait index holds all of them; then one
 * `publishEvent('bench-go', { go: true })`, and every run's completion is observed on the core
 * `done.awaitEvent.*` wildcard. Reported: publish to first and to last completion (and
 * percentiles), the rate of the wake-ups, and how long the waiters took to start and be indexed.
 * Stops waiting at `--budget-s` (default 300 s). Warnings go to stderr.
 */
import { connect as natsConnect } from '@nats-io/transport-node';
import { MongoClient } from 'mongodb';
import { connect } from '../../shared/client/index.js';
import { forEachLimited } from '../../shared/concurrency.js';
import { collectionNames, subjects } from '../../shared/names.js';
import { num, type ScenarioContext, topologyOf, withEngine } from '../lib/context.js';
import { round, summarize } from '../lib/env.js';

const POLL_MS = 100;

/** `events`: one event, N waiting runs, the time until every one of them has taken it. */
export async function events(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const runs = num(ctx.flags, 'runs', 10_000);
  const concurrency = num(ctx.flags, 'concurrency', 128);
  const deadline = Date.now() + num(ctx.flags, 'budget-s', 300) * 1000;
  const topo = topologyOf(ctx.flags, { executors: 0, timers: 0 });
  return withEngine(ctx, 'events', topo, async ({ target }) => {
    const client = await connect({ servers: target.natsUrl, prefix: target.prefix });
    const mongo = await MongoClient.connect(target.mongoUrl);
    const nc = await natsConnect({ servers: target.natsUrl });
    try {
      const waits = mongo.db(target.dbName).collection(collectionNames(target.prefix).eventWaits);
      const t0 = performance.now();
      await forEachLimited(
        Array.from({ length: runs }, (_, i) => i),
        concurrency,
        async (i) => {
          await client.start('awaitEvent', undefined, { workflowId: `ev-${i}` });
        },
      );
      const startedMs = performance.now() - t0;
      while ((await waits.countDocuments({ eventKey: 'bench-go' })) < runs) {
        if (Date.now() > deadline) throw new Error('budget spent before every run was waiting');
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      const indexedMs = performance.now() - t0;

      const doneAt: number[] = [];
      const all = new Promise<void>((resolve) => {
        const sub = nc.subscribe(subjects(target.prefix).doneFilter('awaitEvent'), {
          callback: () => {
            doneAt.push(performance.now());
            if (doneAt.length === runs) {
              sub.unsubscribe();
              resolve();
            }
          },
        });
      });
      const p0 = performance.now();
      await client.publishEvent('bench-go', { go: true });
      const publishMs = performance.now() - p0;
      await Promise.race([all, new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())))]);
      if (doneAt.length < runs)
        process.stderr.write(`events: only ${doneAt.length}/${runs} runs woke within the budget\n`);
      const lags = doneAt.map((t) => t - p0);
      const lastMs = lags.length > 0 ? Math.max(...lags) : null;
      return {
        runs,
        woken: doneAt.length,
        startAndIndexS: round(indexedMs / 1000, 1),
        startRatePerS: round(runs / (startedMs / 1000), 0),
        publishAckMs: round(publishMs, 1),
        publishToFirstMs: lags.length > 0 ? round(Math.min(...lags), 1) : null,
        publishToLastMs: lastMs === null ? null : round(lastMs, 1),
        wakeLagMs: summarize(lags),
        wokenPerS: lastMs === null ? null : round(doneAt.length / (lastMs / 1000), 0),
      };
    } finally {
      await mongo.close();
      await nc.close();
      await client.close();
    }
  });
}
