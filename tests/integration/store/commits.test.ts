import { Binary } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, CorruptHistoryError, PayloadTooLargeError } from '../../../shared/errors.js';
import { encodeEvents, encodePayload, HISTORY_FORMAT_VERSION } from '../../../shared/history/codec.js';
import { collectionNames } from '../../../shared/names.js';
import { collect, freshStore, newRunId, rejection, sampleCommit, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

describe('store: history commits', () => {
  it('appends and streams a history back in order, from any seq', async () => {
    t = await freshStore();
    const runId = newRunId();
    for (let seq = 1; seq <= 5; seq++) await t.store.appendCommit(sampleCommit(runId, seq, { payload: { seq } }));
    await t.store.appendCommit(sampleCommit(newRunId(), 1)); // another run, not mixed in
    const all = await collect(t.store.loadHistory(runId));
    expect(all.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(all[0]).toEqual(sampleCommit(runId, 1, { payload: { seq: 1 } }));
    expect((await collect(t.store.loadHistory(runId, 3))).map((c) => c.seq)).toEqual([4, 5]);
    expect(await t.store.lastSeq(runId)).toBe(5);
    expect(await t.store.lastSeq('no-such-run')).toBe(0);
    expect(await collect(t.store.loadHistory('no-such-run'))).toEqual([]);
  });

  it('refuses a second commit at the same seq with ConflictError, but accepts an identical retry', async () => {
    t = await freshStore();
    const runId = newRunId();
    const c1 = sampleCommit(runId, 1);
    await t.store.appendCommit(c1);
    await t.store.appendCommit(c1); // the same bytes again: a retry after a lost acknowledgement
    const err = await rejection(t.store.appendCommit(sampleCommit(runId, 1, { payload: 'other' })));
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).retryable).toBe(true);
    expect((err as Error).message).toContain(runId);
    expect(await collect(t.store.loadHistory(runId))).toHaveLength(1);
  });

  it('20 appenders racing on the same seq: exactly one wins, the rest get ConflictError', async () => {
    t = await freshStore();
    const runId = newRunId();
    await t.store.appendCommit(sampleCommit(runId, 1));
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => t.store.appendCommit(sampleCommit(runId, 2, { payload: `writer-${i}` }))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(losers).toHaveLength(19);
    for (const l of losers) expect(l.reason).toBeInstanceOf(ConflictError);
    expect((await collect(t.store.loadHistory(runId))).map((c) => c.seq)).toEqual([1, 2]);
  });

  it('20 writers each reload-and-retry until they appended 5 commits: no gap, no duplicate', async () => {
    t = await freshStore();
    const runId = newRunId();
    await t.store.appendCommit(sampleCommit(runId, 1));
    let conflicts = 0;
    const writer = async (w: number): Promise<void> => {
      for (let done = 0; done < 5; ) {
        const seq = (await t.store.lastSeq(runId)) + 1;
        try {
          await t.store.appendCommit(sampleCommit(runId, seq, { payload: { w, done } }));
          done++;
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          conflicts++;
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, w) => writer(w)));
    const history = await collect(t.store.loadHistory(runId));
    expect(history.map((c) => c.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    const perWriter = new Map<number, number>();
    for (const c of history.slice(1)) {
      const w = (c.events[0] as unknown as { signal: { payload: { w: number } } }).signal.payload.w;
      perWriter.set(w, (perWriter.get(w) ?? 0) + 1);
    }
    expect([...perWriter.values()]).toEqual(Array.from({ length: 20 }, () => 5));
    expect(conflicts).toBeGreaterThan(0);
  });

  it('appendCommits stores a batch across runs and reports each conflict in place', async () => {
    t = await freshStore();
    const [a, b, c] = [newRunId(), newRunId(), newRunId()];
    await t.store.appendCommit(sampleCommit(b, 1));
    const batch = [sampleCommit(a, 1), sampleCommit(b, 1, { payload: 'late' }), sampleCommit(c, 1), sampleCommit(a, 2)];
    const outcomes = await t.store.appendCommits(batch);
    expect(outcomes[0]).toBeUndefined();
    expect(outcomes[1]).toBeInstanceOf(ConflictError);
    expect(outcomes[2]).toBeUndefined();
    expect(outcomes[3]).toBeUndefined();
    expect(await t.store.lastSeq(a)).toBe(2);
    expect(await t.store.lastSeq(c)).toBe(1);
    // Re-sending the same batch (lost acknowledgement) writes nothing twice and reports no new conflicts.
    const again = await t.store.appendCommits(batch);
    expect(again.map((o) => o === undefined)).toEqual([true, false, true, true]);
    expect(await t.store.appendCommits([])).toEqual([]);
  });

  it('streams a long history (2,500 commits, several cursor batches)', async () => {
    t = await freshStore();
    const runId = newRunId();
    const cs = Array.from({ length: 2500 }, (_, i) => sampleCommit(runId, i + 1));
    for (let i = 0; i < cs.length; i += 500) await t.store.appendCommits(cs.slice(i, i + 500));
    let expected = 1;
    for await (const c of t.store.loadHistory(runId)) expect(c.seq).toBe(expected++);
    expect(expected).toBe(2501);
  });

  it("reads exactly one run's commits, in order, from any seq, among many runs' interleaved commits", async () => {
    t = await freshStore();
    const runs = Array.from({ length: 40 }, () => newRunId());
    const lengths = runs.map((_, i) => 1 + (i % 10)); // 1..10 commits each
    for (let seq = 1; seq <= 10; seq++) {
      const round = runs.filter((_, i) => (lengths[i] ?? 0) >= seq).map((r) => sampleCommit(r, seq, { payload: r }));
      expect(await t.store.appendCommits(round)).toEqual(round.map(() => undefined));
    }
    for (const [i, runId] of runs.entries()) {
      const n = lengths[i] ?? 0;
      for (const from of [0, 1, 3, 4, 5, n - 1, n, n + 3]) {
        const got = await collect(t.store.loadHistory(runId, from));
        const want = Array.from({ length: Math.max(0, n - from) }, (_, k) => from + k + 1);
        expect(got.map((c) => c.seq)).toEqual(want);
        for (const c of got) expect(c).toEqual(sampleCommit(runId, c.seq, { payload: runId }));
      }
    }
  });

  describe('bad data fails loudly, naming the run and seq', () => {
    const rawCommit = (runId: string, seq: number, events: Uint8Array) => ({
      _id: `${runId}:${seq}`,
      runId,
      workflowId: `wf-${runId}`,
      seq,
      at: seq,
      events: new Binary(events),
      commands: new Binary(encodePayload([])),
    });

    it('an event of unknown type', async () => {
      t = await freshStore();
      const runId = newRunId();
      await t.store.appendCommit(sampleCommit(runId, 1));
      const raw = t.client.db(t.dbName).collection<{ _id: string }>(collectionNames(t.prefix).commits);
      await raw.insertOne(rawCommit(runId, 2, encodePayload([{ type: 'WarpDriveEngaged', at: 2 }])));
      const err = await rejection(collect(t.store.loadHistory(runId)));
      expect(err).toBeInstanceOf(CorruptHistoryError);
      expect((err as Error).message).toMatch(new RegExp(`run ${runId} commit seq 2.*WarpDriveEngaged`));
    });

    it('a future encoding version', async () => {
      t = await freshStore();
      const runId = newRunId();
      const bytes = encodeEvents(sampleCommit(runId, 1).events);
      bytes[0] = HISTORY_FORMAT_VERSION + 1;
      await t.client
        .db(t.dbName)
        .collection<{ _id: string }>(collectionNames(t.prefix).commits)
        .insertOne(rawCommit(runId, 1, bytes));
      const err = await rejection(collect(t.store.loadHistory(runId)));
      expect(err).toBeInstanceOf(CorruptHistoryError);
      expect((err as Error).message).toMatch(new RegExp(`run ${runId} commit seq 1.*format version`));
      expect((err as CorruptHistoryError).details).toMatchObject({ runId, seq: 1 });
    });

    it('a gap past the first few commits of a tail', async () => {
      t = await freshStore();
      const runId = newRunId();
      for (const seq of [1, 2, 3, 4, 5, 6, 7, 8, 10]) await t.store.appendCommit(sampleCommit(runId, seq));
      // The first commits past fromSeq are read by _id, the rest by one range query, which checks.
      const err = await rejection(collect(t.store.loadHistory(runId, 1)));
      expect(err).toBeInstanceOf(CorruptHistoryError);
      expect((err as Error).message).toMatch(/gap: commit seq 10 follows 8/);
    });

    it('a gap in the sequence', async () => {
      t = await freshStore();
      const runId = newRunId();
      await t.store.appendCommit(sampleCommit(runId, 1));
      await t.store.appendCommit(sampleCommit(runId, 3));
      const err = await rejection(collect(t.store.loadHistory(runId)));
      expect(err).toBeInstanceOf(CorruptHistoryError);
      expect((err as Error).message).toMatch(/gap: commit seq 3 follows 1/);
    });
  });

  it('refuses an oversize commit before writing anything', async () => {
    t = await freshStore({ maxPayloadBytes: 10_000 });
    const runId = newRunId();
    const big = 'x'.repeat(20_000);
    const err = await rejection(t.store.appendCommit(sampleCommit(runId, 1, { payload: big })));
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((err as PayloadTooLargeError).code).toBe('PAYLOAD_TOO_LARGE');
    expect((err as Error).message).toMatch(
      new RegExp(`commit seq 1 of run ${runId} encodes to 19\\.\\d KiB.*limit is 9\\.8 KiB`),
    );
    // A batch with one oversize commit writes none of it.
    const other = newRunId();
    const batchErr = await rejection(
      t.store.appendCommits([sampleCommit(other, 1), sampleCommit(runId, 1, { payload: big })]),
    );
    expect(batchErr).toBeInstanceOf(PayloadTooLargeError);
    expect(await t.store.lastSeq(runId)).toBe(0);
    expect(await t.store.lastSeq(other)).toBe(0);
    for (const role of ['commits', 'outbox'] as const) {
      expect(
        await t.client.db(t.dbName).collection<{ _id: string }>(collectionNames(t.prefix)[role]).countDocuments(),
      ).toBe(0);
    }
  });
});
