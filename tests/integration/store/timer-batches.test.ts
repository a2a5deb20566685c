/**
 * The timer store's batch paths: scheduleTimers, claims made of unordered lease inserts, and
 * markTimersFired. Failures are injected by wrapping the timers collection so that an insert
 * stores part of its documents and then fails, as a dropped connection would.
 */
import { type Collection, MongoNetworkError } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { collectionNames } from '../../../shared/names.js';
import type { TimerLeaseDoc } from '../../../shared/store/documents.js';
import { createMongoStore } from '../../../shared/store/index.js';
import { memoizedProfile } from '../../../shared/store/server-profile.js';
import { type AnyTimerDoc, TimerStore } from '../../../shared/store/timers.js';
import { connectMongo } from '../../harness/index.js';
import { freshStore, type TestStore, sampleTimer as timer } from './helpers.js';

/** A store whose scheduler's clock reads 0, as the tests' due times are small numbers. */
const fresh = (): Promise<TestStore> => freshStore({ now: () => 0 });

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

const key = (x: { runId: string; timerSeq: number }): string => `${x.runId}:${x.timerSeq}`;

/** The test store's timers collection, with `insertMany` replaced by `insertMany(real, docs)`. */
function withInsertMany(
  store: TestStore,
  insertMany: (real: Collection<AnyTimerDoc>, docs: AnyTimerDoc[]) => Promise<void>,
): TimerStore {
  const db = store.client.db(store.dbName);
  const real = db.collection<AnyTimerDoc>(collectionNames(store.prefix).timers);
  const wrapped = new Proxy(real, {
    get(target, prop) {
      if (prop === 'insertMany') return (docs: AnyTimerDoc[]) => insertMany(target, docs);
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return new TimerStore(wrapped, memoizedProfile(db), () => 0);
}

/** Stores the first `n` documents, then fails as a connection dropped mid-write would. */
const cutAfter =
  (n: number) =>
  async (real: Collection<AnyTimerDoc>, docs: AnyTimerDoc[]): Promise<void> => {
    await real.insertMany(docs.slice(0, n), { ordered: false });
    throw new MongoNetworkError('connection reset mid-batch (injected)');
  };

describe('store: timer batches', () => {
  it('scheduleTimers stores new timers and keeps every stored one as it is', async () => {
    t = await fresh();
    await t.store.scheduleTimer(timer('r', 1, 100));
    await t.store.cancelTimer('r', 2); // tombstone: its schedule arrives later, in the batch
    await t.store.scheduleTimer(timer('r', 3, 100));
    expect(await t.store.claimDueTimers(1000, 'a', 30_000, 10)).toHaveLength(2);
    expect(await t.store.markTimersFired([{ runId: 'r', timerSeq: 3 }], 'a', 1000)).toBe(1);

    await t.store.scheduleTimers([
      timer('r', 1, 999), // redelivered: keeps its fireAt
      timer('r', 2, 100), // cancelled before: stays cancelled
      timer('r', 3, 100), // fired: stays fired
      timer('r', 4, 200),
      timer('r', 4, 200), // twice in one batch
      timer('r', 5, 300),
    ]);
    expect(await t.store.getTimer('r', 1)).toMatchObject({ status: 'pending', fireAt: 100 });
    expect(await t.store.getTimer('r', 2)).toMatchObject({ status: 'cancelled' });
    expect(await t.store.getTimer('r', 3)).toMatchObject({ status: 'fired' });
    expect(await t.store.getTimer('r', 4)).toMatchObject({ status: 'pending', fireAt: 200 });
    expect(await t.store.getTimer('r', 5)).toMatchObject({ status: 'pending', fireAt: 300 });
    await t.store.scheduleTimers([]);
  });

  it('a batch claim takes only what a concurrent claimer left, and the next epoch of expired leases', async () => {
    t = await fresh();
    await t.store.scheduleTimers(Array.from({ length: 40 }, (_, i) => timer(`r${i}`, 1, i)));
    const other = createMongoStore(await connectMongo(), { dbName: t.dbName, collectionPrefix: t.prefix });
    // The other claimer holds the 10 earliest; the batch claim's epoch-1 inserts collide there.
    const taken = await other.claimDueTimers(1000, 'b', 1_000, 10);
    expect(taken.map((x) => x.runId)).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
    const mine = await t.store.claimDueTimers(1000, 'a', 30_000, 100);
    expect(mine.map((x) => x.runId)).toEqual(Array.from({ length: 30 }, (_, i) => `r${i + 10}`));
    expect(mine.every((x) => x.leaseOwner === 'a' && x.leaseEpoch === 1)).toBe(true);
    // Once b's leases end, a claim takes them at epoch 2, up to its limit.
    const again = await t.store.claimDueTimers(2_000, 'c', 30_000, 4);
    expect(again.map((x) => [x.runId, x.leaseOwner, x.leaseEpoch])).toEqual(
      Array.from({ length: 4 }, (_, i) => [`r${i}`, 'c', 2]),
    );
    // b's leases are over at 2_000, so each is probed: the four c took are left alone.
    expect(await other.markTimersFired(taken, 'b', 2_000)).toBe(6);
    expect((await t.store.getTimer('r0', 1))?.status).toBe('pending');
    expect((await t.store.getTimer('r9', 1))?.status).toBe('fired');
  });

  it('concurrent batch claims from separate clients never share a timer', async () => {
    t = await fresh();
    await t.store.scheduleTimers(Array.from({ length: 300 }, (_, i) => timer(`r${i % 13}`, i, i)));
    const other = createMongoStore(await connectMongo(), { dbName: t.dbName, collectionPrefix: t.prefix });
    const claims = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        (i % 2 === 0 ? t.store : other).claimDueTimers(1000, `svc-${i}`, 60_000, 100),
      ),
    );
    const all = claims.flat().map(key);
    expect(new Set(all).size).toBe(all.length);
    for (const [i, c] of claims.entries()) for (const x of c) expect(x.leaseOwner).toBe(`svc-${i}`);
    const rest = await t.store.claimDueTimers(1000, 'late', 60_000, 1000);
    expect(all.length + rest.length).toBe(300);
  });

  it('a batch claim skips cancelled timers, including one cancelled while it claims', async () => {
    t = await fresh();
    await t.store.scheduleTimers(Array.from({ length: 20 }, (_, i) => timer('r', i, i)));
    for (const seq of [0, 5, 6]) await t.store.cancelTimer('r', seq);
    // The cancel of r:10 lands between the due scan and the lease insert.
    const claimer = withInsertMany(t, async (real, docs) => {
      await t.store.cancelTimer('r', 10);
      await real.insertMany(docs, { ordered: false });
    });
    const got = await claimer.claimDue(1000, 'a', 30_000, 100);
    expect(got.map((x) => x.timerSeq)).toEqual([1, 2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(await t.store.getTimer('r', 10)).toMatchObject({ status: 'cancelled' });
  });

  it('a claim passes over the timers its caller skips, leaving them to others', async () => {
    t = await fresh();
    await t.store.scheduleTimers(Array.from({ length: 6 }, (_, i) => timer('r', i, i)));
    const mine = await t.store.claimDueTimers(1000, 'a', 30_000, 3, (x) => x.timerSeq % 2 === 0);
    expect(mine.map((x) => x.timerSeq)).toEqual([1, 3, 5]);
    const theirs = await t.store.claimDueTimers(1000, 'b', 30_000, 10);
    expect(theirs.map((x) => [x.timerSeq, x.leaseEpoch])).toEqual([
      [0, 1],
      [2, 1],
      [4, 1],
    ]);
  });

  it('markTimersFired marks more than one command holds, and never revives a cancelled timer', async () => {
    t = await fresh();
    await t.store.scheduleTimers(Array.from({ length: 2_600 }, (_, i) => timer('big', i, i)));
    const many = await t.store.claimDueTimers(3_000, 'a', 30_000, 3_000);
    expect(many).toHaveLength(2_600);
    await t.store.cancelTimer('big', 2_550); // in the second command's chunk
    expect(await t.store.markTimersFired(many, 'a', 3_000)).toBe(2_599);
    expect(await t.store.getTimer('big', 2_550)).toMatchObject({ status: 'cancelled' });
    expect(await t.store.getTimer('big', 2_599)).toMatchObject({ status: 'fired' });
  });

  it('markTimersFired never revives a cancelled timer', async () => {
    t = await fresh();
    await t.store.scheduleTimers(Array.from({ length: 10 }, (_, i) => timer('r', i, i)));
    const claimed = await t.store.claimDueTimers(1000, 'a', 30_000, 10);
    expect(claimed).toHaveLength(10);
    for (const seq of [2, 3, 7]) await t.store.cancelTimer('r', seq);
    expect(await t.store.markTimersFired(claimed, 'a', 1000)).toBe(7);
    for (const c of claimed) {
      const want = [2, 3, 7].includes(c.timerSeq) ? 'cancelled' : 'fired';
      expect((await t.store.getTimer('r', c.timerSeq))?.status).toBe(want);
    }
    expect(await t.store.markTimersFired(claimed, 'a', 1000)).toBe(0); // already fired
    expect(await t.store.markTimersFired([], 'a', 1000)).toBe(0);
    expect(await t.store.claimDueTimers(100_000, 'b', 30_000, 10)).toEqual([]);
  });

  it('a claim cut short mid-batch loses no timer: the unleased are claimable now, the rest when their lease ends', async () => {
    t = await fresh();
    await t.store.scheduleTimers(Array.from({ length: 20 }, (_, i) => timer('r', i, i)));
    const failing = withInsertMany(t, cutAfter(8));
    await expect(failing.claimDue(1000, 'a', 5_000, 100)).rejects.toThrow(/mid-batch/);
    const now = await t.store.claimDueTimers(1000, 'b', 100_000, 100);
    expect(now.map((x) => x.timerSeq)).toEqual([8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const later = await t.store.claimDueTimers(6_000, 'b', 5_000, 100);
    expect(later.map((x) => [x.timerSeq, x.leaseEpoch])).toEqual(Array.from({ length: 8 }, (_, i) => [i, 2]));
  });

  it('a lease insert whose counts do not add up is a failure, not a lost claim', async () => {
    t = await fresh();
    await t.store.scheduleTimers(Array.from({ length: 10 }, (_, i) => timer('r', i, i)));
    // A real MongoBulkWriteError: another claimer took r:0 just before, and only r:1..3 of the rest got in.
    const cut = withInsertMany(t, async (real, docs) => {
      await real.insertOne({ ...(docs[0] as TimerLeaseDoc), owner: 'other' });
      await real.insertMany(docs.slice(0, 4), { ordered: false });
    });
    await expect(cut.claimDue(5_000, 'a', 30_000, 100)).rejects.toThrow();
    // Nothing is lost: r:4.. were never leased; r:0..3 wait for their leases (to 35_000) to end.
    const now = await t.store.claimDueTimers(5_000, 'b', 100_000, 100);
    expect(now.map((x) => x.timerSeq)).toEqual([4, 5, 6, 7, 8, 9]);
    const later = await t.store.claimDueTimers(40_000, 'b', 30_000, 100);
    expect(later.map((x) => x.timerSeq)).toEqual([0, 1, 2, 3]);
  });

  it('scheduleTimers cut short mid-batch stores the rest when sent again', async () => {
    t = await fresh();
    const batch = Array.from({ length: 12 }, (_, i) => timer('r', i, i));
    await expect(withInsertMany(t, cutAfter(5)).scheduleMany(batch)).rejects.toThrow(/mid-batch/);
    expect(await t.store.getTimer('r', 4)).toMatchObject({ status: 'pending' });
    expect(await t.store.getTimer('r', 5)).toBeUndefined();
    await t.store.scheduleTimers(batch); // the redelivery
    const got = await t.store.claimDueTimers(1000, 'a', 30_000, 100);
    expect(got.map((x) => x.timerSeq)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });
});
