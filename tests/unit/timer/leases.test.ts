import { describe, expect, it } from 'vitest';
import { FiredMarks } from '../../../services/timer/leases.js';
import { newTimerStats, StoreHealth } from '../../../services/timer/status.js';
import type { Clock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/log.js';
import type { TimerRecord } from '../../../shared/store/types.js';

type Marked = readonly Pick<TimerRecord, 'runId' | 'timerSeq' | 'leaseEpoch' | 'leaseUntil'>[];

function timer(runId: string, timerSeq: number): TimerRecord {
  return { runId, workflowId: `wf-${runId}`, timerSeq, fireAt: 0, status: 'pending', leaseEpoch: 1, leaseUntil: 5_000 };
}

/** A promise resolved from outside, to hold a mark in flight. */
function gate<T>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    open = r;
  });
  return { promise, open };
}

function setup(markTimersFired: (ts: Marked, owner: string, now: number) => Promise<number>) {
  const stats = newTimerStats();
  const storeHealth = new StoreHealth(silentLogger);
  const clock: Clock = { now: () => 1_234 };
  const stopping = new AbortController();
  const marks = new FiredMarks({
    store: { markTimersFired },
    owner: 'timer-a',
    clock,
    log: silentLogger,
    stats,
    storeHealth,
    signal: stopping.signal,
  });
  return { marks, stats, storeHealth, stopping };
}

describe('FiredMarks', () => {
  it("marks a round with the owner and the clock's time, passing over its timers until then", async () => {
    const held = gate<number>();
    const calls: [string[], string, number][] = [];
    const t = setup((ts, owner, now) => {
      calls.push([ts.map((x) => `${x.runId}:${x.timerSeq}`), owner, now]);
      return held.promise;
    });
    await t.marks.enqueue([timer('r1', 1), timer('r2', 1)]);
    expect(t.marks.isUnmarked({ runId: 'r1', timerSeq: 1 })).toBe(true);
    expect(t.marks.isUnmarked({ runId: 'r3', timerSeq: 1 })).toBe(false);
    expect(t.marks.unmarked).toBe(2);
    held.open(2);
    await t.marks.settled();
    expect(calls).toEqual([[['r1:1', 'r2:1'], 'timer-a', 1_234]]);
    expect(t.marks.unmarked).toBe(0);
    expect(t.stats.lostLeases).toBe(0);
  });

  it('runs marks one after another; a round waits for the one before it', async () => {
    const first = gate<number>();
    const order: string[] = [];
    const t = setup(async (ts) => {
      order.push(`start ${ts[0]?.runId}`);
      const n = ts[0]?.runId === 'r1' ? await first.promise : ts.length;
      order.push(`end ${ts[0]?.runId}`);
      return n;
    });
    await t.marks.enqueue([timer('r1', 1)]);
    let secondQueued = false;
    const second = t.marks.enqueue([timer('r2', 1)]).then(() => {
      secondQueued = true;
    });
    await Promise.resolve();
    expect(secondQueued).toBe(false);
    expect(order).toEqual(['start r1']);
    first.open(1);
    await second;
    await t.marks.settled();
    expect(order).toEqual(['start r1', 'end r1', 'start r2', 'end r2']);
  });

  it('counts the timers a mark did not mark as lost leases', async () => {
    const t = setup(async () => 1);
    await t.marks.enqueue([timer('r1', 1), timer('r2', 1), timer('r3', 1)]);
    await t.marks.settled();
    expect(t.stats.lostLeases).toBe(2);
  });

  it('gives up at once when stopping, reports the store unhealthy, and never rejects', async () => {
    let tries = 0;
    const t = setup(async () => {
      tries++;
      throw new Error('store down');
    });
    t.stopping.abort();
    await t.marks.enqueue([timer('r1', 1)]);
    await t.marks.settled();
    expect(tries).toBe(1);
    expect(t.storeHealth.healthy).toBe(false);
    expect(t.marks.unmarked).toBe(0);
  });

  it('retries a failed mark', async () => {
    let tries = 0;
    const t = setup(async (ts) => {
      if (++tries === 1) throw new Error('passing');
      return ts.length;
    });
    await t.marks.enqueue([timer('r1', 1)]);
    await t.marks.settled();
    expect(tries).toBe(2);
    expect(t.storeHealth.healthy).toBe(true);
  });

  it('queues nothing for an empty round', async () => {
    let tries = 0;
    const t = setup(async () => {
      tries++;
      return 0;
    });
    await t.marks.enqueue([]);
    await t.marks.settled();
    expect(tries).toBe(0);
  });
});
