import { afterEach, describe, expect, it } from 'vitest';
import { assign, createMachine } from 'xstate';
import { decide, defineWorkflow, foldCommits } from '../../../shared/engine/index.js';
import type { DecisionInput, RunState } from '../../../shared/engine/types.js';
import { ConflictError, InvalidInputError, PayloadTooLargeError } from '../../../shared/errors.js';
import { collectionNames } from '../../../shared/names.js';
import type { IdReusePolicy, StoredCommit } from '../../../shared/store/index.js';
import { connectMongo } from '../../harness/index.js';
import { freshStore, newRunId, rejection, sampleCommit, sampleState, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

describe('store: run summaries', () => {
  it('saves and reads a run: plain summary fields plus the exact RunState', async () => {
    t = await freshStore();
    const runId = newRunId();
    const state = sampleState(runId, {
      status: 'completed',
      lastSeq: 3,
      closedAt: 1_700_000_000_900,
      output: { total: 42, 'odd.key': true },
      mailbox: [{ type: 'later', x: 1 }],
    });
    await t.store.saveRun(state, { startMsgId: 'msg-1' });
    const rec = await t.store.getRun(runId);
    expect(rec).toMatchObject({
      runId,
      workflowId: state.workflowId,
      workflowType: 'sample',
      version: 1,
      status: 'completed',
      stateValue: { waiting: 'idle' },
      lastSeq: 3,
      closedAt: 1_700_000_000_900,
      output: { total: 42, 'odd.key': true },
      startMsgId: 'msg-1',
    });
    expect(rec?.state).toEqual(state);
    expect(await t.store.getRun('missing')).toBeUndefined();
  });

  it('never moves a summary backwards', async () => {
    t = await freshStore();
    const runId = newRunId();
    await t.store.saveRun(sampleState(runId, { lastSeq: 5, updatedAt: 5 }));
    await t.store.saveRun(sampleState(runId, { lastSeq: 3, updatedAt: 3 }));
    await t.store.saveRun(sampleState(runId, { lastSeq: 5, updatedAt: 99 }));
    await t.store.saveRun(sampleState(runId, { lastSeq: 1, updatedAt: 1 })); // a first summary, late
    expect((await t.store.getRun(runId))?.updatedAt).toBe(5);
    // Writes arriving in any order (one writer per run at a time, as routers do): the highest wins.
    const seqs = Array.from({ length: 30 }, (_, i) => i + 6).sort(() => Math.random() - 0.5);
    for (const s of seqs) await t.store.saveRun(sampleState(runId, { lastSeq: s, updatedAt: s }));
    expect((await t.store.getRun(runId))?.lastSeq).toBe(35);
    expect((await t.store.getRun(runId))?.state.updatedAt).toBe(35);
  });

  it('names the runs whose just-written summary has a newer commit in history', async () => {
    t = await freshStore();
    const [a, b] = [newRunId(), newRunId()];
    for (const seq of [1, 2, 3]) await t.store.appendCommit(sampleCommit(a, seq));
    await t.store.appendCommit(sampleCommit(b, 1));
    const single = await t.store.saveRun(sampleState(a, { lastSeq: 2 }));
    const batch = await t.store.saveRuns([sampleState(b, { lastSeq: 1 }), sampleState(a, { lastSeq: 3 })]);
    // Only a server without atomic conditional writes (FerretDB 1.x) needs the check; MongoDB
    // never lets an older state land over a newer one and always answers "nothing behind".
    const ferret = (await t.client.db(t.dbName).admin().command({ buildInfo: 1 })).ferretdbVersion !== undefined;
    expect(single.maybeBehind).toEqual(ferret ? [a] : []);
    expect(batch.maybeBehind).toEqual([]);
  });

  it('saveRuns writes a batch, skipping stale entries without losing the ones after them', async () => {
    t = await freshStore();
    const [a, b, c, d] = [newRunId(), newRunId(), newRunId(), newRunId()];
    await t.store.saveRun(sampleState(a, { lastSeq: 10 }));
    await t.store.saveRun(sampleState(c, { lastSeq: 2 }));
    await t.store.saveRuns([
      sampleState(a, { lastSeq: 4 }), // stale: must not win, must not stop the rest
      sampleState(b, { lastSeq: 1 }),
      sampleState(c, { lastSeq: 3 }),
      sampleState(d, { lastSeq: 1 }),
      sampleState(d, { lastSeq: 2 }), // same run twice: the newest counts
    ]);
    expect((await t.store.getRun(a))?.lastSeq).toBe(10);
    expect((await t.store.getRun(b))?.lastSeq).toBe(1);
    expect((await t.store.getRun(c))?.lastSeq).toBe(3);
    expect((await t.store.getRun(d))?.lastSeq).toBe(2);
    await t.store.saveRuns([]);
  });

  it('saveRuns of closing states: one insert for those without a summary, an update for the one that has one', async () => {
    const inserts: number[] = [];
    const client = await connectMongo(undefined, { monitorCommands: true });
    client.on('commandStarted', (e) => {
      if (e.commandName === 'insert' && (e.command as { insert?: string }).insert?.endsWith('_runs')) {
        inserts.push((e.command as { documents: unknown[] }).documents.length);
      }
    });
    t = await freshStore({}, client);
    const [a, b, c] = [newRunId(), newRunId(), newRunId()];
    await t.store.saveRun(sampleState(b, { lastSeq: 2 })); // b has an open summary already
    inserts.length = 0;
    const closing = (runId: string) => sampleState(runId, { status: 'completed', lastSeq: 3, closedAt: 1 });
    await t.store.saveRuns([closing(a), closing(b), closing(c)]);
    for (const runId of [a, b, c]) {
      expect(await t.store.getRun(runId)).toMatchObject({ status: 'completed', lastSeq: 3 });
    }
    // On FerretDB (conditional writes by `_id` only) the three go in one insert; MongoDB upserts them in one bulk.
    if (inserts.length > 0) expect(inserts).toEqual([3]);
  });

  it('refuses an oversize run state', async () => {
    t = await freshStore({ maxPayloadBytes: 2_000 });
    const runId = newRunId();
    const err = await rejection(
      t.store.saveRun(sampleState(runId, { snapshot: { value: 'x', blob: 'y'.repeat(5_000) } })),
    );
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((err as Error).message).toContain(runId);
    expect(await t.store.getRun(runId)).toBeUndefined();
  });

  it('lists runs newest first with filters and stable cursor paging', async () => {
    t = await freshStore();
    const states: RunState[] = [];
    for (let i = 0; i < 25; i++) {
      states.push(
        sampleState(`run-${String(i).padStart(2, '0')}`, {
          startedAt: 1000 + Math.floor(i / 3), // ties on startedAt, broken by runId
          status: i % 5 === 0 ? 'completed' : 'running',
          workflowType: i % 2 === 0 ? 'even' : 'odd',
        }),
      );
    }
    await t.store.saveRuns(states);
    const expectedOrder = [...states]
      .sort((x, y) => y.startedAt - x.startedAt || (y.runId < x.runId ? -1 : 1))
      .map((s) => s.runId);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await t.store.listRuns({}, { limit: 7, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(7);
      seen.push(...page.items.map((r) => r.runId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(expectedOrder);

    const completed = await t.store.listRuns({ status: 'completed' });
    expect(completed.items.map((r) => r.runId)).toEqual(expectedOrder.filter((id) => Number(id.slice(4)) % 5 === 0));
    const mixed = await t.store.listRuns({ status: ['completed', 'failed'], workflowType: 'even' });
    expect(mixed.items.every((r) => r.status === 'completed' && r.workflowType === 'even')).toBe(true);
    expect(mixed.items).toHaveLength(3); // 0, 10, 20
    const window = await t.store.listRuns({ startedFrom: 1002, startedTo: 1004 });
    expect(window.items.map((r) => r.startedAt)).toEqual([1003, 1003, 1003, 1002, 1002, 1002]);
    expect(window.nextCursor).toBeUndefined();
    expect(await rejection(t.store.listRuns({}, { cursor: 'garbage' }))).toBeInstanceOf(InvalidInputError);
  });
});

/** The closing summary of `runId`, a run of `workflowId`. */
function closed(workflowId: string, runId: string, status: 'completed' | 'failed'): RunState {
  return sampleState(runId, { workflowId, status, lastSeq: 2, closedAt: 1_700_000_000_500 });
}

describe('store: workflowId claims', () => {
  const policies: IdReusePolicy[] = ['returnExisting', 'rejectWhileOpen', 'allowAfterClose', 'rejectDuplicate'];

  for (const policy of policies) {
    it(`${policy}: an open id stays with its run; a repeated claim by the same run is idempotent`, async () => {
      t = await freshStore();
      expect(await t.store.claimWorkflowId('order-1', 'run-a', policy)).toEqual({ claimed: true, gen: 1 });
      expect(await t.store.claimWorkflowId('order-1', 'run-a', policy)).toEqual({ claimed: true, gen: 1 });
      expect(await t.store.claimWorkflowId('order-1', 'run-b', policy)).toEqual({
        claimed: false,
        runId: 'run-a',
        status: 'running',
      });
      // A run that does not hold the id closing changes nothing.
      await t.store.saveRun(closed('order-1', 'run-b', 'completed'));
      expect(await t.store.claimWorkflowId('order-1', 'run-c', policy)).toMatchObject({
        claimed: false,
        runId: 'run-a',
      });

      await t.store.saveRun(closed('order-1', 'run-a', 'failed'));
      const after = await t.store.claimWorkflowId('order-1', 'run-d', policy);
      if (policy === 'rejectDuplicate') {
        expect(after).toEqual({ claimed: false, runId: 'run-a', status: 'failed' });
      } else {
        expect(after).toEqual({ claimed: true, gen: 2 });
        expect(await t.store.claimWorkflowId('order-1', 'run-e', policy)).toMatchObject({
          claimed: false,
          runId: 'run-d',
        });
      }
      // A redelivered start of the closed run does not reopen it.
      if (policy !== 'rejectDuplicate') {
        expect(await t.store.claimWorkflowId('order-1', 'run-a', policy)).toMatchObject({
          claimed: false,
          runId: 'run-d',
        });
        // The second generation's run closes in turn, and the id is free again.
        await t.store.saveRun(closed('order-1', 'run-d', 'completed'));
        expect(await t.store.claimWorkflowId('order-1', 'run-f', policy)).toEqual({ claimed: true, gen: 3 });
      }
    });
  }

  it('claims of many starts in one batch: new ids in one insert; a duplicate among them takes the per-id path', async () => {
    t = await freshStore();
    await t.store.claimWorkflowId('held', 'run-held', 'returnExisting'); // open: no summary yet
    await t.store.claimWorkflowId('reused', 'run-old', 'returnExisting');
    await t.store.saveRun(closed('reused', 'run-old', 'completed'));
    const claims = [
      { workflowId: 'new-1', runId: 'run-1', policy: 'returnExisting', startMsgId: 'm-1' },
      { workflowId: 'held', runId: 'run-2', policy: 'rejectWhileOpen' },
      { workflowId: 'new-2', runId: 'run-3', policy: 'returnExisting' },
      { workflowId: 'new-1', runId: 'run-4', policy: 'returnExisting' }, // the same id twice in one batch
      { workflowId: 'reused', runId: 'run-5', policy: 'allowAfterClose' },
      { workflowId: 'held', runId: 'run-held', policy: 'returnExisting' }, // the holder's own start again
    ] as const;
    expect(await t.store.claimWorkflowIds(claims)).toEqual([
      { claimed: true, gen: 1 },
      { claimed: false, runId: 'run-held', status: 'running' },
      { claimed: true, gen: 1 },
      { claimed: false, runId: 'run-1', status: 'running' },
      { claimed: true, gen: 2 },
      { claimed: true, gen: 1 },
    ]);
    expect(await t.store.workflowIdHolder('new-1')).toEqual({ runId: 'run-1', gen: 1, startMsgId: 'm-1' });
    expect(await t.store.workflowIdHolder('reused')).toEqual({ runId: 'run-5', gen: 2 });
    expect(await t.store.claimWorkflowIds([])).toEqual([]);
  });

  it('ten runs racing for one id: exactly one holds it', async () => {
    t = await freshStore();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => t.store.claimWorkflowId('hot', `run-${i}`, 'returnExisting')),
    );
    const winners = results.flatMap((r, i) => (r.claimed ? [`run-${i}`] : []));
    expect(winners).toHaveLength(1);
    for (const r of results) if (!r.claimed) expect(r.runId).toBe(winners[0]);
    // And racing to reuse it once it is closed: still exactly one.
    await t.store.saveRun(closed('hot', winners[0] ?? '', 'completed'));
    const again = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => t.store.claimWorkflowId('hot', `next-${i}`, 'returnExisting')),
    );
    const claimed = again.filter((r) => r.status === 'fulfilled' && r.value.claimed);
    expect(claimed).toHaveLength(1);
    for (const r of again) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
  });

  it("an id is reusable once its run's summary says closed, and not before", async () => {
    t = await freshStore();
    await t.store.claimWorkflowId('w', 'run-old', 'returnExisting');
    await t.store.saveRun(sampleState('run-old', { workflowId: 'w' }));
    expect(await t.store.claimWorkflowId('w', 'run-new', 'allowAfterClose')).toMatchObject({ claimed: false });
    await t.store.saveRun(sampleState('run-old', { workflowId: 'w', status: 'completed', lastSeq: 2 }));
    expect(await t.store.claimWorkflowId('w', 'run-new', 'returnExisting')).toEqual({ claimed: true, gen: 2 });
    expect((await t.store.getRunByWorkflowId('w'))?.runId).toBe('run-old'); // run-new has no summary yet
    await t.store.saveRun(sampleState('run-new', { workflowId: 'w', startedAt: 2_000_000_000_000 }));
    expect((await t.store.getRunByWorkflowId('w'))?.runId).toBe('run-new');
    expect(await t.store.getRunByWorkflowId('nobody')).toBeUndefined();
  });
});

describe('store: a close written beside its commit, across versions', () => {
  it('a summary left with a stale closeToken is confirmed by a closing commit from before `closes` existed', async () => {
    t = await freshStore();
    const runId = newRunId();
    const workflowId = `wf-${runId}`;
    await t.store.claimWorkflowId(workflowId, runId, 'returnExisting');
    for (const seq of [1, 2]) await t.store.appendCommit(sampleCommit(runId, seq));
    // A router of this version closes the run at seq 3 beside its commit, and loses the append...
    await t.store.saveRun(sampleState(runId, { status: 'completed', lastSeq: 3 }), { closeToken: 'close-new' });
    // ...to a router of an earlier version: its closing commit has no `closes` field, and its
    // summary ($set, after the commit) keeps the token of the close it replaces.
    await t.store.appendCommit({
      ...sampleCommit(runId, 3),
      events: [{ type: 'RunCancelled', at: 1_700_000_000_003, reason: 'by a test' }],
      commands: [],
    });
    const commits = t.client
      .db(t.dbName)
      .collection<{ _id: string; closes?: string }>(collectionNames(t.prefix).commits);
    await commits.updateOne({ _id: `${runId}:3` }, { $unset: { closes: '' } });
    expect((await commits.findOne({ _id: `${runId}:3` }))?.closes).toBeUndefined();
    await t.store.saveRun(sampleState(runId, { status: 'cancelled', lastSeq: 3 }));
    const runs = t.client.db(t.dbName).collection<{ _id: string; closeToken?: string }>(collectionNames(t.prefix).runs);
    expect((await runs.findOne({ _id: runId }))?.closeToken).toBe('close-new');

    // The commit's events confirm the close: the run reads closed, and its id is free again.
    expect(await t.store.getRun(runId)).toMatchObject({ status: 'cancelled', lastSeq: 3 });
    expect(await t.store.claimWorkflowId(workflowId, newRunId(), 'allowAfterClose')).toEqual({ claimed: true, gen: 2 });
  });
});

describe('store: repair after a crash between commit and summary', () => {
  const counter = defineWorkflow({
    name: 'counter',
    machine: createMachine({
      id: 'counter',
      types: {} as { context: { n: number }; events: { type: 'inc' } | { type: 'finish' } },
      context: { n: 0 },
      initial: 'counting',
      states: {
        counting: {
          on: {
            inc: { actions: assign({ n: ({ context }) => context.n + 1 }) },
            finish: 'done',
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => ({ total: context.n }),
    }),
  });

  it('rebuilds the summary from snapshot + tail with the engine replay, which frees the closed id', async () => {
    t = await freshStore();
    const runId = newRunId();
    const workflowId = `counter-${runId}`;
    const inputs: DecisionInput[] = [
      { kind: 'start', at: 1000, workflowId, runId },
      { kind: 'signal', at: 1001, event: { type: 'inc' } },
      { kind: 'signal', at: 1002, event: { type: 'inc' } },
      { kind: 'signal', at: 1003, event: { type: 'inc' } },
      { kind: 'signal', at: 1004, event: { type: 'finish' } },
    ];
    await t.store.claimWorkflowId(workflowId, runId, 'returnExisting');
    let state: RunState | undefined;
    for (const [i, input] of inputs.entries()) {
      const d = decide(counter, state, input);
      state = d.state;
      const commit: StoredCommit = {
        runId,
        workflowId,
        seq: d.state.lastSeq,
        at: input.at,
        events: d.events,
        commands: d.commands,
      };
      await t.store.appendCommit(commit);
      if (i < 2) await t.store.saveRun(d.state); // then the router "crashes" before every later summary
    }
    expect((await t.store.getRun(runId))?.lastSeq).toBe(2);

    const tails: number[][] = [];
    const repaired = await t.store.repairRun(runId, (from, tail) => {
      tails.push(tail.map((c) => c.seq));
      return foldCommits(counter, tail, from ? { from } : {});
    });
    expect(tails).toEqual([[3, 4, 5]]);
    expect(repaired).toEqual(state);
    expect(repaired?.status).toBe('completed');
    expect(repaired?.output).toEqual({ total: 3 });
    const rec = await t.store.getRun(runId);
    expect(rec?.lastSeq).toBe(5);
    expect(rec?.status).toBe('completed');
    expect(rec?.state).toEqual(state);
    // The closed run's id is free again.
    expect(await t.store.claimWorkflowId(workflowId, newRunId(), 'returnExisting')).toEqual({ claimed: true, gen: 2 });
    // Up to date: no rebuild.
    expect(await t.store.repairRun(runId, () => expect.fail('no rebuild needed'))).toEqual(state);
  });

  it('rebuilds a run that has history but no summary at all; undefined for an unknown run', async () => {
    t = await freshStore();
    const runId = newRunId();
    const d = decide(counter, undefined, { kind: 'start', at: 5, workflowId: 'w1', runId });
    await t.store.appendCommit({
      runId,
      workflowId: 'w1',
      seq: 1,
      at: 5,
      events: d.events,
      commands: d.commands,
    });
    const repaired = await t.store.repairRun(runId, (from, tail) => foldCommits(counter, tail, from ? { from } : {}));
    expect(repaired).toEqual(d.state);
    expect((await t.store.getRun(runId))?.status).toBe('running');
    expect(await t.store.repairRun('unknown', () => expect.fail('nothing to rebuild'))).toBeUndefined();
  });
});
