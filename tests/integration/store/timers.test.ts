import { afterEach, describe, expect, it } from 'vitest';
import { collectionNames } from '../../../shared/names.js';
import type { TimerDoc, TimerLeaseDoc, TimerWalkerDoc } from '../../../shared/store/documents.js';
import { createMongoStore } from '../../../shared/store/index.js';
import { BUCKET_MS, bucketOf } from '../../../shared/store/timer-walk.js';
import { connectMongo } from '../../harness/index.js';
import { freshStore, type TestStore, sampleTimer as timer } from './helpers.js';

/** A store whose scheduler's clock reads 0, as the tests' due times are small numbers. */
const fresh = (): Promise<TestStore> => freshStore({ now: () => 0 });

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

describe('store: durable timers', () => {
  it('claims due timers earliest first, leases them, and marks them fired', async () => {
    t = await fresh();
    await t.store.scheduleTimer(timer('r1', 1, 300));
    await t.store.scheduleTimer(timer('r1', 2, 100));
    await t.store.scheduleTimer(timer('r2', 1, 200));
    await t.store.scheduleTimer(timer('r2', 2, 5_000)); // not due
    await t.store.scheduleTimer(timer('r1', 1, 999)); // redelivered schedule: no change
    expect(await t.store.nextTimerDue()).toBeUndefined(); // nothing read yet

    const got = await t.store.claimDueTimers(1000, 'svc-a', 30_000, 2);
    expect(got.map((x) => [x.runId, x.timerSeq])).toEqual([
      ['r1', 2],
      ['r2', 1],
    ]);
    expect(got[0]).toMatchObject({
      workflowId: 'wf-r1',
      fireAt: 100,
      status: 'pending',
      leaseOwner: 'svc-a',
      leaseUntil: 31_000,
    });
    const rest = await t.store.claimDueTimers(1000, 'svc-a', 30_000, 10);
    expect(rest.map((x) => [x.runId, x.timerSeq, x.fireAt])).toEqual([['r1', 1, 300]]);
    expect(await t.store.claimDueTimers(1000, 'svc-b', 30_000, 10)).toEqual([]); // all leased

    expect(await t.store.markTimerFired('r1', 2, 'svc-b')).toBe(false); // not the holder
    expect(await t.store.markTimerFired('r1', 2, 'svc-a')).toBe(true);
    expect(await t.store.markTimerFired('r1', 2, 'svc-a')).toBe(false); // already fired
    expect(await t.store.getTimer('r1', 2)).toMatchObject({ status: 'fired' });
    await t.store.scheduleTimer(timer('r1', 2, 100)); // a late duplicate schedule never revives it
    expect(await t.store.getTimer('r1', 2)).toMatchObject({ status: 'fired' });
    // The remaining pending ones are leased until 31_000; r2:2 is in the next bucket, from 5_000.
    expect(await t.store.nextTimerDue()).toBe(5_000);
  });

  it('two claimers (separate clients) never both claim one timer', async () => {
    t = await fresh();
    for (let i = 1; i <= 60; i++) await t.store.scheduleTimer(timer(`r${i % 7}`, i, i));
    const other = createMongoStore(await connectMongo(), { dbName: t.dbName, collectionPrefix: t.prefix });
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? t.store : other).claimDueTimers(1000, `svc-${i}`, 60_000, 15)),
    );
    const all = claims.flat().map((x) => `${x.runId}:${x.timerSeq}`);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(60);
    for (const [i, c] of claims.entries()) for (const x of c) expect(x.leaseOwner).toBe(`svc-${i}`);
  });

  it('an expired lease is claimed again, and then only its new holder can mark it fired', async () => {
    t = await fresh();
    await t.store.scheduleTimer(timer('r', 1, 10));
    expect(await t.store.claimDueTimers(100, 'dead', 1_000, 10)).toMatchObject([{ leaseEpoch: 1 }]);
    expect(await t.store.claimDueTimers(500, 'b', 1_000, 10)).toEqual([]); // lease still live
    expect(await t.store.nextTimerDue()).toBe(1_100);
    const again = await t.store.claimDueTimers(1_100, 'b', 1_000, 10);
    expect(again).toMatchObject([{ runId: 'r', timerSeq: 1, leaseOwner: 'b', leaseUntil: 2_100, leaseEpoch: 2 }]);
    expect(await t.store.markTimerFired('r', 1, 'dead')).toBe(false);
    expect(await t.store.markTimerFired('r', 1, 'dead', 1)).toBe(false); // epoch 2 exists: lost
    expect(await t.store.markTimerFired('r', 1, 'b', 2)).toBe(true);
    expect(await t.store.claimDueTimers(100_000, 'c', 1_000, 10)).toEqual([]);
  });

  it('a cancelled timer is never claimed', async () => {
    t = await fresh();
    await t.store.scheduleTimer(timer('r', 1, 10));
    await t.store.scheduleTimer(timer('r', 2, 20));
    await t.store.cancelTimer('r', 1);
    await t.store.cancelTimer('r', 1); // twice is fine
    expect((await t.store.claimDueTimers(1000, 'a', 1000, 10)).map((x) => x.timerSeq)).toEqual([2]);
    expect(await t.store.getTimer('r', 1)).toMatchObject({ status: 'cancelled' });
    // Cancelling a timer already leased: its holder can no longer mark it fired.
    await t.store.cancelTimer('r', 2);
    expect(await t.store.markTimerFired('r', 2, 'a')).toBe(false);
    expect(await t.store.claimDueTimers(10_000, 'b', 1000, 10)).toEqual([]);
  });

  it('a cancel that arrives before its schedule wins', async () => {
    t = await fresh();
    await t.store.cancelTimer('r', 7);
    await t.store.scheduleTimer(timer('r', 7, 10));
    expect(await t.store.getTimer('r', 7)).toMatchObject({ status: 'cancelled' });
    expect(await t.store.claimDueTimers(1000, 'a', 1000, 10)).toEqual([]);
    expect(await t.store.claimDueTimers(100_000, 'a', 1000, 10)).toEqual([]);
  });

  it('cancels racing schedules of the same timers: every one ends cancelled', async () => {
    t = await fresh();
    const n = 30;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        i % 2 === 0
          ? Promise.all([t.store.cancelTimer('race', i), t.store.scheduleTimer(timer('race', i, 1))])
          : Promise.all([t.store.scheduleTimer(timer('race', i, 1)), t.store.cancelTimer('race', i)]),
      ),
    );
    for (let i = 0; i < n; i++) expect((await t.store.getTimer('race', i))?.status).toBe('cancelled');
    expect(await t.store.claimDueTimers(1000, 'a', 1000, 100)).toEqual([]);
  });

  it('a timer scheduled with a due time in the past goes into the current bucket and fires at the next claim', async () => {
    t = await freshStore({ now: () => 50_000 });
    expect(await t.store.claimDueTimers(50_000, 'a', 1_000, 10)).toEqual([]); // the walk is at 50_000
    await t.store.scheduleTimer(timer('late', 1, 100));
    expect(await t.store.getTimer('late', 1)).toMatchObject({ fireAt: 100, bucket: 50_000 });
    expect((await t.store.claimDueTimers(50_500, 'a', 1_000, 10)).map((x) => x.runId)).toEqual(['late']);
  });

  it('a timer written into a bucket the walk has passed (a scheduler clock behind) fires at its settle read', async () => {
    let clock = 0;
    t = await freshStore({ now: () => clock });
    expect(await t.store.claimDueTimers(20_000, 'a', 1_000, 10)).toEqual([]);
    clock = 1_000; // this scheduler's clock is 19 s behind the claimer's
    await t.store.scheduleTimer(timer('lagging', 1, 1_000));
    expect(await t.store.getTimer('lagging', 1)).toMatchObject({ bucket: 0 });
    expect(await t.store.claimDueTimers(30_000, 'a', 1_000, 10)).toEqual([]); // passed: only hot reads ahead
    // Bucket 0 ended at 5_000; its settle read is due a minute later, and the store says so.
    expect(await t.store.nextTimerDue()).toBeLessThanOrEqual(65_000);
    expect((await t.store.claimDueTimers(65_000, 'a', 1_000, 10)).map((x) => x.runId)).toEqual(['lagging']);
  });

  it('after three buckets of downtime, a restarted walk begins at the stored mark and fires them in order', async () => {
    t = await fresh();
    const due = [1_000, 6_000, 11_000, 16_000];
    await t.store.scheduleTimers(due.map((at, i) => timer(`down${i}`, 1, at)));
    expect(await t.store.claimDueTimers(500, 'first', 1_000, 10)).toEqual([]); // then it stops
    const walker = t.client
      .db(t.dbName)
      .collection<TimerWalkerDoc>(collectionNames(t.prefix).timers)
      .findOne({ _id: 'walker' });
    expect((await walker)?.low).toBeLessThanOrEqual(0);
    const restarted = createMongoStore(t.client, { dbName: t.dbName, collectionPrefix: t.prefix, now: () => 0 });
    const fired = await restarted.claimDueTimers(20_000, 'second', 1_000, 10);
    expect(fired.map((x) => [x.runId, x.fireAt])).toEqual(due.map((at, i) => [`down${i}`, at]));
    expect(await restarted.markTimersFired(fired, 'second', 20_000)).toBe(4);
    // Once their buckets have settled with nothing pending, the stored mark moves past them.
    expect(await restarted.claimDueTimers(200_000, 'second', 1_000, 10)).toEqual([]);
    expect(
      (
        await t.client
          .db(t.dbName)
          .collection<TimerWalkerDoc>(collectionNames(t.prefix).timers)
          .findOne({ _id: 'walker' })
      )?.low,
    ).toBeGreaterThan(16_000);
  });

  it('migrates timers stored before buckets on the first claim, and takes over their bucketless leases', async () => {
    t = await fresh();
    const timers = t.client.db(t.dbName).collection<TimerDoc | TimerLeaseDoc>(collectionNames(t.prefix).timers);
    const legacy = (runId: string, fireAt: number, status: TimerDoc['status'] = 'pending'): TimerDoc => ({
      _id: `${runId}:1`,
      runId,
      workflowId: `wf-${runId}`,
      timerSeq: 1,
      fireAt,
      status,
    });
    await timers.insertMany([
      legacy('old-a', 100),
      legacy('old-b', 200),
      legacy('old-later', 1_000_000),
      legacy('old-fired', 50, 'fired'),
      // A lease of the previous version (no bucket), ended at 500.
      { _id: 'old-a:1@1', kind: 'lease', timer: 'old-a:1', epoch: 1, owner: 'old', until: 500 },
    ]);
    const got = await t.store.claimDueTimers(1_000, 'new', 30_000, 10);
    expect(got.map((x) => [x.runId, x.leaseEpoch])).toEqual([
      ['old-a', 2],
      ['old-b', 1],
    ]);
    expect(await t.store.getTimer('old-later', 1)).toMatchObject({ status: 'pending', bucket: bucketOf(1_000_000) });
    expect((await t.store.getTimer('old-fired', 1))?.bucket).toBeUndefined();
    expect(await t.store.markTimersFired(got, 'new', 1_000)).toBe(2);
    const later = await t.store.claimDueTimers(1_000_000 + BUCKET_MS, 'new', 30_000, 10);
    expect(later.map((x) => x.runId)).toEqual(['old-later']);
  });

  it('a store walked with another bucket width has its pending timers given buckets of this one', async () => {
    t = await fresh();
    const docs = t.client.db(t.dbName).collection<TimerDoc | TimerWalkerDoc>(collectionNames(t.prefix).timers);
    await docs.insertMany([
      { _id: 'walker', kind: 'walker', low: 0, bucketMs: 1_000 },
      {
        _id: 'narrow:1',
        runId: 'narrow',
        workflowId: 'wf-narrow',
        timerSeq: 1,
        fireAt: 3_500,
        status: 'pending',
        bucket: 3_000,
      },
    ]);
    expect((await t.store.claimDueTimers(10_000, 'a', 1_000, 10)).map((x) => x.runId)).toEqual(['narrow']);
    expect(await t.store.getTimer('narrow', 1)).toMatchObject({ bucket: 10_000 }); // overdue: the current bucket
  });
});
