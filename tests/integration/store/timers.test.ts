import { afterEach, describe, expect, it } from 'vitest';
import { createMongoStore } from '../../../shared/store/index.js';
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
});
