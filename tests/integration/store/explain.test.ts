/**
 * Every filter shape the store sends that FerretDB 1.24 pushes down to PostgreSQL is served by an
 * index there, not a sequential scan (services/dev/ferret-pushdown.ts). Runs its own FerretDB on
 * PostgreSQL, made with the store's real init (so the trigger sees the real index definitions),
 * and reads PostgreSQL's plan through FerretDB's `explain`, which runs EXPLAIN on the very SQL
 * FerretDB sends. Shapes FerretDB does not push down (`$in`, `$and`, `$or`, ranges alone) scan
 * whatever the database holds and are left out, as is the timer walk's one-time start on a store
 * without a position (every pending timer, once; see shared/store/timer-position.ts). Updates and deletes build their WHERE clause the
 * same way as finds, so a find with the same filter shows their plan.
 */
import type { Db, Document } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureFerretdb, type LocalServer, psqlQuery, startMongoServer } from '../../../services/dev/index.js';
import { collectionNames } from '../../../shared/names.js';
import { createMongoStore } from '../../../shared/store/index.js';
import { connectMongo, freshDbName, freshPrefix, waitFor } from '../../harness/index.js';

/** Documents per collection: enough that a sequential scan costs more than an index. */
const DOCS = 3_000;

let server: LocalServer;
let db: Db;
let names: ReturnType<typeof collectionNames>;
const savedBackend = process.env.SQUALL_FERRETDB_BACKEND;

beforeAll(async () => {
  // PostgreSQL is required: the indexes under test live there (a ConfigError says so if absent).
  process.env.SQUALL_FERRETDB_BACKEND = 'postgresql';
  server = await startMongoServer({ binary: { kind: 'ferretdb', path: await ensureFerretdb() } });
  const client = await connectMongo(server.url);
  const dbName = freshDbName();
  const prefix = freshPrefix();
  await createMongoStore(client, { dbName, collectionPrefix: prefix }).init();
  db = client.db(dbName);
  names = collectionNames(prefix);
  await fill(db, names);
  // The steady state: the planner has statistics, as autovacuum gives it on a live database.
  psqlQuery(pgDatabase(), 'ANALYZE');
});

afterAll(async () => {
  if (savedBackend === undefined) delete process.env.SQUALL_FERRETDB_BACKEND;
  else process.env.SQUALL_FERRETDB_BACKEND = savedBackend;
  await server?.stop();
});

function pgDatabase(): string {
  if (!server.postgresDatabase) throw new Error(`FerretDB at ${server.url} does not run on PostgreSQL`);
  return server.postgresDatabase;
}

async function fill(target: Db, n: ReturnType<typeof collectionNames>): Promise<void> {
  const runs: Document[] = [];
  const commits: Document[] = [];
  const ids: Document[] = [];
  const timers: Document[] = [];
  for (let i = 0; i < DOCS; i++) {
    const runId = `run-${i}`;
    const workflowId = `wf-${i}`;
    // Open runs and pending timers are a small part of a grown database (at 10% of the rows,
    // PostgreSQL rightly prefers a sequential scan of a table this small).
    const status = i % 100 === 0 ? 'running' : 'completed';
    const run = { _id: runId, workflowId, workflowType: `type${i % 20}`, status, version: 1, startedAt: i, lastSeq: 3 };
    // Closed runs expire a few per minute bucket (retention.ts).
    runs.push(status === 'running' ? run : { ...run, sweepBucket: Math.floor(i / 10) });
    commits.push({ _id: `${runId}:1`, runId, workflowId, seq: 1, runPage: `${runId}:0`, at: i, events: [] });
    ids.push({ _id: `${workflowId}:1`, workflowId, gen: 1, runId, claimedAt: i });
    const timer = `${runId}:1`;
    // A few timers per 5 s bucket, as a store that has fired timers for a while holds them.
    const fireAt = i * 1_000;
    const bucket = Math.floor(fireAt / 5_000) * 5_000;
    const timerStatus = i % 100 === 0 ? 'pending' : i % 7 === 0 ? 'cancelled' : 'fired';
    timers.push({ _id: timer, runId, workflowId, timerSeq: 1, fireAt, status: timerStatus, bucket });
    timers.push({ _id: `${timer}@1`, kind: 'lease', timer, epoch: 1, owner: 'timer-1', until: fireAt, bucket });
  }
  const insert = async (name: string, docs: Document[]): Promise<void> => {
    for (let i = 0; i < docs.length; i += 500) await target.collection(name).insertMany(docs.slice(i, i + 500));
  };
  await insert(n.runs, runs);
  await insert(n.commits, commits);
  await insert(n.workflowIds, ids);
  await insert(n.timers, timers);
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/** The filter shapes of shared/store/*.ts that FerretDB pushes down, by collection role. */
const SHAPES: { role: keyof ReturnType<typeof collectionNames>; what: string; filter: Document }[] = [
  { role: 'commits', what: 'a commit by _id (getCommit, probes)', filter: { _id: 'run-17:1' } },
  { role: 'commits', what: 'a history page (load)', filter: { runPage: 'run-17:0' } },
  {
    role: 'commits',
    what: 'history from a seq (commits without page key)',
    filter: { runId: 'run-17', seq: { $gt: 0 } },
  },
  { role: 'commits', what: "a run's last seq", filter: { runId: 'run-17' } },
  { role: 'commits', what: "a run's recent commits", filter: { runId: 'run-17', at: { $gte: 0 } } },
  { role: 'runs', what: 'a run summary by _id', filter: { _id: 'run-17' } },
  { role: 'runs', what: 'a summary write guarded by lastSeq', filter: { _id: 'run-17', lastSeq: { $lt: 4 } } },
  { role: 'runs', what: 'open runs (listRuns by status)', filter: { status: 'running' } },
  {
    role: 'runs',
    what: "an open run of a version (the routers' versions check)",
    filter: { status: 'running', workflowType: 'type3', version: 1 },
  },
  { role: 'runs', what: 'listRuns by workflowType', filter: { workflowType: 'type3' } },
  {
    role: 'runs',
    what: 'a listRuns page past its cursor, by status and a search attribute',
    filter: {
      status: 'running',
      'searchAttributes.region': 'eu',
      $or: [{ startedAt: { $lt: 1_500 } }, { startedAt: 1_500, _id: { $lt: 'run-1500' } }],
    },
  },
  {
    role: 'runs',
    what: 'a listRuns page past its cursor, by type and start time',
    filter: {
      workflowType: 'type3',
      startedAt: { $gte: 100, $lt: 2_000 },
      $or: [{ startedAt: { $lt: 1_500 } }, { startedAt: 1_500, _id: { $lt: 'run-1500' } }],
    },
  },
  { role: 'runs', what: 'runs of a workflowId', filter: { workflowId: 'wf-17' } },
  { role: 'runs', what: "a retention bucket's closed runs (sweep)", filter: { sweepBucket: 7 } },
  { role: 'runs', what: "a swept run's tombstone write", filter: { _id: 'run-71', sweepBucket: 7 } },
  { role: 'workflowIds', what: 'a workflowId generation by _id', filter: { _id: 'wf-17:1' } },
  { role: 'workflowIds', what: 'generations of a workflowId', filter: { workflowId: 'wf-17' } },
  { role: 'timers', what: 'a timer or lease by _id', filter: { _id: 'run-17:1' } },
  { role: 'timers', what: 'a pending-guarded timer write', filter: { _id: 'run-17:1', status: 'pending' } },
  { role: 'timers', what: 'the walk position', filter: { _id: 'walker' } },
  { role: 'timers', what: "a bucket's timers and leases (claimDue)", filter: { bucket: 85_000 } },
  { role: 'timers', what: "a bucket's leases (a claim that lost a race)", filter: { bucket: 85_000, kind: 'lease' } },
  { role: 'timers', what: "a bucket's cancelled timers (claimDue)", filter: { bucket: 85_000, status: 'cancelled' } },
  {
    role: 'timers',
    what: "a bucket's pending timers among claimed (markFiredMany)",
    filter: { bucket: 85_000, status: 'pending', _id: { $in: ['run-85:1'] } },
  },
];

describe('store lookups on FerretDB with PostgreSQL use indexes', () => {
  for (const shape of SHAPES) {
    it(`${shape.role}: ${shape.what} ${JSON.stringify(shape.filter)}`, async () => {
      const explained = (await db.command({ explain: { find: names[shape.role], filter: shape.filter } })) as {
        filterPushdown?: boolean;
        queryPlanner?: { Plan?: PlanNode };
      };
      expect(explained.filterPushdown).toBe(true);
      const plan = explained.queryPlanner?.Plan;
      expect(plan, JSON.stringify(explained)).toBeDefined();
      const all = nodes(plan as PlanNode);
      const types = all.map((n) => n['Node Type']);
      expect(types, JSON.stringify(plan)).not.toContain('Seq Scan');
      expect(
        all.some((n) => n['Index Name']?.startsWith('squall_gin_')),
        JSON.stringify(plan),
      ).toBe(true);
    });
  }

  it('keeps using the index from statements FerretDB prepared while the table was small', async () => {
    // A collection of its own: its lookups are first planned (and cached by FerretDB's
    // connections) at ten documents, where PostgreSQL would settle on a generic sequential scan.
    const name = `${names.runs}_early`;
    const early = db.collection(name);
    await early.insertMany(Array.from({ length: 10 }, (_, i) => ({ _id: `e-${i}` as never, n: i })));
    // As autovacuum does for a young table: its statistics say it is tiny.
    psqlQuery(pgDatabase(), 'ANALYZE');
    for (let i = 0; i < 60; i++) expect(await early.findOne({ _id: `e-${i % 10}` as never })).not.toBeNull();
    const rest = Array.from({ length: DOCS }, (_, i) => ({ _id: `e-${i + 10}` as never, n: i + 10 }));
    for (let i = 0; i < rest.length; i += 500) await early.insertMany(rest.slice(i, i + 500));

    const table = psqlQuery(
      pgDatabase(),
      `select _jsonb->>'table' from "${db.databaseName}"._ferretdb_database_metadata where _jsonb->>'_id' = '${name}'`,
    ).trim();
    const scans = (): number =>
      Number(
        psqlQuery(
          pgDatabase(),
          `select coalesce(sum(idx_scan), 0) from pg_stat_user_indexes where relname = '${table}' and indexrelname like 'squall_gin_%'`,
        ).trim(),
      );
    // Statistics of earlier lookups may still be on their way; they only add to the count.
    const before = scans();
    for (let i = 0; i < 20; i++) expect(await early.findOne({ _id: `e-${100 + i * 7}` as never })).not.toBeNull();
    // An idle backend reports its statistics within 10 s (PostgreSQL's PGSTAT_IDLE_INTERVAL).
    await waitFor('twenty index scans by the lookups after the table grew', () => scans() - before >= 20, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
  });
});

describe("FerretDB's connections to the launcher's PostgreSQL", () => {
  it('go without TLS on loopback (services/dev/postgres.ts ferretPostgresUrl)', () => {
    const [tls, all] = psqlQuery(
      pgDatabase(),
      `select count(*) filter (where s.ssl), count(*) from pg_stat_ssl s join pg_stat_activity a using (pid)
       where a.datname = current_database() and a.pid <> pg_backend_pid()`,
    )
      .trim()
      .split('|')
      .map(Number);
    expect(all).toBeGreaterThan(0);
    expect(tls).toBe(0);
  });
});
