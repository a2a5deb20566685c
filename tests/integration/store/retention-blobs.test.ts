/**
 * The retention sweep removes a run's out-of-band chunks with its history (by the chunks' owner,
 * an indexed equality), never another run's; a sweep that dies at any point between its writes
 * leaves the run to the next sweep, which finishes it: nothing orphaned, nothing of a live run
 * removed. The crash points are those of RetentionSweeper.sweepRun, reached by a sweeper over the
 * same collections whose chunk removal fails (as a process killed there would stop).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { collectionNames } from '../../../shared/names.js';
import { defaultPayloadLimits } from '../../../shared/payload/blobs.js';
import type { CommitDoc, RunDoc } from '../../../shared/store/documents.js';
import { toTombstone } from '../../../shared/store/documents.js';
import { type BlobChunkDoc, mongoRunBlobs, StoredPayloads } from '../../../shared/store/payloads.js';
import { RetentionSweeper, type SweepCursorDoc } from '../../../shared/store/retention-sweeper.js';
import { collect, freshStore, sampleCommit, sampleState, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

const T0 = 1_700_000_000_000;
const MIN = 60_000;
/** Offload anything over 1 KiB, so small test payloads go out of band. */
const OFFLOAD = 1024;

/**
 * A run with large payloads in its start, a signal and its state; closed at `closedAt` when given,
 * its closing summary written as a router writes it, beside its closing commit (with a token).
 */
async function largeRun(runId: string, closedAt?: number): Promise<string> {
  const payload = randomBytes(4 * OFFLOAD).toString('hex');
  await t.store.claimWorkflowId(`wf-${runId}`, runId, 'allowAfterClose');
  await t.store.appendCommit(sampleCommit(runId, 1, { payload }));
  const second = sampleCommit(runId, 2, { payload });
  if (closedAt !== undefined) second.events.push({ type: 'RunCompleted', at: closedAt, output: { payload } });
  await t.store.appendCommit(second);
  const big = { status: 'active' as const, value: 'waiting', context: { payload } };
  // Two summaries: the first one's state chunks are left unreferenced by the second.
  await t.store.saveRun(sampleState(runId, { lastSeq: 1, snapshot: big }));
  await t.store.saveRun(
    sampleState(runId, {
      lastSeq: 2,
      snapshot: big,
      ...(closedAt === undefined ? {} : { status: 'completed', closedAt, output: { payload } }),
    }),
    closedAt === undefined ? {} : { closeToken: `close-${runId}` },
  );
  return payload;
}

function collections() {
  const names = collectionNames(t.prefix);
  const db = t.client.db(t.dbName);
  return {
    runs: db.collection<RunDoc>(names.runs),
    commits: db.collection<CommitDoc>(names.commits),
    blobs: db.collection<BlobChunkDoc>(names.blobs),
    sweeps: db.collection<SweepCursorDoc>(names.sweeps),
  };
}

async function chunksOf(runId: string): Promise<number> {
  return collections().blobs.countDocuments({ runId });
}

describe('store: retention sweeps remove large payloads', () => {
  it("removes a swept run's chunks, keeps a live run's and a fresh closed run's", async () => {
    let now = T0;
    t = await freshStore({ now: () => now, retentionMs: 30 * MIN, offloadPayloadBytes: OFFLOAD });
    await largeRun('run-old', T0);
    const livePayload = await largeRun('run-live');
    await largeRun('run-fresh', T0 + 20 * MIN);
    // Its start and signal commits and two states: every run owns four chunks.
    for (const runId of ['run-old', 'run-live', 'run-fresh']) expect(await chunksOf(runId)).toBe(4);
    const before = { live: await chunksOf('run-live'), fresh: await chunksOf('run-fresh') };

    now = T0 + 40 * MIN;
    expect((await t.store.sweepExpiredRuns()).runIds).toEqual(['run-old']);
    expect(await chunksOf('run-old')).toBe(0);
    expect(await collect(t.store.loadHistory('run-old'))).toEqual([]);
    expect({ live: await chunksOf('run-live'), fresh: await chunksOf('run-fresh') }).toEqual(before);
    // The live run still reads whole, from its history and its summary.
    const live = await collect(t.store.loadHistory('run-live'));
    expect(live.map((c) => c.events[0])).toMatchObject([{ input: livePayload }, { signal: { payload: livePayload } }]);
    expect((await t.store.getRun('run-live'))?.state.snapshot).toMatchObject({ context: { payload: livePayload } });
  });

  const crashPoints = [
    'before its tombstone',
    'before removing commits',
    'before removing chunks',
    'after removing chunks',
  ] as const;
  for (const crashPoint of crashPoints) {
    it(`a sweep that dies ${crashPoint} is finished by the next: nothing orphaned, nothing dangling`, async () => {
      let now = T0;
      t = await freshStore({ now: () => now, retentionMs: 5 * MIN, offloadPayloadBytes: OFFLOAD });
      await largeRun('run-a', T0);
      await largeRun('run-live');
      const chunks = { a: await chunksOf('run-a'), live: await chunksOf('run-live') };
      now = T0 + 10 * MIN;

      const c = collections();
      const payloads = new StoredPayloads(mongoRunBlobs(c.blobs), defaultPayloadLimits());
      const killed = (runId: string) => new Error(`sweeper killed ${crashPoint} of ${runId}`);
      // The commits collection, failing its deleteMany at that crash point.
      const commits = new Proxy(c.commits, {
        get(target, prop) {
          if (prop === 'deleteMany' && crashPoint === 'before removing commits') {
            return async () => {
              throw killed('run-a');
            };
          }
          const v: unknown = Reflect.get(target, prop, target);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      });
      const dying = new RetentionSweeper(
        c.runs,
        commits,
        {
          commit: (d) => payloads.commit(d),
          stateToSweep: async (d) => {
            if (crashPoint === 'before its tombstone') throw killed(d._id);
            return payloads.stateToSweep(d);
          },
          deleteRun: async (runId) => {
            if (crashPoint === 'after removing chunks') await payloads.deleteRun(runId);
            throw killed(runId);
          },
        },
        c.sweeps,
        () => now,
        (run) => toTombstone(run, now),
      );
      await expect(dying.sweep()).rejects.toThrow('sweeper killed');
      // Cut short: the tombstone comes first, then the commits go; what is left reads without error.
      const commitsGone = crashPoint === 'before removing chunks' || crashPoint === 'after removing chunks';
      expect((await collect(t.store.loadHistory('run-a'))).length).toBe(commitsGone ? 0 : 2);
      const left = await t.store.getRun('run-a');
      expect(left?.swept === undefined).toBe(crashPoint === 'before its tombstone');
      expect(await chunksOf('run-a')).toBe(crashPoint === 'after removing chunks' ? 0 : chunks.a);

      // The next sweep (another router, or this one restarted) finds the run again and finishes.
      expect((await t.store.sweepExpiredRuns()).runIds).toEqual(['run-a']);
      expect(await chunksOf('run-a')).toBe(0);
      expect(await t.store.getRun('run-a')).toMatchObject({ status: 'completed', swept: expect.any(Number) });
      const raw = await c.runs.findOne({ _id: 'run-a' });
      expect(raw).not.toHaveProperty('sweepBucket');
      expect(raw).not.toHaveProperty('expireAt');
      expect((await t.store.sweepExpiredRuns()).runIds).toEqual([]);
      // Every chunk left has a live owner, and the live run keeps all of its own.
      expect(await chunksOf('run-live')).toBe(chunks.live);
      const owners = (await c.blobs.find({}, { projection: { runId: 1 } }).toArray()).map((d) => d.runId);
      expect(new Set(owners)).toEqual(new Set(['run-live']));
    });
  }

  it('a summary written over a tombstone left in its bucket is swept again, chunks and all', async () => {
    let now = T0;
    t = await freshStore({ now: () => now, retentionMs: 5 * MIN, offloadPayloadBytes: OFFLOAD });
    const payload = await largeRun('run-a', T0);
    now = T0 + 10 * MIN;
    const c = collections();
    const payloads = new StoredPayloads(mongoRunBlobs(c.blobs), defaultPayloadLimits());
    const dying = new RetentionSweeper(
      c.runs,
      c.commits,
      {
        commit: (d) => payloads.commit(d),
        stateToSweep: (d) => payloads.stateToSweep(d),
        deleteRun: async () => {
          throw new Error('sweeper killed before removing chunks');
        },
      },
      c.sweeps,
      () => now,
      (run) => toTombstone(run, now),
    );
    await expect(dying.sweep()).rejects.toThrow('sweeper killed');
    // A late writer of the closed run's summary (a redelivery's) writes its state again.
    const closed = { status: 'completed' as const, closedAt: T0, lastSeq: 2 };
    await t.store.saveRun(sampleState('run-a', { ...closed, snapshot: { status: 'done', context: { payload } } }));

    expect((await t.store.sweepExpiredRuns()).runIds).toEqual(['run-a']);
    expect(await chunksOf('run-a')).toBe(0);
    expect(await t.store.getRun('run-a')).toMatchObject({ status: 'completed', swept: now });
    expect(await c.runs.findOne({ _id: 'run-a' })).not.toHaveProperty('sweepBucket');
  });

  it('sweeps a run whose state can no longer be read (its chunks gone), keeping its ids and status', async () => {
    let now = T0;
    t = await freshStore({ now: () => now, retentionMs: 5 * MIN, offloadPayloadBytes: OFFLOAD });
    await largeRun('run-a', T0);
    await largeRun('run-b', T0);
    // The chunks of run-a's state are lost (removed by hand, a restore from an older backup, …).
    await collections().blobs.deleteMany({ runId: 'run-a' });
    await expect(t.store.getRun('run-a')).rejects.toThrow(/lacks chunk|large payload/);
    now = T0 + 10 * MIN;

    // The sweep does not stop at it, and the run after it is swept as well.
    expect((await t.store.sweepExpiredRuns()).runIds.sort()).toEqual(['run-a', 'run-b']);
    expect(await t.store.getRun('run-a')).toMatchObject({
      runId: 'run-a',
      workflowId: 'wf-run-a',
      status: 'completed',
      closedAt: T0,
      swept: now,
    });
    expect(await chunksOf('run-b')).toBe(0);
    expect((await t.store.sweepExpiredRuns()).runIds).toEqual([]);
  });
});
