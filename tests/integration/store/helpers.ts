/** Shared fixtures of the store conformance suite: a fresh store per test, sample commits and states. */
import { randomBytes } from 'node:crypto';
import type { MongoClient } from 'mongodb';
import type { RunState } from '../../../shared/engine/types.js';
import type { HistoryEvent } from '../../../shared/history/events.js';
import { createMongoStore, type Store, type StoredCommit, type StoreOptions } from '../../../shared/store/index.js';
import { connectMongo, freshDbName, freshPrefix } from '../../harness/index.js';

/** A store in its own database and prefix, initialised; the database is dropped by `drop()`. */
export interface TestStore {
  store: Store;
  client: MongoClient;
  dbName: string;
  prefix: string;
  drop(): Promise<void>;
}

/** Opens a store on a fresh database (shared server unless `url` is given). */
export async function freshStore(opts: Partial<StoreOptions> = {}, client?: MongoClient): Promise<TestStore> {
  const c = client ?? (await connectMongo());
  const dbName = freshDbName();
  const prefix = freshPrefix();
  const store = createMongoStore(c, { dbName, collectionPrefix: prefix, ...opts });
  await store.init();
  return {
    store,
    client: c,
    dbName,
    prefix,
    drop: () =>
      c
        .db(dbName)
        .dropDatabase()
        .then(() => undefined),
  };
}

/** A fresh run id. */
export function newRunId(): string {
  return `run-${randomBytes(6).toString('hex')}`;
}

/** A valid commit at `seq` for `runId`: RunStarted for seq 1, a signal after. */
export function sampleCommit(runId: string, seq: number, opts: { at?: number; payload?: unknown } = {}): StoredCommit {
  const at = opts.at ?? 1_700_000_000_000 + seq;
  const first: HistoryEvent =
    seq === 1
      ? {
          type: 'RunStarted',
          at,
          workflowType: 'sample',
          version: 1,
          workflowId: `wf-${runId}`,
          runId,
          input: opts.payload,
        }
      : { type: 'SignalReceived', at, signal: { type: 'poke', n: seq, payload: opts.payload } };
  return {
    runId,
    workflowId: `wf-${runId}`,
    seq,
    at,
    events: [first, { type: 'TimerScheduled', at, timerSeq: seq, sendId: `t${seq}`, delayMs: 10, fireAt: at + 10 }],
    commands: [{ kind: 'scheduleTimer', timerSeq: seq, fireAt: at + 10 }],
  };
}

/** A RunState for listing and saving tests. */
export function sampleState(runId: string, over: Partial<RunState> = {}): RunState {
  return {
    workflowId: `wf-${runId}`,
    runId,
    workflowType: 'sample',
    version: 1,
    status: 'running',
    snapshot: { status: 'active', value: { waiting: 'idle' }, context: { n: 1 } },
    lastSeq: 1,
    nextSeq: 1,
    activities: {},
    timers: {},
    children: {},
    mailbox: [],
    startedAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...over,
  };
}

/** A timer schedule of `runId` (workflowId `wf-<runId>`). */
export function sampleTimer(
  runId: string,
  timerSeq: number,
  fireAt: number,
): { runId: string; workflowId: string; timerSeq: number; fireAt: number } {
  return { runId, workflowId: `wf-${runId}`, timerSeq, fireAt };
}

/** Collects an async iterable. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Resolves to the error a promise rejects with (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
