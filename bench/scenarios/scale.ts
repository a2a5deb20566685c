/**
 * `scale`: what a store of N runs costs against one of 100, side by side in the same run (issue
 * #22's target: 100,000 runs cost what 100 do). Each size gets a fresh namespace filled with
 * open `hold` runs (one commit, a summary, a workflowId and a pending timer each: see
 * scale-fill.ts) and one closed run of `--history-commits` commits, then measures, with a router,
 * an executor and the timer service running in this process:
 * - router start: startRouter until it resolves (ready), on the filled store;
 * - idle CPU of the servers (FerretDB/MongoDB and PostgreSQL) with the timers pending, nothing sent;
 * - noop3 start→done p50, one run at a time;
 * - one signal to a random open run: accepted (the client's reply) and applied (the run's done
 *   message: `poke` ends a `hold` run);
 * - history pages (1,000 commits) of the long run at its start, middle and end, and all of it;
 *   the same pages of a run as long whose commits have no page key (stored before page keys
 *   existed, read by a range on seq as every run was before): the before and after of paging;
 * - a burst of `--busy-signals` signals to an open run as long, against the same to a fresh run:
 *   signals taken per second, and noop3 p99 alongside (see measureBursts).
 * Prints one JSON line per measure on stderr as it goes and `{ small, large, ratio }` per measure
 * in the result (ratio = large / small). Flags: see scaleOptions.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { MongoClient } from 'mongodb';
import { decodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { forEachLimited } from '../../shared/concurrency.js';
import { collectionNames } from '../../shared/names.js';
import type { CommitDoc } from '../../shared/store/documents.js';
import { createMongoStore } from '../../shared/store/index.js';
import type { Store } from '../../shared/store/types.js';
import type { Flags, ScenarioContext } from '../lib/context.js';
import { servicesMongoUrl } from '../lib/context.js';
import { Driver } from '../lib/driver.js';
import {
  CpuMeter,
  type CpuReader,
  commCpuSeconds,
  freshNamespace,
  procCpuSeconds,
  round,
  summarize,
} from '../lib/env.js';
import { type ScaleEngine, startScaleEngine } from './scale-engine.js';
import { type Clone, fillClones, fillLongRun, readTemplate, type Template } from './scale-fill.js';

/** The scenario's parameters. */
export interface ScaleOptions {
  /** Open runs in the large namespace. @default 100_000 */
  runs: number;
  /** Open runs in the small namespace. @default 100 */
  small: number;
  /** Signals sent to random open runs, one at a time. @default 100 */
  signals: number;
  /** noop3 runs, one at a time. @default 100 */
  noop3: number;
  /** Seconds of idle CPU measured. @default 10 */
  idleSeconds: number;
  /** Commits of the long run whose history is paged, and of the open run that takes a burst of signals. @default 20_000 */
  historyCommits: number;
  /** Signals of each burst to one run (the busy run, and a fresh one to compare). @default 1_000 */
  busySignals: number;
}

const FLAGS: Record<string, keyof ScaleOptions> = {
  runs: 'runs',
  small: 'small',
  signals: 'signals',
  noop3: 'noop3',
  'idle-s': 'idleSeconds',
  'history-commits': 'historyCommits',
  'busy-signals': 'busySignals',
};

/** Reads the scale flags (`--runs 20000` and the rest of FLAGS), refusing what would not measure anything. */
export function scaleOptions(flags: Flags): ScaleOptions {
  const o: ScaleOptions = {
    runs: 100_000,
    small: 100,
    signals: 100,
    noop3: 100,
    idleSeconds: 10,
    historyCommits: 20_000,
    busySignals: 1_000,
  };
  for (const [flag, value] of Object.entries(flags)) {
    const key = FLAGS[flag];
    if (key === undefined)
      throw new Error(`scale: unknown flag --${flag}; known: --${Object.keys(FLAGS).join(', --')}`);
    const n = Number(value);
    if (value === true || !Number.isInteger(n) || n < 1) {
      throw new Error(`scale: --${flag} must be a positive integer, got ${String(value)}`);
    }
    o[key] = n;
  }
  if (o.runs < o.small) throw new Error(`scale: --runs (${o.runs}) must be at least --small (${o.small})`);
  if (o.signals > o.small) throw new Error(`scale: --signals (${o.signals}) must be at most --small (${o.small})`);
  if (o.historyCommits < 3000) throw new Error(`scale: --history-commits must be at least 3000 (three pages apart)`);
  return o;
}

type Measures = Record<string, number | null>;

/** `scale`: the same measures on a store of `--small` and of `--runs` runs, and their ratio. */
export async function scale(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const o = scaleOptions(ctx.flags);
  const small = await measureSize(ctx, o, o.small);
  const large = await measureSize(ctx, o, o.runs);
  const ratio: Record<string, { small: number | null; large: number | null; ratio: number | null }> = {};
  for (const [k, v] of Object.entries(small.measures)) {
    const l = large.measures[k] ?? null;
    ratio[k] = { small: v, large: l, ratio: v && l !== null ? round(l / v, 2) : null };
    process.stderr.write(`${JSON.stringify({ measure: k, runs: [o.small, o.runs], ...ratio[k] })}\n`);
  }
  return { options: o, measures: ratio, small: small.detail, large: large.detail };
}

async function measureSize(
  ctx: ScenarioContext,
  o: ScaleOptions,
  runs: number,
): Promise<{ measures: Measures; detail: Record<string, unknown> }> {
  const ns = freshNamespace('scale');
  const target = { natsUrl: ctx.servers.natsUrl, mongoUrl: servicesMongoUrl(ctx), ...ns };
  const mongo = await MongoClient.connect(ctx.servers.mongoUrl);
  const store = createMongoStore(mongo, { dbName: ns.dbName, collectionPrefix: ns.prefix });
  let engine: ScaleEngine | undefined;
  let client: SquallClient | undefined;
  try {
    await store.init();
    // The template: one real run, then the engine is stopped so the router starts on a full store.
    engine = await startScaleEngine(target);
    client = await connect({ servers: target.natsUrl, prefix: target.prefix, requestTimeoutMs: 30_000 });
    const template = await makeTemplate(client, store);
    await client.close();
    client = undefined;
    await engine.stop();
    engine = undefined;

    const tag = randomBytes(3).toString('hex');
    const clones: Clone[] = Array.from({ length: runs - 1 }, (_, i) => ({
      runId: `${template.runId}-c${i}`,
      workflowId: `scale-${tag}-${i}`,
    }));
    const fillSeconds = await fillClones(store, template, clones);
    const long: Clone = { runId: `${template.runId}-long`, workflowId: `scale-${tag}-long` };
    await fillLongRun(store, template, long, o.historyCommits);
    const old: Clone = { runId: `${template.runId}-old`, workflowId: `scale-${tag}-old` };
    const commitsCollection = mongo.db(ns.dbName).collection<CommitDoc>(collectionNames(ns.prefix).commits);
    await fillLongRun(store, template, old, o.historyCommits, { unpaged: commitsCollection });
    const busy: Clone = { runId: `${template.runId}-busy`, workflowId: `scale-${tag}-busy` };
    await fillLongRun(store, template, busy, o.historyCommits, { open: true });
    progress({ runs, filled: runs, fillSeconds: round(fillSeconds, 1) });

    const t0 = performance.now();
    engine = await startScaleEngine(target);
    const routerStartMs = engine.routerStartMs;
    progress({ runs, engineStartMs: round(performance.now() - t0), routerStartMs: round(routerStartMs) });

    const idle = await measureIdle(ctx, o.idleSeconds);
    client = await connect({ servers: target.natsUrl, prefix: target.prefix, requestTimeoutMs: 30_000 });
    const noop3 = await measureNoop3(target, o.noop3);
    const signals = await measureSignals(client, target.prefix, shuffled(clones.slice(1)).slice(0, o.signals));
    const history = await measureHistory(client, long.workflowId, o.historyCommits);
    const unpaged = await measureHistory(client, old.workflowId, o.historyCommits, { whole: false });
    const fresh = clones[0] ?? template; // left out of the poked ones: it stays open
    const bursts = await measureBursts(client, store, target, { busy, fresh }, o.busySignals);
    const measures: Measures = {
      routerStartMs: round(routerStartMs),
      idleServerCores: idle.cores,
      noop3DoneP50Ms: noop3.p50,
      signalAcceptP50Ms: signals.accept.p50,
      signalAppliedP50Ms: signals.applied.p50,
      historyFirstPageMs: history.firstMs,
      historyMiddlePageMs: history.middleMs,
      historyLastPageMs: history.lastMs,
      historyAllMs: history.allMs,
      unpagedFirstPageMs: unpaged.firstMs,
      unpagedMiddlePageMs: unpaged.middleMs,
      unpagedLastPageMs: unpaged.lastMs,
      busyRunSignalsPerS: bursts.busy.perSecond,
      freshRunSignalsPerS: bursts.fresh.perSecond,
      busyOverFreshSignalRate: round(bursts.busy.perSecond / bursts.fresh.perSecond, 2),
      othersNoop3P99WhileBusyMs: bursts.busy.others.p99,
      othersNoop3P99WhileFreshMs: bursts.fresh.others.p99,
    };
    progress({ runs, ...measures });
    const loadavg1m = round(loadavg()[0] ?? 0, 1);
    progress({ runs, loadavg1m });
    return {
      measures,
      detail: { runs, loadavg1m, fillSeconds: round(fillSeconds, 1), idle, noop3, signals, history, unpaged, bursts },
    };
  } finally {
    await client?.close();
    await engine?.stop();
    await mongo
      .db(ns.dbName)
      .dropDatabase()
      .catch(() => undefined);
    await mongo.close();
  }
}

function progress(fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ scenario: 'scale', ...fields })}\n`);
}

/** Starts one `hold` run and waits (up to 30 s) until its summary and timer are stored. */
async function makeTemplate(client: SquallClient, store: Store): Promise<Template> {
  const workflowId = `scale-template-${randomBytes(3).toString('hex')}`;
  const { runId } = await client.start('hold', undefined, { workflowId });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const t = await readTemplate(store, runId, workflowId);
    if (t && t.timers.length > 0 && (await store.getTimer(runId, t.timers[0]?.timerSeq ?? 0))) return t;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`scale: the template run ${runId} was not stored within 30 s`);
}

/** CPU of the database servers over `seconds` with nothing sent, as a share of one core. */
async function measureIdle(
  ctx: ScenarioContext,
  seconds: number,
): Promise<{ cores: number | null; perServer: Record<string, number | null> }> {
  const readers: Record<string, CpuReader> = {};
  const { mongo } = ctx.servers;
  if (mongo.pid !== undefined) readers.mongoServer = () => procCpuSeconds(mongo.pid as number);
  if (/postgres/.test(mongo.kind)) readers.postgres = () => commCpuSeconds('postgres');
  // Let the start's own work (consumers, the versions check, the first sweeps) settle first.
  await new Promise((r) => setTimeout(r, 3_000));
  const meter = new CpuMeter(readers);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const used = meter.since();
  const perServer: Record<string, number | null> = {};
  let total: number | null = 0;
  for (const [k, s] of Object.entries(used)) {
    perServer[k] = s === null ? null : round(s / seconds, 3);
    total = s === null || total === null ? null : total + s;
  }
  return { cores: total === null || Object.keys(used).length === 0 ? null : round(total / seconds, 3), perServer };
}

async function measureNoop3(
  target: { natsUrl: string; prefix: string },
  n: number,
): Promise<ReturnType<typeof summarize> & { failures: string[] }> {
  const driver = await Driver.open(target.natsUrl, target.prefix, ['noop3']);
  try {
    const { timings, failures } = await driver.runMany('noop3', n, 1, (i) => ({ n: i }));
    return { ...summarize(timings.map((t) => t.doneMs)), failures };
  } finally {
    await driver.close();
  }
}

/** Signals each run once, one at a time: accepted = the reply, applied = the run's done message. */
type Burst = { perSecond: number; seconds: number; others: ReturnType<typeof summarize> & { failures: string[] } };

/**
 * Issue #22's busy run: `n` signals (`touch`, recorded and no transition) to the open run of
 * `--history-commits` commits, and the same to a fresh run of one commit, twice each, interleaved;
 * each burst keeps 16 signals in flight and ends when the run's summary holds them all, while
 * noop3 runs go one at a time alongside (the other runs' latency while one run is busy).
 */
async function measureBursts(
  client: SquallClient,
  store: Store,
  target: { natsUrl: string; prefix: string },
  runs: { busy: Clone; fresh: Clone },
  n: number,
): Promise<{ busy: Burst; fresh: Burst }> {
  const burst = async (run: Clone): Promise<Burst> => {
    const from = (await store.getRun(run.runId))?.lastSeq ?? 0;
    let ended = false;
    const others = (async () => {
      const driver = await Driver.open(target.natsUrl, target.prefix, ['noop3']);
      const timings: number[] = [];
      const failures: string[] = [];
      try {
        while (!ended) {
          const r = await driver.runMany('noop3', 1, 1, (i) => ({ n: i }));
          timings.push(...r.timings.map((t) => t.doneMs));
          failures.push(...r.failures);
        }
      } finally {
        await driver.close();
      }
      return { ...summarize(timings), failures };
    })();
    const t0 = performance.now();
    try {
      await forEachLimited(
        Array.from({ length: n }, (_, i) => i),
        16,
        async () => {
          await client.signal(run.workflowId, { type: 'touch' });
        },
      );
      const deadline = Date.now() + 120_000;
      while (((await store.getRun(run.runId))?.lastSeq ?? 0) < from + n) {
        if (Date.now() > deadline) throw new Error(`scale: ${run.workflowId} did not take ${n} signals in 120 s`);
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      ended = true;
    }
    const seconds = (performance.now() - t0) / 1000;
    return { perSecond: round(n / seconds, 1), seconds: round(seconds, 2), others: await others };
  };
  const rounds: { busy: Burst; fresh: Burst }[] = [];
  for (let i = 0; i < 2; i++) rounds.push({ fresh: await burst(runs.fresh), busy: await burst(runs.busy) });
  const merge = (a: Burst, b: Burst): Burst => ({
    perSecond: round((a.perSecond + b.perSecond) / 2, 1),
    seconds: round(a.seconds + b.seconds, 2),
    others: a.others.p99 >= b.others.p99 ? a.others : b.others,
  });
  const [r1, r2] = rounds as [{ busy: Burst; fresh: Burst }, { busy: Burst; fresh: Burst }];
  return { busy: merge(r1.busy, r2.busy), fresh: merge(r1.fresh, r2.fresh) };
}

async function measureSignals(
  client: SquallClient,
  prefix: string,
  targets: readonly Clone[],
): Promise<{ accept: ReturnType<typeof summarize>; applied: ReturnType<typeof summarize>; failures: number }> {
  const waiting = new Map<string, () => void>();
  const sub = client.nc.subscribe(`${prefix}.done.hold.*`, {
    callback: (err, msg) => {
      if (err) return;
      const body = decodeBody(msg.data, msg.headers, msg.subject) as { workflowId?: string };
      if (body.workflowId !== undefined) waiting.get(body.workflowId)?.();
    },
  });
  await client.nc.flush();
  const accept: number[] = [];
  const applied: number[] = [];
  let failures = 0;
  try {
    for (const t of targets) {
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`signal to ${t.workflowId} not applied in 30 s`)), 30_000);
        waiting.set(t.workflowId, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      done.catch(() => undefined);
      const t0 = performance.now();
      try {
        await client.signal(t.workflowId, { type: 'poke' });
        accept.push(performance.now() - t0);
        await done;
        applied.push(performance.now() - t0);
      } catch (err) {
        failures++;
        process.stderr.write(`scale: ${(err as Error).message}\n`);
      } finally {
        waiting.delete(t.workflowId);
      }
    }
  } finally {
    sub.unsubscribe();
  }
  return { accept: summarize(accept), applied: summarize(applied), failures };
}

/** One 1,000-commit page at the start, middle and end of a long run (median of 3), and all of it. */
async function measureHistory(
  client: SquallClient,
  workflowId: string,
  commits: number,
  opts: { whole: boolean } = { whole: true },
): Promise<{ firstMs: number; middleMs: number; lastMs: number; allMs: number | null }> {
  const page = async (fromSeq: number): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const p = await client.history(workflowId, { fromSeq, limit: 1000 });
      times.push(performance.now() - t0);
      if (p.commits.length !== Math.min(1000, commits - fromSeq + 1)) {
        throw new Error(`scale: history page from ${fromSeq} held ${p.commits.length} commits`);
      }
    }
    return round(summarize(times).p50, 1);
  };
  const firstMs = await page(1);
  const middleMs = await page(Math.floor(commits / 2) + 1);
  const lastMs = await page(commits - 999);
  if (!opts.whole) return { firstMs, middleMs, lastMs, allMs: null };
  const t0 = performance.now();
  let fromSeq: number | undefined = 1;
  while (fromSeq !== undefined) fromSeq = (await client.history(workflowId, { fromSeq, limit: 1000 })).nextSeq;
  return { firstMs, middleMs, lastMs, allMs: round(performance.now() - t0) };
}

function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
