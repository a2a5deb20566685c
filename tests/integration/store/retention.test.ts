/**
 * The retention sweeper on the harness's store, with an injected clock: a closed run past its
 * retention loses its commits and its summary becomes a tombstone (its workflowId free again),
 * while an open run and a closed run still within its retention keep everything; a sweep reads
 * buckets, not runs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { collectionNames } from '../../../shared/names.js';
import { SWEEP_BUCKET_MS } from '../../../shared/store/retention.js';
import { collect, freshStore, sampleCommit, sampleState, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

const T0 = 1_700_000_000_000;
const MIN = 60_000;

describe('store: retention sweeps', () => {
  it('sweeps a closed run past retention; keeps an open run and a fresh closed run', async () => {
    let now = T0;
    t = await freshStore({ now: () => now, retentionMs: 30 * MIN });
    const runs = { old: 'run-old', open: 'run-open', fresh: 'run-fresh', short: 'run-short' };
    for (const runId of Object.values(runs)) {
      await t.store.claimWorkflowId(`wf-${runId}`, runId, 'allowAfterClose');
      for (let seq = 1; seq <= 3; seq++) await t.store.appendCommit(sampleCommit(runId, seq));
    }
    const closedAt = (at: number) => ({ status: 'completed' as const, lastSeq: 3, closedAt: at, output: { big: 'x' } });
    await t.store.saveRun(sampleState(runs.old, { ...closedAt(T0), memo: { note: 'kept until swept' } }));
    await t.store.saveRun(sampleState(runs.open, { lastSeq: 3 }));
    await t.store.saveRun(sampleState(runs.fresh, closedAt(T0 + 20 * MIN)));
    // A start's own retention wins over the store's default.
    await t.store.saveRun(sampleState(runs.short, { ...closedAt(T0), retentionMs: 5 * MIN }));
    expect(await t.store.getRun(runs.old)).toMatchObject({ status: 'completed', output: { big: 'x' } });

    now = T0 + 10 * MIN; // only the short run has expired
    expect((await t.store.sweepExpiredRuns()).swept).toBe(1);
    expect(await collect(t.store.loadHistory(runs.short))).toEqual([]);
    expect(await collect(t.store.loadHistory(runs.old))).toHaveLength(3);

    now = T0 + 40 * MIN; // old expired 10 minutes ago; fresh expires in 10
    const report = await t.store.sweepExpiredRuns();
    expect(report.swept).toBe(1);
    // Buckets, not runs: one per minute since the last sweep (30), however many runs are stored.
    expect(report.buckets).toBe((30 * MIN) / SWEEP_BUCKET_MS + 1);
    expect(await collect(t.store.loadHistory(runs.old))).toEqual([]);
    const tomb = await t.store.getRun(runs.old);
    expect(tomb).toMatchObject({ runId: runs.old, workflowId: `wf-${runs.old}`, status: 'completed', swept: now });
    expect(tomb?.output).toBeUndefined();
    expect(tomb?.memo).toBeUndefined();
    expect(tomb?.state.snapshot).toBeUndefined();
    // The id is free again: the tombstone says its holder closed.
    expect(await t.store.claimWorkflowId(`wf-${runs.old}`, 'run-next', 'allowAfterClose')).toMatchObject({
      claimed: true,
      gen: 2,
    });

    for (const kept of [runs.open, runs.fresh]) {
      expect(await collect(t.store.loadHistory(kept))).toHaveLength(3);
      expect((await t.store.getRun(kept))?.swept).toBeUndefined();
    }
    expect(await t.store.getRun(runs.fresh)).toMatchObject({ output: { big: 'x' } });

    // Swept once: the tombstone has no bucket, so the next sweep reads only the current minute.
    expect(await t.store.sweepExpiredRuns()).toEqual({ swept: 0, buckets: 1, runIds: [] });
    const raw = await t.client
      .db(t.dbName)
      .collection(collectionNames(t.prefix).runs)
      .findOne({ _id: runs.old as unknown as never });
    expect(raw).not.toHaveProperty('sweepBucket');
    expect(raw).not.toHaveProperty('memo');
  });
});
