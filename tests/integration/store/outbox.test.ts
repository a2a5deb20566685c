/**
 * The outbox collection: an entry per commit whose commands may not be out yet, written before
 * the commit and deleted when it is marked published; findUnpublished reads commits through it.
 */
import type { Collection } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../../../shared/errors.js';
import { collectionNames } from '../../../shared/names.js';
import { OUTBOX_ORPHAN_HORIZON_MS } from '../../../shared/store/commits.js';
import { commitId, type OutboxDoc } from '../../../shared/store/documents.js';
import { createMongoStore } from '../../../shared/store/index.js';
import { connectMongo } from '../../harness/index.js';
import { collect, freshStore, newRunId, rejection, sampleCommit, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

/** A store whose clock the test moves. */
async function clockedStore(): Promise<{ clock: { now: number }; outbox: Collection<OutboxDoc> }> {
  const clock = { now: 1_000_000 };
  t = await freshStore({ now: () => clock.now });
  return { clock, outbox: t.client.db(t.dbName).collection<OutboxDoc>(collectionNames(t.prefix).outbox) };
}

const entries = async (outbox: Collection<OutboxDoc>): Promise<[string, number, number][]> =>
  (await outbox.find({}, { sort: { at: 1, runId: 1, seq: 1 } }).toArray()).map((e) => [e.runId, e.seq, e.at]);

describe('store: the outbox', () => {
  it('every append writes an entry stamped with the store clock; commits carry no published flag', async () => {
    const { clock, outbox } = await clockedStore();
    const [a, b] = [newRunId(), newRunId()].sort();
    await t.store.appendCommit(sampleCommit(a as string, 1, { at: 5 }));
    clock.now = 2_000_000;
    expect(await t.store.appendCommits([sampleCommit(a as string, 2), sampleCommit(b as string, 1)])).toEqual([
      undefined,
      undefined,
    ]);
    expect(await entries(outbox)).toEqual([
      [a, 1, 1_000_000],
      [a, 2, 2_000_000],
      [b, 1, 2_000_000],
    ]);
    expect(await outbox.findOne({ _id: commitId(a as string, 2) })).toEqual({
      _id: commitId(a as string, 2),
      runId: a,
      seq: 2,
      at: 2_000_000,
    });
    const raw = await t.client
      .db(t.dbName)
      .collection<{ _id: string }>(collectionNames(t.prefix).commits)
      .findOne({ _id: commitId(a as string, 1) });
    expect(raw).not.toHaveProperty('published');
  });

  it('marking deletes exactly the named entries; repeats, unknown seqs and empty lists are harmless', async () => {
    const { outbox } = await clockedStore();
    const [a, b] = [newRunId(), newRunId()].sort() as [string, string];
    for (let seq = 1; seq <= 3; seq++) await t.store.appendCommits([sampleCommit(a, seq), sampleCommit(b, seq)]);
    await t.store.markPublished(a, [2, 2, 3, 99]);
    await t.store.markPublished(a, [3]);
    await t.store.markPublished(a, []);
    await t.store.markPublishedMany([
      { runId: b, seq: 2 },
      { runId: 'no-such-run', seq: 1 },
    ]);
    await t.store.markPublishedMany([]);
    expect((await entries(outbox)).map(([r, s]) => [r, s])).toEqual([
      [a, 1],
      [b, 1],
      [b, 3],
    ]);
    // The history itself is untouched.
    expect((await collect(t.store.loadHistory(a))).map((c) => c.seq)).toEqual([1, 2, 3]);
  });

  it('marks more than one delete holds (2,500 commits of 500 runs)', async () => {
    const { outbox } = await clockedStore();
    const runs = Array.from({ length: 500 }, () => newRunId());
    const all = runs.flatMap((r) => [1, 2, 3, 4, 5].map((seq) => sampleCommit(r, seq)));
    for (let i = 0; i < all.length; i += 500) await t.store.appendCommits(all.slice(i, i + 500));
    expect(await outbox.countDocuments()).toBe(2500);
    await t.store.markPublishedMany(all.slice(0, 2499).map((c) => ({ runId: c.runId, seq: c.seq })));
    expect((await entries(outbox)).map(([r, s]) => [r, s])).toEqual([[all[2499]?.runId, 5]]);
  });

  it('findUnpublished: commits with entries older than the cut, oldest entry first, up to the limit, after a crash', async () => {
    const { clock } = await clockedStore();
    const [a, b] = [newRunId(), newRunId()].sort() as [string, string];
    const at = async (now: number, c: ReturnType<typeof sampleCommit>): Promise<void> => {
      clock.now = now;
      await t.store.appendCommit(c);
    };
    await at(300, sampleCommit(a, 1));
    await at(100, sampleCommit(b, 1));
    await at(400, sampleCommit(a, 2));
    await at(200, sampleCommit(b, 2));
    await at(250, sampleCommit(b, 3));
    await t.store.markPublished(b, [3]); // published: no longer found
    await at(10_000, sampleCommit(a, 3)); // too recent for the cut
    clock.now = 5_000;
    await t.store.appendCommits([sampleCommit(b, 4), sampleCommit(a, 4)]); // one stamp: ordered by runId

    // "Crash": a new client and store over the same database.
    const client2 = await connectMongo();
    const store2 = createMongoStore(client2, { dbName: t.dbName, collectionPrefix: t.prefix, now: () => clock.now });
    const found = await store2.findUnpublished({ olderThan: 6_000, limit: 10 });
    expect(found.map((c) => [c.runId, c.seq])).toEqual([
      [b, 1],
      [b, 2],
      [a, 1],
      [a, 2],
      [a, 4],
      [b, 4],
    ]);
    expect(found[0]).toEqual(sampleCommit(b, 1));
    expect((await store2.findUnpublished({ olderThan: 6_000, limit: 2 })).map((c) => [c.runId, c.seq])).toEqual([
      [b, 1],
      [b, 2],
    ]);
    expect(await store2.findUnpublished({ olderThan: 100, limit: 10 })).toEqual([]);
    await store2.markPublished(b, [1, 2]);
    expect((await store2.findUnpublished({ olderThan: 1_000, limit: 10 })).map((c) => [c.runId, c.seq])).toEqual([
      [a, 1],
      [a, 2],
    ]);
    await client2.close();
  });

  it('a retried identical append counts as success and keeps its one entry, with its first stamp', async () => {
    const { clock, outbox } = await clockedStore();
    const runId = newRunId();
    const c = sampleCommit(runId, 1);
    await t.store.appendCommit(c);
    clock.now += 1_000;
    await t.store.appendCommit(c);
    expect(await t.store.appendCommits([c, sampleCommit(runId, 2)])).toEqual([undefined, undefined]);
    expect(await entries(outbox)).toEqual([
      [runId, 1, 1_000_000],
      [runId, 2, 1_001_000],
    ]);
  });

  it('an append that conflicts never removes the entry of the commit holding its seq', async () => {
    const { clock, outbox } = await clockedStore();
    const runId = newRunId();
    const winner = sampleCommit(runId, 1, { payload: 'winner' });
    await t.store.appendCommit(winner);
    // The loser's entry insert meets the winner's entry; the winner has not published yet.
    expect(await rejection(t.store.appendCommit(sampleCommit(runId, 1, { payload: 'loser' })))).toBeInstanceOf(
      ConflictError,
    );
    const [outcome] = await t.store.appendCommits([sampleCommit(runId, 1, { payload: 'loser 2' })]);
    expect(outcome).toBeInstanceOf(ConflictError);
    expect(await entries(outbox)).toEqual([[runId, 1, 1_000_000]]);
    // Once the winner has published, a late loser's entry names the winner's commit: the sweep
    // finds that commit (and publishes it again, deduplicated by message id), then marks it.
    await t.store.markPublished(runId, [1]);
    clock.now += 1_000;
    expect(await rejection(t.store.appendCommit(sampleCommit(runId, 1, { payload: 'late' })))).toBeInstanceOf(
      ConflictError,
    );
    expect(await t.store.findUnpublished({ olderThan: clock.now + 1, limit: 10 })).toEqual([winner]);
    expect(await collect(t.store.loadHistory(runId))).toEqual([winner]);
  });

  it('re-entering a run puts back exactly its commits written since, keeping entries already there', async () => {
    const { clock, outbox } = await clockedStore();
    const [a, b] = [newRunId(), newRunId()].sort() as [string, string];
    for (const [runId, seq, at] of [
      [a, 1, 1_000],
      [a, 2, 2_000],
      [a, 3, 3_000],
      [b, 1, 2_500],
    ] as const) {
      await t.store.appendCommit(sampleCommit(runId, seq, { at }));
    }
    await t.store.markPublishedMany([
      { runId: a, seq: 1 },
      { runId: a, seq: 2 },
      { runId: b, seq: 1 },
    ]);
    clock.now = 5_000_000;
    // A redelivered input of run a that arrived at 2,000: seq 3 still has its entry, seq 2 had lost it.
    expect(await t.store.reenterOutbox(a, 2_000)).toBe(2);
    expect(await entries(outbox)).toEqual([
      [a, 3, 1_000_000],
      [a, 2, 5_000_000],
    ]);
    expect(await t.store.reenterOutbox(a, 2_000)).toBe(2);
    expect(await t.store.reenterOutbox(newRunId(), 0)).toBe(0);
    expect((await entries(outbox)).length).toBe(2);
  });

  it('an entry whose commit never came is left while young and deleted past the horizon', async () => {
    const { clock, outbox } = await clockedStore();
    const [a, b] = [newRunId(), newRunId()].sort() as [string, string];
    // Appends that wrote their entries and died before their commits: what they leave.
    await outbox.insertMany([
      { _id: commitId(a, 7), runId: a, seq: 7, at: 100 },
      { _id: commitId(a, 8), runId: a, seq: 8, at: 200 },
    ]);
    clock.now = 300;
    await t.store.appendCommit(sampleCommit(b, 1));
    clock.now = 200 + OUTBOX_ORPHAN_HORIZON_MS; // the first orphan is past the horizon, the second not
    // The orphans fill the first page: the read goes on past them to the commit behind.
    expect((await t.store.findUnpublished({ olderThan: clock.now, limit: 1 })).map((c) => [c.runId, c.seq])).toEqual([
      [b, 1],
    ]);
    expect((await entries(outbox)).map(([r, s]) => [r, s])).toEqual([
      [a, 8],
      [b, 1],
    ]);
    // Its append comes back (a redelivery decided again) and finds the entry there.
    await t.store.appendCommit(sampleCommit(a, 8));
    expect((await t.store.findUnpublished({ olderThan: clock.now, limit: 10 })).map((c) => [c.runId, c.seq])).toEqual([
      [a, 8],
      [b, 1],
    ]);
    await t.store.markPublished(a, [8]);
    // Another orphan, aged past the horizon: deleted, and nothing returned for it.
    await outbox.insertOne({ _id: commitId(a, 9), runId: a, seq: 9, at: 400 });
    clock.now = 401 + OUTBOX_ORPHAN_HORIZON_MS;
    expect((await t.store.findUnpublished({ olderThan: 500, limit: 10 })).map((c) => [c.runId, c.seq])).toEqual([
      [b, 1],
    ]);
    expect((await entries(outbox)).map(([r, s]) => [r, s])).toEqual([[b, 1]]);
  });
});
