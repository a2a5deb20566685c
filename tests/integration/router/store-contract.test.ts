/**
 * The Store contract, asserted alike against the in-memory store (the router's unit tests run
 * over it) and the MongoDB store on the real server: if one drifts from the other, this fails.
 * Commits and their outbox entries, workflowId claims, summaries and timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decide, type RunState, WorkflowRegistry } from '../../../shared/engine/index.js';
import { ConflictError } from '../../../shared/errors.js';
import { createMemoryStore, createMongoStore, type Store, type StoredCommit } from '../../../shared/store/index.js';
import { connectMongo, freshDbName, freshPrefix } from '../../harness/index.js';
import { ManualClock, steps } from '../../unit/router/over-memory.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type MakeStore = (clock: ManualClock) => Promise<Store>;

const stores: [string, MakeStore][] = [
  ['memory', async (clock) => createMemoryStore({ now: () => clock.now() })],
  [
    'mongodb',
    async (clock) => {
      const mongo = await connectMongo();
      const dbName = freshDbName();
      const store = createMongoStore(mongo, { dbName, collectionPrefix: freshPrefix(), now: () => clock.now() });
      await store.init();
      cleanups.push(async () => {
        await mongo.db(dbName).dropDatabase();
        await mongo.close();
      });
      return store;
    },
  ],
];

const def = new WorkflowRegistry([steps]).latest('steps');

/** A `steps` run's states after start and each signal: the last one closed when `finish` is in. */
function statesOf(runId: string, workflowId: string, signals: string[], at = 1_000): RunState[] {
  if (!def) throw new Error('steps is not registered');
  let state = decide(def, undefined, { kind: 'start', at, workflowId, runId }).state;
  const out = [state];
  for (const type of signals) {
    state = decide(def, state, { kind: 'signal', at, event: { type } }).state;
    out.push(state);
  }
  return out;
}

const commit = (runId: string, seq: number, at: number, note = 'a'): StoredCommit => ({
  runId,
  workflowId: `wf-${runId}`,
  seq,
  at,
  events: [],
  commands: [{ kind: 'emit', event: { type: note } }],
});

describe.each(stores)('the %s store', (_name, makeStore) => {
  it('appends a commit once: the same bytes again are fine, other bytes at its seq conflict', async () => {
    const store = await makeStore(new ManualClock());
    expect(await store.appendCommits([commit('r1', 1, 10), commit('r2', 1, 10)])).toEqual([undefined, undefined]);
    expect(await store.appendCommits([commit('r1', 1, 10)])).toEqual([undefined]);
    const [outcome] = await store.appendCommits([commit('r1', 1, 10, 'other')]);
    expect(outcome).toBeInstanceOf(ConflictError);
    await store.appendCommit(commit('r1', 2, 11));
    const seqs: number[] = [];
    for await (const c of store.loadHistory('r1')) seqs.push(c.seq);
    expect(seqs).toEqual([1, 2]);
    expect(await store.lastSeq('r1')).toBe(2);
  });

  it('enters each commit in the outbox until marked; finds them by age; re-enters a run since a time', async () => {
    const clock = new ManualClock(50_000);
    const store = await makeStore(clock);
    await store.appendCommits([commit('r1', 1, 10), commit('r1', 2, 20)]);
    clock.t += 1_000;
    await store.appendCommits([commit('r2', 1, 30)]);
    const all = { olderThan: Number.POSITIVE_INFINITY, limit: 10 };
    const keys = (cs: StoredCommit[]) => cs.map((c) => `${c.runId}:${c.seq}`);
    expect(keys(await store.findUnpublished(all))).toEqual(['r1:1', 'r1:2', 'r2:1']);
    expect(keys(await store.findUnpublished({ olderThan: 50_500, limit: 10 }))).toEqual(['r1:1', 'r1:2']);
    expect(keys(await store.findUnpublished({ olderThan: 50_500, limit: 1 }))).toEqual(['r1:1']);
    await store.markPublishedMany([
      { runId: 'r1', seq: 1 },
      { runId: 'r1', seq: 2 },
    ]);
    await store.markPublished('r2', [1]);
    expect(await store.findUnpublished(all)).toEqual([]);
    expect(await store.reenterOutbox('r1', 15)).toBe(1);
    expect(keys(await store.findUnpublished(all))).toEqual(['r1:2']);
  });

  it('claims a workflowId by run; another run gets the holder until it closes, then the id', async () => {
    const store = await makeStore(new ManualClock());
    expect(await store.claimWorkflowId('w', 'run-a', 'returnExisting', 'm-a')).toEqual({ claimed: true });
    expect(await store.claimWorkflowId('w', 'run-a', 'returnExisting')).toEqual({ claimed: true });
    expect(await store.claimWorkflowId('w', 'run-b', 'returnExisting')).toEqual({
      claimed: false,
      runId: 'run-a',
      status: 'running',
    });
    const closed = statesOf('run-a', 'w', ['next', 'finish']).at(-1) as RunState;
    expect(closed.status).toBe('completed');
    await store.saveRun(closed);
    expect(await store.claimWorkflowId('w', 'run-c', 'rejectDuplicate')).toEqual({
      claimed: false,
      runId: 'run-a',
      status: 'completed',
    });
    expect(await store.claimWorkflowId('w', 'run-c', 'returnExisting', 'm-a')).toEqual({
      claimed: false,
      runId: 'run-a',
      status: 'completed',
      sameStart: true,
    });
    expect(await store.claimWorkflowId('w', 'run-c', 'allowAfterClose')).toEqual({ claimed: true });
    expect((await store.getRunByWorkflowId('w'))?.runId).toBe('run-a'); // run-c has no summary yet
  });

  it('never moves a summary backwards, and keeps the start message id', async () => {
    const store = await makeStore(new ManualClock());
    const [s1, s2, s3] = statesOf('run-s', 'ws', ['add', 'next']) as [RunState, RunState, RunState];
    await store.saveRun(s1, { startMsgId: 'm1' });
    await store.saveRuns([s3, s2]);
    await store.saveRun(s2);
    expect(await store.getRun('run-s')).toMatchObject({ lastSeq: 3, startMsgId: 'm1', status: 'running' });
    expect(await store.openRunVersions()).toEqual([{ workflowType: 'steps', version: s1.version, runs: 1 }]);
    expect((await store.listRuns({ workflowType: 'steps' })).items.map((r) => r.runId)).toEqual(['run-s']);
    expect((await store.listRuns({ status: 'completed' })).items).toEqual([]);
  });

  it('timers: a cancel before its schedule wins; one claimer per lease; fired only by its holder', async () => {
    // The scheduler's clock at 0, as the due times here are: a store places a past due time in its current bucket.
    const store = await makeStore(new ManualClock(0));
    await store.cancelTimer('rt', 1);
    await store.scheduleTimers([
      { runId: 'rt', workflowId: 'wt', timerSeq: 1, fireAt: 100 },
      { runId: 'rt', workflowId: 'wt', timerSeq: 2, fireAt: 200 },
      { runId: 'rt', workflowId: 'wt', timerSeq: 3, fireAt: 9_999 },
    ]);
    expect((await store.getTimer('rt', 1))?.status).toBe('cancelled');
    const [mine, ...rest] = await store.claimDueTimers(500, 'a', 1_000, 10);
    expect(rest).toEqual([]);
    expect(mine).toMatchObject({ timerSeq: 2, leaseOwner: 'a', leaseUntil: 1_500, leaseEpoch: 1 });
    expect(await store.claimDueTimers(600, 'b', 1_000, 10)).toEqual([]);
    const [taken] = await store.claimDueTimers(2_000, 'b', 1_000, 10);
    expect(taken).toMatchObject({ timerSeq: 2, leaseOwner: 'b', leaseEpoch: 2 });
    expect(await store.markTimerFired('rt', 2, 'a', 1)).toBe(false);
    expect(await store.markTimerFired('rt', 2, 'b', 2)).toBe(true);
    expect((await store.getTimer('rt', 2))?.status).toBe('fired');
    // No later than the next due timer; the mongodb store may answer earlier (the next bucket's start).
    expect(await store.nextTimerDue()).toBeLessThanOrEqual(9_999);
  });
});
