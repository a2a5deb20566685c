/**
 * The Store contract, asserted alike against the in-memory store (the router's unit tests run
 * over it) and the MongoDB store on the real server: if one drifts from the other, this fails.
 * Commits (and the reads a redelivery makes), workflowId claims, summaries and timers.
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

/** A commit that closes its run with `status` (its events say so). */
const closingCommit = (runId: string, seq: number, at: number, status: 'completed' | 'cancelled'): StoredCommit => ({
  ...commit(runId, seq, at),
  events: status === 'completed' ? [{ type: 'RunCompleted', at }] : [{ type: 'RunCancelled', at, reason: 'by a test' }],
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

  it('appends a chain in order: all of it, or up to the first seq another writer holds, never past it', async () => {
    const store = await makeStore(new ManualClock());
    expect(await store.appendChain([commit('c1', 1, 10), commit('c1', 2, 10), commit('c1', 3, 10)])).toEqual({
      stored: 3,
    });
    // The same chain again (a retry whose reply was lost) is stored already.
    expect(await store.appendChain([commit('c1', 2, 10), commit('c1', 3, 10)])).toEqual({ stored: 2 });
    // Another writer holds seq 5: seq 4 lands, 5 conflicts, 6 must not land on top of it.
    await store.appendCommit(commit('c1', 5, 11, 'theirs'));
    const cut = await store.appendChain([commit('c1', 4, 12), commit('c1', 5, 12), commit('c1', 6, 12)]);
    expect(cut.stored).toBe(1);
    expect(cut.conflict).toBeInstanceOf(ConflictError);
    const seqs: number[] = [];
    for await (const c of store.loadHistory('c1')) seqs.push(c.seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    // A chain whose first seq is taken stores nothing.
    const lost = await store.appendChain([commit('c1', 5, 13), commit('c1', 6, 13)]);
    expect(lost.stored).toBe(0);
    expect(lost.conflict).toBeInstanceOf(ConflictError);
    expect(await store.lastSeq('c1')).toBe(5);
  });

  it("finds a run's commits written since a time, in seq order; has no legacy outbox to drain", async () => {
    const store = await makeStore(new ManualClock(50_000));
    await store.appendCommits([commit('r1', 2, 20), commit('r1', 1, 10), commit('r2', 1, 30)]);
    await store.appendCommit(commit('r1', 3, 30));
    const keys = (cs: StoredCommit[]) => cs.map((c) => `${c.runId}:${c.seq}`);
    expect(keys(await store.commitsSince('r1', 15))).toEqual(['r1:2', 'r1:3']);
    expect(keys(await store.commitsSince('r1', 0))).toEqual(['r1:1', 'r1:2', 'r1:3']);
    expect(await store.commitsSince('r1', 31)).toEqual([]);
    expect(await store.commitsSince('nobody', 0)).toEqual([]);
    // Read back from the run's last seq: the same commits, however many precede them.
    expect(keys(await store.commitsSince('r1', 15, 3))).toEqual(['r1:2', 'r1:3']);
    expect(keys(await store.commitsSince('r1', 0, 3))).toEqual(['r1:1', 'r1:2', 'r1:3']);
    expect(await store.commitsSince('r1', 31, 3)).toEqual([]);
    expect(await store.commitsSince('nobody', 0, 0)).toEqual([]);
    // More commits since than a read back takes (eight): the rest by range, still all, in order.
    await store.appendCommits(Array.from({ length: 12 }, (_, i) => commit('r3', i + 1, 100 + i)));
    expect(keys(await store.commitsSince('r3', 101, 12))).toEqual(Array.from({ length: 11 }, (_, i) => `r3:${i + 2}`));
    expect(keys(await store.commitsSince('r3', 108, 12))).toEqual(['r3:9', 'r3:10', 'r3:11', 'r3:12']);
    const drained: StoredCommit[] = [];
    expect(await store.drainLegacyOutbox(async (cs) => void drained.push(...cs))).toBe(0);
    expect(drained).toEqual([]);
  });

  it('claims a workflowId by run; another run gets the holder until it closes, then the id', async () => {
    const store = await makeStore(new ManualClock());
    expect(await store.claimWorkflowId('w', 'run-a', 'returnExisting', 'm-a')).toEqual({ claimed: true, gen: 1 });
    expect(await store.claimWorkflowId('w', 'run-a', 'returnExisting')).toEqual({ claimed: true, gen: 1 });
    expect(await store.workflowIdHolder('w')).toEqual({ runId: 'run-a', gen: 1, startMsgId: 'm-a' });
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
    expect(await store.claimWorkflowId('w', 'run-c', 'allowAfterClose')).toEqual({ claimed: true, gen: 2 });
    expect((await store.getRunByWorkflowId('w'))?.runId).toBe('run-a'); // run-c has no summary yet
    // The holder is run-c all the same; one read past a remembered holder confirms or moves it.
    const first = { runId: 'run-a', gen: 1 };
    expect(await store.workflowIdHolder('w', first)).toEqual({ runId: 'run-c', gen: 2 });
    expect(await store.workflowIdHolder('w', { runId: 'run-c', gen: 2 })).toEqual({ runId: 'run-c', gen: 2 });
    expect(await store.workflowIdHolder('never-claimed')).toBeUndefined();
  });

  it("discards a refused start's commits, never those of a run that claimed the id once", async () => {
    const store = await makeStore(new ManualClock());
    expect(await store.claimWorkflowId('d', 'held', 'returnExisting')).toEqual({ claimed: true, gen: 1 });
    // The holder and a refused start each appended their first commit side by side with their claim.
    await store.appendCommits([commit('held', 1, 10), commit('refused', 1, 10)]);
    expect(await store.claimWorkflowId('d', 'refused', 'returnExisting')).toMatchObject({ claimed: false });
    expect(await store.discardRefusedStart('d', 'refused')).toBe(1);
    expect(await store.lastSeq('refused')).toBe(0);
    // A redelivery of the refused start repeats the discard: nothing left, nothing else touched.
    expect(await store.discardRefusedStart('d', 'refused')).toBe(0);
    // The holder claimed generation 1: its commits stay, now and after a newer run took the id.
    expect(await store.discardRefusedStart('d', 'held')).toBe(0);
    await store.saveRun(statesOf('held', 'd', ['next', 'finish']).at(-1) as RunState);
    expect(await store.claimWorkflowId('d', 'next', 'allowAfterClose')).toEqual({ claimed: true, gen: 2 });
    expect(await store.discardRefusedStart('d', 'held')).toBe(0);
    expect(await store.lastSeq('held')).toBe(1);
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

  it('reads a close written beside its commit only once that commit is stored and closes the run so', async () => {
    const clock = new ManualClock();
    const store = await makeStore(clock);
    const [, s2, s3] = statesOf('run-p', 'wp', ['next', 'finish'], clock.now()) as [RunState, RunState, RunState];
    expect(await store.claimWorkflowId('wp', 'run-p', 'returnExisting')).toEqual({ claimed: true, gen: 1 });
    await store.appendChain([commit('run-p', 1, 10), commit('run-p', 2, 11)]);
    await store.saveRun(s2);
    await store.saveRun({ ...s3, retentionMs: 60_000 }, { closeToken: 'close-1' });
    // Its commit is not stored (yet, or ever): the run is open to every reader.
    expect(await store.getRun('run-p')).toBeUndefined();
    expect(await store.claimWorkflowId('wp', 'run-q', 'allowAfterClose')).toEqual({
      claimed: false,
      runId: 'run-p',
      status: 'running',
    });
    // A retention sweep leaves its history alone.
    clock.t += 3 * 60_000;
    expect((await store.sweepExpiredRuns()).swept).toBe(0);
    expect(await store.lastSeq('run-p')).toBe(2);
    // Its commit stored: the close stands, and the id is free.
    await store.appendCommits([closingCommit('run-p', 3, 12, 'completed')]);
    expect(await store.getRun('run-p')).toMatchObject({ status: 'completed', lastSeq: 3 });
    expect(await store.claimWorkflowId('wp', 'run-q', 'allowAfterClose')).toEqual({ claimed: true, gen: 2 });
  });

  it('a close written beside a commit another writer beat is replaced, by an open state at its seq or by its token', async () => {
    const store = await makeStore(new ManualClock());
    // Another router stored seq 3, leaving the run open: the close is no close, and gives way to that state.
    const open3 = statesOf('run-o', 'wo', ['add', 'next'])[2] as RunState;
    const closed3 = statesOf('run-o', 'wo', ['next', 'finish'])[2] as RunState;
    expect([open3.status, open3.lastSeq, closed3.status, closed3.lastSeq]).toEqual(['running', 3, 'completed', 3]);
    await store.saveRun(closed3, { closeToken: 'close-o' });
    await store.appendChain([commit('run-o', 1, 10), commit('run-o', 2, 10), commit('run-o', 3, 10)]);
    expect(await store.getRun('run-o')).toBeUndefined();
    await store.saveRun(open3);
    expect(await store.getRun('run-o')).toMatchObject({ status: 'running', lastSeq: 3 });

    // Another closed it differently at that seq: the writer takes its own close back by its token.
    const other = statesOf('run-t', 'wt', ['next', 'finish'])[2] as RunState;
    await store.saveRun(other, { closeToken: 'close-t' });
    await store.appendCommits([closingCommit('run-t', 3, 10, 'cancelled')]);
    expect(await store.getRun('run-t')).toBeUndefined();
    const truth = { ...other, status: 'cancelled' as const };
    await store.saveRun(truth, { replacesClose: 'someone-else' });
    expect(await store.getRun('run-t')).toBeUndefined();
    await store.saveRun(truth, { replacesClose: 'close-t' });
    expect(await store.getRun('run-t')).toMatchObject({ status: 'cancelled', lastSeq: 3 });
    // Once taken back, the token replaces nothing: a later write stands.
    await store.saveRun({ ...truth, status: 'failed' }, { replacesClose: 'close-t' });
    expect(await store.getRun('run-t')).toMatchObject({ status: 'cancelled' });
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
