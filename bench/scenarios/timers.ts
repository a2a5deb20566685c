/**
 * `timers`: many durable timers due in the same second, measured against the timer service alone.
 *
 * 1. Pilot, end to end at light load: 50 `sleep1` runs of 1 s through router and timer service
 *    (their done lag), then a probe of 1,000 schedules published straight on the timers stream
 *    (far in the future) to learn how fast the timer service stores them.
 * 2. Batch: a fresh namespace with timer service(s) only (no router: the firings just stay in the
 *    events stream), `--timers` schedule messages published on the timers stream in the router's
 *    wire format, all with one fireAt set after the probe's estimate of when they will be stored,
 *    and every firing observed on the core `all.fired` wildcard. Timer services run as processes
 *    (so each one's CPU is read) unless `--in-process`.
 *
 * 3. Idle (`--idle-timers 5000,20000`, `--idle-s 20`): the CPU of every process while N timers
 *    are pending and nothing is due (`--timers 0` runs only this phase).
 *
 * Lags are the observer's arrival (and the timer service's own `firedAt`) minus fireAt; after the
 * last firing the store is polled until no timer is left pending (marked fired). The whole
 * scenario stops waiting at `--budget-s` (default 100 s) from its start. Warnings go to stderr.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { decodeBody } from '../../shared/bus/codec.js';
import { type Bus, connectBus } from '../../shared/bus/connect.js';
import type { FiredMessage, TimerScheduleMessage } from '../../shared/bus/messages.js';
import { collectionNames, consumerNames } from '../../shared/names.js';
import { num, type ScenarioContext, topologyOf, withEngine } from '../lib/context.js';
import { Driver } from '../lib/driver.js';
import { CpuMeter, round, summarize } from '../lib/env.js';
import type { Target } from '../lib/services.js';

const PILOT_RUNS = 50;
const PILOT_CONCURRENCY = 10;
const PROBE_SCHEDULES = 1_000;
const POLL_MS = 50;

/** `timers`: firing lag of N timers due together, plus an end-to-end pilot, plus idle cost with pending timers. */
export async function timers(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const n = num(ctx.flags, 'timers', 10_000);
  const budgetMs = num(ctx.flags, 'budget-s', 100) * 1000;
  const publishConcurrency = num(ctx.flags, 'publish-concurrency', 256);
  const deadline = Date.now() + budgetMs;
  const idle = await idlePhases(ctx, publishConcurrency, budgetMs);
  if (n === 0) return { requestedTimers: 0, idle };

  const pilot = await withEngine(ctx, 'timers', topologyOf(ctx.flags, { executors: 0 }), async ({ target }) => {
    const driver = await Driver.open(target.natsUrl, target.prefix, ['sleep1']);
    let e2e: Awaited<ReturnType<Driver['runMany']>>;
    try {
      e2e = await driver.runMany('sleep1', PILOT_RUNS, PILOT_CONCURRENCY, () => ({ delayMs: 1000 }));
    } finally {
      await driver.close();
    }
    const bus = await openBus(target);
    try {
      // Far in the future: these never come due while the scenario runs.
      const { storedAt: _, ...probe } = await scheduleAll(
        bus,
        PROBE_SCHEDULES,
        Date.now() + 3_600_000,
        publishConcurrency,
        deadline,
      );
      return {
        e2e: {
          runs: PILOT_RUNS,
          failures: e2e.failures,
          delayMs: 1000,
          doneLagMs: summarize(e2e.timings.map((t) => t.doneMs - 1000)),
        },
        probe,
      };
    } finally {
      await bus.close();
    }
  });

  const probeRate = pilot.probe.storedPerSec ?? 0;
  // Room for every schedule to be stored before they come due, with a wide margin.
  const leadMs =
    ctx.flags['lead-s'] !== undefined
      ? num(ctx.flags, 'lead-s', 5) * 1000
      : Math.round((n / Math.max(50, probeRate)) * 1000 * 1.5) + 3_000;

  const topo = topologyOf(ctx.flags, {
    routers: 0,
    executors: 0,
    processes: ctx.flags['in-process'] !== true,
  });
  const batch = await withEngine(ctx, 'timers', topo, async ({ target, cpu }) => {
    const bus = await openBus(target);
    const firings = new Map<string, { at: number; firedAt: number }>();
    let duplicates = 0;
    const sub = bus.nc.subscribe(bus.subjects.all.fired, {
      callback: (err, msg) => {
        if (err) return;
        const at = Date.now();
        const body = decodeBody(msg.data, msg.headers, msg.subject) as FiredMessage;
        const key = `${body.runId}:${body.timerSeq}`;
        if (firings.has(key)) duplicates++;
        else firings.set(key, { at, firedAt: body.firedAt });
      },
    });
    await bus.nc.flush();
    try {
      const fireAt = Date.now() + leadMs;
      const scheduleCpu = new CpuMeter(cpu);
      const schedule = await scheduleAll(bus, n, fireAt, publishConcurrency, deadline);
      const scheduleCpuSeconds = scheduleCpu.since();
      if (schedule.storedAt === undefined || schedule.storedAt > fireAt) {
        process.stderr.write(`timers: schedules were not all stored before they came due (lead ${leadMs} ms)\n`);
      }
      const fireCpu = new CpuMeter(cpu);
      while (firings.size < schedule.published && Date.now() < deadline) await sleep(POLL_MS);
      const fireCpuSeconds = fireCpu.since();
      // Then until the store says so too (the service marks fired timers after publishing them).
      const markedAt = await noneLeftPending(ctx.servers.mongoUrl, target, deadline);
      const lags: number[] = [];
      const serviceLags: number[] = [];
      let last = 0;
      for (const f of firings.values()) {
        lags.push(f.at - fireAt);
        serviceLags.push(f.firedAt - fireAt);
        last = Math.max(last, f.at);
      }
      const drainMs = last - fireAt;
      return {
        timerServices: topo.timers,
        processes: topo.processes,
        leadMs,
        schedulePhase: {
          published: schedule.published,
          publishSeconds: schedule.publishSeconds,
          seconds: schedule.storedSeconds,
          storedPerSec: schedule.storedPerSec,
          storedBeforeDue: schedule.storedAt !== undefined && schedule.storedAt <= fireAt,
          cpuSeconds: scheduleCpuSeconds,
        },
        fired: firings.size,
        duplicateFirings: duplicates,
        allFired: firings.size >= schedule.published,
        // Observer's arrival of each fired message minus the timer's fireAt.
        firingLagMs: summarize(lags),
        // The timer service's own clock when it published, minus fireAt.
        timerServiceLagMs: summarize(serviceLags),
        drainSecondsAfterDue: last > 0 ? round(drainMs / 1000, 2) : null,
        firedPerSecAfterDue: drainMs > 0 ? round((firings.size / drainMs) * 1000, 0) : null,
        firePhaseCpuSeconds: fireCpuSeconds,
        allMarkedFiredSecondsAfterDue: markedAt === undefined ? null : round((markedAt - fireAt) / 1000, 2),
      };
    } finally {
      sub.unsubscribe();
      await bus.close();
    }
  });

  return {
    requestedTimers: n,
    ...batch,
    pilot,
    idle,
    withinBudget: Date.now() <= deadline,
  };
}

/**
 * Idle cost with pending timers: for each count of `--idle-timers` (comma-separated, none by
 * default), a fresh namespace with the timer service(s) alone, that many schedules due in an hour,
 * then `--idle-s` seconds (default 20) of nothing happening, with the CPU of every process read
 * over them (cores busy: CPU seconds per second).
 */
async function idlePhases(
  ctx: ScenarioContext,
  publishConcurrency: number,
  budgetMs: number,
): Promise<{ pendingTimers: number; stored: boolean; seconds: number; coresBusy: Record<string, number | null> }[]> {
  const raw = ctx.flags['idle-timers'];
  if (raw === undefined || raw === true) return [];
  const counts = String(raw)
    .split(',')
    .map((c) => Number(c));
  if (counts.some((c) => !Number.isInteger(c) || c < 0)) {
    throw new Error(`--idle-timers must be comma-separated counts, got ${String(raw)}`);
  }
  const idleMs = num(ctx.flags, 'idle-s', 20) * 1000;
  const topo = topologyOf(ctx.flags, { routers: 0, executors: 0, processes: ctx.flags['in-process'] !== true });
  const out = [];
  for (const count of counts) {
    out.push(
      await withEngine(ctx, 'timers', topo, async ({ target, cpu }) => {
        const bus = await openBus(target);
        try {
          const scheduled = await scheduleAll(
            bus,
            count,
            Date.now() + 3_600_000,
            publishConcurrency,
            Date.now() + budgetMs,
          );
          // Let the intake's last writes and any start-up work settle before measuring.
          await sleep(3_000);
          const meter = new CpuMeter(cpu);
          const t0 = Date.now();
          await sleep(idleMs);
          const seconds = (Date.now() - t0) / 1000;
          const coresBusy: Record<string, number | null> = {};
          for (const [k, v] of Object.entries(meter.since())) coresBusy[k] = v === null ? null : round(v / seconds, 3);
          return {
            pendingTimers: count,
            stored: scheduled.storedAt !== undefined,
            seconds: round(seconds, 1),
            coresBusy,
          };
        } finally {
          await bus.close();
        }
      }),
    );
  }
  return out;
}

function openBus(t: Target): Promise<Bus> {
  // The services create the streams; the bench only publishes and observes.
  return connectBus({ servers: t.natsUrl, prefix: t.prefix, name: 'bench-timers', ensureStreams: false });
}

/**
 * Publishes `n` schedules due at `fireAt` on the timers stream, as the router does, `concurrency`
 * at a time; then waits until the timer consumer has nothing pending or unacked (a schedule is
 * acked once stored).
 */
async function scheduleAll(
  bus: Bus,
  n: number,
  fireAt: number,
  concurrency: number,
  deadline: number,
): Promise<{
  published: number;
  publishSeconds: number;
  storedSeconds: number | null;
  storedPerSec: number | null;
  storedAt: number | undefined;
}> {
  const tag = randomBytes(3).toString('hex');
  const t0 = Date.now();
  let next = 0;
  let published = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, async () => {
      while (next < n && Date.now() < deadline) {
        const runId = `t${tag}-${next++}`;
        const body: TimerScheduleMessage = { runId, workflowId: `w-${runId}`, timerSeq: 1, fireAt };
        await bus.publish(bus.subjects.timerSchedule(runId), body, { msgId: `${runId}:1:0` });
        published++;
      }
    }),
  );
  const publishedAt = Date.now();
  let storedAt: number | undefined;
  while (Date.now() < deadline) {
    const info = await bus.jsm.consumers.info(bus.streams.timers, consumerNames.timer);
    if (info.num_pending === 0 && info.num_ack_pending === 0 && info.ack_floor.stream_seq >= published) {
      storedAt = Date.now();
      break;
    }
    await sleep(POLL_MS);
  }
  const storedMs = storedAt === undefined ? undefined : storedAt - t0;
  return {
    published,
    publishSeconds: round((publishedAt - t0) / 1000, 2),
    storedSeconds: storedMs === undefined ? null : round(storedMs / 1000, 2),
    storedPerSec: storedMs === undefined ? null : round((published / Math.max(1, storedMs)) * 1000, 0),
    storedAt,
  };
}

/** When no timer of the namespace is left pending (polled), or undefined at the deadline. */
async function noneLeftPending(mongoUrl: string, t: Target, deadline: number): Promise<number | undefined> {
  const mongo = await new MongoClient(mongoUrl).connect();
  try {
    const timers = mongo.db(t.dbName).collection<{ status?: string }>(collectionNames(t.prefix).timers);
    while (Date.now() < deadline) {
      // One document at most: an equality FerretDB answers without decoding the collection.
      if (!(await timers.findOne({ status: 'pending' }, { projection: { _id: 1 } }))) return Date.now();
      await sleep(500);
    }
    return undefined;
  } finally {
    await mongo.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
