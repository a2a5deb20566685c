/**
 * Store benchmark: `npx tsx bench/store.ts` prints one JSON object. Uses MONGO_URL when set, else
 * starts its own MongoDB-compatible server (shared/dev), in a fresh database that it drops after.
 */
import { randomBytes } from 'node:crypto';
import { BSON, MongoClient } from 'mongodb';
import { type LocalServer, startMongoServer } from '../services/dev/index.js';
import { encodeEvents } from '../shared/history/codec.js';
import type { HistoryEvent } from '../shared/history/events.js';
import { collectionNames } from '../shared/names.js';
import { createMongoStore, type Store, type StoredCommit } from '../shared/store/index.js';

const SINGLE_RUN_COMMITS = 2_000;
const CONCURRENT_RUNS = 1_000;
const COMMITS_PER_CONCURRENT_RUN = 5;
const BATCHED_COMMITS = 20_000;
const BATCH_SIZE = 500;
const HISTORY_EVENTS = 10_000;
const EVENTS_PER_COMMIT = 4;

/** A typical decision: an input followed by an activity scheduling and a timer. */
function commit(runId: string, seq: number, eventsPerCommit = 2): StoredCommit {
  const at = 1_700_000_000_000 + seq;
  const events: HistoryEvent[] = [
    seq === 1
      ? {
          type: 'RunStarted',
          at,
          workflowType: 'order',
          version: 1,
          workflowId: `wf-${runId}`,
          runId,
          input: { orderId: 42, items: 3 },
        }
      : { type: 'ActivityCompleted', at, activitySeq: seq - 1, output: { ok: true, receipt: `r-${seq}` }, attempt: 1 },
  ];
  for (let i = 1; i < eventsPerCommit; i++) {
    events.push(
      i % 2 === 1
        ? {
            type: 'ActivityScheduled',
            at,
            activitySeq: seq * 10 + i,
            activity: 'chargeCard',
            invokeId: 'charge',
            input: { amount: 1999 },
          }
        : {
            type: 'TimerScheduled',
            at,
            timerSeq: seq * 10 + i,
            sendId: 'xstate.after.5000.order.waiting',
            delayMs: 5000,
            fireAt: at + 5000,
          },
    );
  }
  return {
    runId,
    workflowId: `wf-${runId}`,
    seq,
    at,
    events,
    commands: [
      {
        kind: 'scheduleActivity',
        activitySeq: seq * 10 + 1,
        activity: 'chargeCard',
        invokeId: 'charge',
        input: { amount: 1999 },
      },
    ],
  };
}

const runIdOf = (i: number): string => `bench-${i}-${randomBytes(3).toString('hex')}`;
const perSecond = (n: number, ms: number): number => Math.round((n / ms) * 1000);

async function singleRunSequential(store: Store): Promise<number> {
  const runId = runIdOf(0);
  const t0 = performance.now();
  for (let seq = 1; seq <= SINGLE_RUN_COMMITS; seq++) await store.appendCommit(commit(runId, seq));
  return perSecond(SINGLE_RUN_COMMITS, performance.now() - t0);
}

async function manyRunsConcurrent(store: Store): Promise<number> {
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENT_RUNS }, async (_, i) => {
      const runId = runIdOf(i);
      for (let seq = 1; seq <= COMMITS_PER_CONCURRENT_RUN; seq++) await store.appendCommit(commit(runId, seq));
    }),
  );
  return perSecond(CONCURRENT_RUNS * COMMITS_PER_CONCURRENT_RUN, performance.now() - t0);
}

async function batched(store: Store): Promise<number> {
  const runs = Array.from({ length: BATCH_SIZE }, (_, i) => runIdOf(i));
  const t0 = performance.now();
  for (let round = 0; round < BATCHED_COMMITS / BATCH_SIZE; round++) {
    const outcomes = await store.appendCommits(runs.map((r) => commit(r, round + 1)));
    if (outcomes.some((o) => o !== undefined)) throw new Error('unexpected conflict in the batched bench');
  }
  return perSecond(BATCHED_COMMITS, performance.now() - t0);
}

async function historyLoad(store: Store): Promise<{ ms: number; commits: number; events: number }> {
  const runId = runIdOf(1);
  const n = HISTORY_EVENTS / EVENTS_PER_COMMIT;
  const cs = Array.from({ length: n }, (_, i) => commit(runId, i + 1, EVENTS_PER_COMMIT));
  for (let i = 0; i < cs.length; i += BATCH_SIZE) await store.appendCommits(cs.slice(i, i + BATCH_SIZE));
  let best = Number.POSITIVE_INFINITY;
  let events = 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    events = 0;
    const t0 = performance.now();
    for await (const c of store.loadHistory(runId)) events += c.events.length;
    best = Math.min(best, performance.now() - t0);
  }
  return { ms: Math.round(best), commits: n, events };
}

/** Median of `reps` timings of `fn`, in ms (one warm-up first). */
async function medianMs(fn: () => Promise<unknown>, reps = 5): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? 0;
}

type Timing = { beforeMs: number; afterMs: number; ratio: number };
const timing = (beforeMs: number, afterMs: number): Timing => ({
  beforeMs: Math.round(beforeMs * 10) / 10,
  afterMs: Math.round(afterMs * 10) / 10,
  ratio: Math.round((beforeMs / Math.max(afterMs, 0.01)) * 10) / 10,
});

/**
 * Per-decision reads and writes in a collection already holding the append benches' commits:
 * the queries the store used before (by runId/seq, which FerretDB 1.x answers with a scan) side
 * by side with the `_id` lookups it uses now.
 */
async function hotPaths(client: MongoClient, dbName: string, store: Store): Promise<Record<string, unknown>> {
  const commits = client
    .db(dbName)
    .collection<{ _id: string; runId: string; seq: number }>(collectionNames('squall').commits);
  const others = await commits.estimatedDocumentCount();
  const runId = runIdOf(7);
  for (let seq = 1; seq <= 3; seq++) await store.appendCommit(commit(runId, seq));
  const drain = async (it: AsyncIterable<unknown>): Promise<void> => {
    for await (const _ of it);
  };
  const oldLoad = (fromSeq: number) => () =>
    commits.find({ runId, seq: { $gt: fromSeq } }, { sort: { seq: 1 }, batchSize: 1000 }).toArray();
  return {
    otherCommits: others,
    loadHistoryTail1: timing(await medianMs(oldLoad(2)), await medianMs(() => drain(store.loadHistory(runId, 2)))),
    loadHistoryTail0: timing(await medianMs(oldLoad(3)), await medianMs(() => drain(store.loadHistory(runId, 3)))),
  };
}

function sizes(): Record<string, number> {
  const c = commit('run-0123456789ab', 7, EVENTS_PER_COMMIT);
  const payload = encodeEvents(c.events).length;
  const json = Buffer.byteLength(JSON.stringify(c.events));
  // The document as stored: ids and fields plus msgpack Binary payloads.
  const doc = {
    _id: `${c.runId}:${c.seq}`,
    runId: c.runId,
    workflowId: c.workflowId,
    seq: c.seq,
    at: c.at,
    events: Buffer.alloc(payload),
    commands: Buffer.alloc(encodeEvents([]).length + 60),
  };
  return {
    eventsPerCommit: EVENTS_PER_COMMIT,
    msgpackBytesPerEvent: Math.round(payload / EVENTS_PER_COMMIT),
    jsonBytesPerEvent: Math.round(json / EVENTS_PER_COMMIT),
    bsonDocBytesPerEvent: Math.round(BSON.calculateObjectSize(doc) / EVENTS_PER_COMMIT),
  };
}

async function main(): Promise<void> {
  const server: LocalServer | undefined = process.env.MONGO_URL ? undefined : await startMongoServer();
  const url = process.env.MONGO_URL ?? server?.url ?? '';
  const client = await new MongoClient(url, { maxPoolSize: 100 }).connect();
  const dbName = `bench_${randomBytes(4).toString('hex')}`;
  try {
    const store = createMongoStore(client, { dbName });
    const historyStore = createMongoStore(client, { dbName: `${dbName}_h` });
    await Promise.all([store.init(), historyStore.init()]);
    const result = {
      server: server ? server.describe() : url.replace(/\/\/[^@]*@/, '//***@'),
      appendPerSecond: {
        singleRunSequential: await singleRunSequential(store),
        [`concurrent${CONCURRENT_RUNS}Runs`]: await manyRunsConcurrent(store),
        [`batchedInsertMany${BATCH_SIZE}`]: await batched(store),
      },
      // In its own database: FerretDB (SQLite) scans the whole collection for any non-_id filter,
      // so sharing one with the append benches would measure the scan, not the load.
      historyLoad10kEvents: await historyLoad(historyStore),
      hotPaths: await hotPaths(client, dbName, store),
      size: sizes(),
      storedBytesPerEvent: await storedBytesPerEvent(client, dbName),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await client
      .db(dbName)
      .dropDatabase()
      .catch(() => undefined);
    await client.close();
    await server?.stop();
  }
}

/** Server-reported size of the commits collection per stored event, when the server reports it. */
async function storedBytesPerEvent(client: MongoClient, dbName: string): Promise<number | null> {
  try {
    const name = collectionNames('squall').commits;
    const stats = (await client.db(dbName).command({ collStats: name })) as { size?: number; count?: number };
    const events =
      (SINGLE_RUN_COMMITS + CONCURRENT_RUNS * COMMITS_PER_CONCURRENT_RUN + BATCHED_COMMITS) * 2 + HISTORY_EVENTS;
    return typeof stats.size === 'number' && events > 0 ? Math.round(stats.size / events) : null;
  } catch {
    return null;
  }
}

await main();
