/**
 * The runs list over thousands of runs, through the console's JSON API (console → client → router
 * → store, the path the runs page takes). One real `hold` run is started through the engine and
 * cloned 2,000 times through the store's own API (bench/scenarios/scale-fill.ts: its commits,
 * summary and workflowId claim, ids swapped), each clone's summary given its own start time (three
 * runs per second, so ties are broken by runId), status, type and search attributes. Then:
 * walking every page forward yields each run once, newest first; a page read again by its cursor
 * (going back) is the same page even after newer runs started (keyset paging, not skip); each
 * filter yields exactly the runs it should, in the same order.
 */
import type { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillClones, hold, readTemplate, rewriteIds } from '../../../bench/scenarios/scale-fill.js';
import type { ServiceHandle } from '../../../services/common/service.js';
import { type ConsoleHandle, startConsole } from '../../../services/console/index.js';
import { startRouter } from '../../../services/router/router.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import type { RunState } from '../../../shared/engine/types.js';
import { createLogger } from '../../../shared/log.js';
import { createMongoStore } from '../../../shared/store/mongo-store.js';
import type { Store } from '../../../shared/store/types.js';
import { connectMongo, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';

const RUNS = 2_000;
/** The most a page takes (docs/console.md): the whole list in a few pages. */
const BIG_PAGE = 500;
/** A filter's pages: several of them for each filter. */
const PAGE = 60;
const T0 = Date.UTC(2026, 0, 1);

const prefix = freshPrefix();
const dbName = freshDbName();
let mongo: MongoClient;
let store: Store;
let router: ServiceHandle;
let client: SquallClient;
let ui: ConsoleHandle;

interface Row {
  workflowId: string;
  runId: string;
  workflowType: string;
  status: string;
  startedAt: number;
  searchAttributes?: Record<string, unknown>;
}
/** Every clone's summary as written, newest first (the list's order: startedAt, then runId, descending). */
let written: Row[] = [];

/** What clone `i` is: start time, status, type and search attributes all vary with i. */
function shape(i: number, state: RunState): RunState {
  const closed = i % 4 === 0;
  return {
    ...state,
    workflowType: i % 5 === 0 ? 'archive' : 'hold',
    startedAt: T0 + Math.floor(i / 3) * 1_000,
    status: closed ? 'completed' : 'running',
    ...(closed ? { closedAt: T0 + Math.floor(i / 3) * 1_000 + 500 } : {}),
    searchAttributes: { region: i % 2 === 0 ? 'eu' : 'us', shard: i % 10 },
  };
}

beforeAll(async () => {
  const log = createLogger({ level: 'error' });
  mongo = await connectMongo();
  store = createMongoStore(mongo, { dbName, collectionPrefix: prefix });
  router = await startRouter({ natsUrl: natsUrl(), mongoUrl: mongoUrl(), dbName, prefix, log, workflows: [hold] });
  client = await connect({ servers: natsUrl(), prefix });
  const { runId } = await client.start('hold', undefined, { workflowId: 'template' });
  const template = await waitFor('the template run’s summary', () => readTemplate(store, runId, 'template'), {
    timeoutMs: 20_000,
  });
  const clones = Array.from({ length: RUNS }, (_, i) => ({ runId: `clone-run-${i}`, workflowId: `clone-${i}` }));
  await fillClones(store, { ...template, timers: [] }, clones, (state, i) => shape(i, state));
  written = clones
    .map((c, i) => shape(i, rewriteIds(template.state, template, c)))
    .map((s) => ({
      workflowId: s.workflowId,
      runId: s.runId,
      workflowType: s.workflowType,
      status: s.status,
      startedAt: s.startedAt,
      searchAttributes: s.searchAttributes as Record<string, unknown>,
    }))
    .sort((a, b) => b.startedAt - a.startedAt || (a.runId < b.runId ? 1 : -1));
  ui = await startConsole({ port: 0, client, log });
}, 180_000);

afterAll(async () => {
  await ui?.close();
  await client?.close();
  await router?.stop();
  await mongo?.db(dbName).dropDatabase();
  await mongo?.close();
});

async function page(query: string, cursor?: string, limit = PAGE): Promise<{ runs: Row[]; nextCursor?: string }> {
  const q = new URLSearchParams(query);
  q.set('limit', String(limit));
  if (cursor) q.set('cursor', cursor);
  const res = await fetch(`${ui.url}/api/runs?${q}`);
  expect(res.status).toBe(200);
  return (await res.json()) as { runs: Row[]; nextCursor?: string };
}

/** Every page of `query`, with the cursor each was read by. */
async function walk(query: string, limit = PAGE): Promise<{ cursor: string | undefined; runs: Row[] }[]> {
  const pages: { cursor: string | undefined; runs: Row[] }[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(query, cursor, limit);
    pages.push({ cursor, runs: p.runs });
    cursor = p.nextCursor;
  } while (cursor !== undefined);
  return pages;
}

const ids = (rows: readonly Row[]) => rows.map((r) => r.runId);
const clonesOf = (rows: readonly Row[]) => rows.filter((r) => r.runId.startsWith('clone-'));

describe('the runs list over thousands of runs', () => {
  it('pages forward through every run once, newest first, and back to the same pages', async () => {
    const t0 = performance.now();
    const pages = await walk('', BIG_PAGE);
    const ms = performance.now() - t0;
    const all = pages.flatMap((p) => p.runs);
    // The template was started now: newer than every clone, so first.
    expect(all[0]?.workflowId).toBe('template');
    expect(ids(clonesOf(all))).toEqual(ids(written));
    expect(pages).toHaveLength(Math.ceil((RUNS + 1) / BIG_PAGE));
    // A figure for the report, not a check: on FerretDB 1.24 each page reads every summary (see docs/console.md).
    console.log(`runs list: ${pages.length} pages of ${BIG_PAGE} over ${RUNS + 1} runs in ${ms.toFixed(0)} ms`);

    // Newer runs start: pages read again by their cursors (the runs page's Previous) do not move.
    await Promise.all([1, 2, 3].map((i) => client.start('hold', undefined, { workflowId: `later-${i}` })));
    await waitFor(
      'the later runs in the list',
      async () => (await page('', undefined, 3)).runs[2]?.workflowId.startsWith('later-'),
      {
        timeoutMs: 20_000,
      },
    );
    for (const k of [3, 1]) {
      const again = await page('', pages[k]?.cursor, BIG_PAGE);
      expect(ids(again.runs)).toEqual(ids(pages[k]?.runs ?? []));
    }
  });

  it('serves each filter exactly, in the same order, page by page', async () => {
    const eu = (r: Row) => r.searchAttributes?.region === 'eu';
    const from = T0 + 200_000;
    const to = T0 + 300_000;
    const cases: { query: string; limit?: number; expected: (r: Row) => boolean }[] = [
      { query: 'status=running', limit: BIG_PAGE, expected: (r) => r.status === 'running' },
      {
        query: 'status=completed&type=archive',
        expected: (r) => r.status === 'completed' && r.workflowType === 'archive',
      },
      {
        query: `where=${JSON.stringify({ region: 'eu', shard: 4 })}`,
        expected: (r) => eu(r) && r.searchAttributes?.shard === 4,
      },
      {
        query: `type=hold&from=${new Date(from).toISOString()}&to=${to}`,
        expected: (r) => r.workflowType === 'hold' && r.startedAt >= from && r.startedAt < to,
      },
      {
        query: `status=running&where=${JSON.stringify({ region: 'eu' })}&to=${to}`,
        expected: (r) => r.status === 'running' && eu(r) && r.startedAt < to,
      },
    ];
    for (const c of cases) {
      const got = clonesOf((await walk(c.query, c.limit)).flatMap((p) => p.runs));
      const want = written.filter(c.expected);
      // Each filter spans several pages.
      expect(want.length, c.query).toBeGreaterThan(c.limit ?? PAGE);
      expect(ids(got), c.query).toEqual(ids(want));
    }
  });
});
