/**
 * `cache`: the router's memory under a run cache budget (issue #17 item 4). A router runs in this
 * process with `runCacheBytes` = `--cache-mb`; `--runs` open `hold` runs (each waiting on a signal
 * or a day-long timer) are cloned into its store (scale-fill.ts), then each gets one signal the
 * machine ignores (it stays waiting), so each is loaded into the cache and decided once. Measured,
 * after a full GC (run node with --expose-gc; `gcExposed` says whether it was): the process's heap
 * and RSS growth over the signals, the cache's own figures (runs held, estimated bytes, evictions)
 * and how close the estimate is to the heap growth per run held. Flags: --runs 50000
 * --cache-mb 64 --concurrency 256.
 */
import { MongoClient } from 'mongodb';
import type { ServiceHandle } from '../../services/common/service.js';
import type { cacheLimits } from '../../services/router/options.js';
import { startRouter } from '../../services/router/router.js';
import type { RunCacheStats } from '../../services/router/run-cache.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { forEachLimited } from '../../shared/concurrency.js';
import { createMongoStore } from '../../shared/store/index.js';
import type { Store } from '../../shared/store/types.js';
import { type Flags, type ScenarioContext, servicesMongoUrl } from '../lib/context.js';
import { freshNamespace, round } from '../lib/env.js';
import { benchLogger } from '../lib/trace.js';
import { type Clone, fillClones, hold, readTemplate, type Template } from './scale-fill.js';

const MIB = 1024 * 1024;

/** The scenario's parameters. */
export interface CacheOptions {
  /** Waiting runs loaded into the cache. @default 50_000 */
  runs: number;
  /** The router's run cache budget, MiB. @default 64 */
  cacheMb: number;
  /** Signals in flight at once. @default 256 */
  concurrency: number;
  /** The router's runCacheSize when given (0: a baseline with no run cached). @default unset */
  cacheRuns?: number;
}

const FLAGS: Record<string, keyof CacheOptions> = {
  runs: 'runs',
  'cache-mb': 'cacheMb',
  concurrency: 'concurrency',
  'cache-runs': 'cacheRuns',
};

/** Reads the cache flags, refusing unknown ones and values that are not positive integers. */
export function cacheOptions(flags: Flags): CacheOptions {
  const o: CacheOptions = { runs: 50_000, cacheMb: 64, concurrency: 256 };
  for (const [flag, value] of Object.entries(flags)) {
    const key = FLAGS[flag];
    if (key === undefined)
      throw new Error(`cache: unknown flag --${flag}; known: --${Object.keys(FLAGS).join(', --')}`);
    const n = Number(value);
    if (value === true || !Number.isInteger(n) || n < (key === 'cacheRuns' ? 0 : 1)) {
      throw new Error(
        `cache: --${flag} must be a ${key === 'cacheRuns' ? 'whole number' : 'positive integer'}, got ${String(value)}`,
      );
    }
    o[key] = n;
  }
  return o;
}

/** `cache`: heap and RSS growth of a router holding `--runs` waiting runs under `--cache-mb`. */
export async function cache(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const o = cacheOptions(ctx.flags);
  const ns = freshNamespace('cache');
  const mongo = await MongoClient.connect(ctx.servers.mongoUrl);
  const store = createMongoStore(mongo, { dbName: ns.dbName, collectionPrefix: ns.prefix });
  let router: ServiceHandle | undefined;
  let client: SquallClient | undefined;
  try {
    await store.init();
    router = await startRouter({
      natsUrl: ctx.servers.natsUrl,
      mongoUrl: servicesMongoUrl(ctx),
      ...ns,
      workflows: [hold],
      runCacheBytes: o.cacheMb * MIB,
      ...(o.cacheRuns === undefined ? {} : { runCacheSize: o.cacheRuns }),
      log: benchLogger(),
    });
    client = await connect({ servers: ctx.servers.natsUrl, prefix: ns.prefix, requestTimeoutMs: 60_000 });
    const template = await makeTemplate(client, store);
    const clones: Clone[] = Array.from({ length: o.runs }, (_, i) => ({
      runId: `${template.runId}-c${i}`,
      workflowId: `${template.workflowId}-c${i}`,
    }));
    const fillSeconds = await fillClones(store, template, clones);
    progress({ filled: o.runs, fillSeconds: round(fillSeconds, 1) });

    const before = await memory();
    const cacheBefore = cacheOf(router);
    const t0 = performance.now();
    let sent = 0;
    await forEachLimited(clones, o.concurrency, async (c) => {
      // `touch` is no transition of `hold`: recorded, and the run stays waiting.
      await (client as SquallClient).signal(c.workflowId, { type: 'touch' });
      if (++sent % 5000 === 0) progress({ signalled: sent, seconds: round((performance.now() - t0) / 1000, 1) });
    });
    const signalSeconds = (performance.now() - t0) / 1000;
    // Wait for the signals' decisions (signal replies come before the decision) and summary writes.
    const deadline = Date.now() + 120_000;
    while (decided(router) < o.runs + 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 2_000));
    const after = await memory();
    const c = cacheOf(router);
    const heapGrowth = after.heapUsed - before.heapUsed;
    const held = c.runs - cacheBefore.runs;
    return {
      options: o,
      gcExposed: typeof gc === 'function',
      fillSeconds: round(fillSeconds, 1),
      signalSeconds: round(signalSeconds, 1),
      signalsPerSecond: round(o.runs / signalSeconds),
      decided: decided(router),
      cache: c,
      budgetBytes: o.cacheMb * MIB,
      withinBudget: c.bytes <= o.cacheMb * MIB,
      memory: {
        before: mib(before),
        after: mib(after),
        heapGrowthMiB: round(heapGrowth / MIB, 1),
        rssGrowthMiB: round((after.rss - before.rss) / MIB, 1),
        // Packed runs' bytes live in ArrayBuffers, outside the heap.
        arrayBuffersGrowthMiB: round((after.arrayBuffers - before.arrayBuffers) / MIB, 1),
      },
      perRunHeld: {
        estimatedBytes: held > 0 ? round((c.bytes - cacheBefore.bytes) / held) : null,
        heapGrowthBytes: held > 0 ? round(heapGrowth / held) : null,
        arrayBuffersGrowthBytes: held > 0 ? round((after.arrayBuffers - before.arrayBuffers) / held) : null,
        // Over 1: the estimate is high (the budget errs on the safe side); under 1, low.
        estimateOverHeap: held > 0 && heapGrowth > 0 ? round((c.bytes - cacheBefore.bytes) / heapGrowth, 2) : null,
      },
    };
  } finally {
    await client?.close();
    await router?.stop();
    await mongo.db(ns.dbName).dropDatabase();
    await mongo.close();
  }
}

/** The cache's figures in the router's health details (RouterService.health). */
type CacheFigures = RunCacheStats & ReturnType<typeof cacheLimits>;

function cacheOf(router: ServiceHandle): CacheFigures {
  return (router.health().details as { cache: CacheFigures }).cache;
}

/** Inputs decided so far (the start and the signals), from the router's health counters. */
function decided(router: ServiceHandle): number {
  return (router.health().details as { decided: number }).decided;
}

async function memory(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    if (typeof gc === 'function') gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage();
}

function mib(m: NodeJS.MemoryUsage): Record<string, number> {
  return {
    heapUsedMiB: round(m.heapUsed / MIB, 1),
    arrayBuffersMiB: round(m.arrayBuffers / MIB, 1),
    rssMiB: round(m.rss / MIB, 1),
  };
}

async function makeTemplate(client: SquallClient, store: Store): Promise<Template> {
  const workflowId = `cache-${Math.random().toString(16).slice(2, 8)}`;
  const { runId } = await client.start('hold', undefined, { workflowId });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const t = await readTemplate(store, runId, workflowId);
    if (t) return t;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`cache: the template run ${runId} was not stored within 30 s`);
}

function progress(fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ scenario: 'cache', ...fields })}\n`);
}
