/**
 * `timers`: many durable timers due in the same second. Starts `--timers` runs of `sleep1` whose
 * delay makes every timer due at one target instant (after all starts are in), observes each
 * firing on the core subject `<prefix>.fired.*`, and reports the lag of each firing behind its
 * own fireAt (read back from the timers collection) and how long the whole batch took to drain.
 */
import { MongoClient } from 'mongodb';
import { decodeBody } from '../../shared/bus/codec.js';
import { collectionNames } from '../../shared/names.js';
import { num, type ScenarioContext, topologyOf, withEngine } from '../lib/context.js';
import { Driver } from '../lib/driver.js';
import { round, summarize } from '../lib/env.js';

interface TimerDocView {
  _id: string;
  fireAt?: number;
  status?: string;
}

/** `timers`: firing lag of N timers due together. */
export async function timers(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const n = num(ctx.flags, 'timers', 10_000);
  const concurrency = num(ctx.flags, 'concurrency', 200);
  const budgetMs = num(ctx.flags, 'budget-s', 100) * 1000;
  const topo = topologyOf(ctx.flags, { executors: 0 });
  const mongo = await new MongoClient(ctx.servers.mongoUrl).connect();
  try {
    return await withEngine(ctx, 'timers', topo, async ({ target, cpu }) => {
      const t0 = Date.now();
      const driver = await Driver.open(target.natsUrl, target.prefix, ['sleep1']);
      const arrivals = new Map<string, { at: number; firedAt: number }>();
      const sub = driver.client.nc.subscribe(`${target.prefix}.fired.*`, {
        callback: (err, msg) => {
          if (err) return;
          const b = decodeBody(msg.data, msg.headers, msg.subject) as {
            runId: string;
            timerSeq: number;
            firedAt: number;
          };
          const key = `${b.runId}:${b.timerSeq}`;
          if (!arrivals.has(key)) arrivals.set(key, { at: Date.now(), firedAt: b.firedAt });
        },
      });
      const timerCpu0 = Object.fromEntries(Object.entries(cpu).map(([k, r]) => [k, r()]));
      try {
        // Pilot at light load: 50 timers of 1 s, one start at a time. Gives the start rate and a
        // baseline lag, and warms everything up.
        const pilotN = 50;
        const pilotConcurrency = 10;
        const pilot = await driver.runMany('sleep1', pilotN, pilotConcurrency, () => ({ delayMs: 1000 }));
        const pilotDone = pilot.timings.map((t) => t.doneMs - 1000);
        // Starts of the batch: the pilot's start rate (its concurrency over the mean start reply
        // time; the pilot's wall time is mostly its sleeps), with a wide margin below.
        const meanStartMs = pilot.timings.reduce((a, t) => a + t.startedMs, 0) / Math.max(1, pilot.timings.length);
        const startRate = (pilotConcurrency * 1000) / Math.max(1, meanStartMs);
        const targetAt = Date.now() + Math.round((n / startRate) * 1000 * 1.5) + 3_000;
        const batchStart = Date.now();
        let started = 0;
        const startErrors: string[] = [];
        let next = 0;
        const doneAll: Promise<unknown>[] = [];
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next < n && Date.now() - t0 < budgetMs) {
              next++;
              const delayMs = Math.max(0, targetAt - Date.now());
              try {
                // Start and move on; completions are awaited below, all at once.
                const r = driver.launch('sleep1', { delayMs }, budgetMs);
                doneAll.push(r.done.catch(() => undefined));
                await r.started;
                started++;
              } catch (err) {
                startErrors.push((err as Error).message);
              }
            }
          }),
        );
        const startsDoneAt = Date.now();
        const remaining = Math.max(1_000, budgetMs - (Date.now() - t0));
        await Promise.race([Promise.all(doneAll), new Promise((r) => setTimeout(r, remaining))]);
        const endAt = Date.now();
        const docs = (await mongo
          .db(target.dbName)
          .collection<TimerDocView>(collectionNames(target.prefix).timers)
          .find({ status: { $exists: true } }, { projection: { fireAt: 1, status: 1 } })
          .toArray()) as TimerDocView[];
        const batch = docs.filter((d) => (d.fireAt ?? 0) >= targetAt - 1);
        const lags: number[] = [];
        const serviceLags: number[] = [];
        let lastArrival = 0;
        for (const d of batch) {
          const a = arrivals.get(d._id);
          if (!a || d.fireAt === undefined) continue;
          lags.push(a.at - d.fireAt);
          serviceLags.push(a.firedAt - d.fireAt);
          lastArrival = Math.max(lastArrival, a.at);
        }
        const fireAts = batch.map((d) => (d.fireAt ?? 0) - targetAt);
        const used: Record<string, number | null> = {};
        for (const [k, r] of Object.entries(cpu)) {
          const a = timerCpu0[k];
          const b = r();
          used[k] = a === undefined || b === undefined ? null : round(b - a, 2);
        }
        return {
          requestedTimers: n,
          started,
          startErrors: startErrors.slice(0, 3),
          startPhaseSeconds: round((startsDoneAt - batchStart) / 1000, 1),
          startsPerSec: round((started / (startsDoneAt - batchStart)) * 1000, 0),
          startsFinishedBeforeDue: startsDoneAt <= targetAt,
          fireAtSpreadMs: summarize(fireAts),
          fired: lags.length,
          // Firing lag: observer's arrival of the fired message minus the timer's own fireAt.
          firingLagMs: summarize(lags),
          // The same, by the timer service's clock when it published.
          timerServiceLagMs: summarize(serviceLags),
          drainSecondsAfterDue: lastArrival ? round((lastArrival - targetAt) / 1000, 2) : null,
          firedPerSecAfterDue:
            lastArrival > targetAt ? round((lags.length / (lastArrival - targetAt)) * 1000, 0) : null,
          completedWithinBudget: endAt - t0 < budgetMs,
          pilotLightLoad: { timers: pilotN, delayMs: 1000, doneLagMs: summarize(pilotDone) },
          cpuSecondsTotal: used,
        };
      } finally {
        sub.unsubscribe();
        await driver.close();
      }
    });
  } finally {
    await mongo.close();
  }
}
