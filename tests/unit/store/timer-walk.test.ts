import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BUCKET_MS,
  type BucketRead,
  bucketOf,
  lastSettleable,
  MAX_BUCKETS_PER_CLAIM,
  SETTLE_MS,
  scheduleBucket,
  TimerWalk,
} from '../../../shared/store/timer-walk.js';

const T0 = 1_700_000_000_000; // a bucket boundary
const empty = { pendingLeft: false, cut: false };

/** One claim at `now` that finds every bucket empty; resolves with what it read. */
function claimEmpty(walk: TimerWalk, now: number): BucketRead[] {
  const { reads, capped } = walk.plan(now);
  for (const r of reads) walk.record(now, r, empty);
  walk.finish(now, capped);
  return reads;
}

describe('timer buckets', () => {
  it('floors a due time to its 5 s window, and places a past one in the current bucket', () => {
    expect(bucketOf(T0 + 4_999)).toBe(T0);
    expect(bucketOf(T0 + 5_000)).toBe(T0 + 5_000);
    expect(bucketOf(-1)).toBe(-BUCKET_MS);
    expect(scheduleBucket(T0 + 12_000, T0)).toBe(T0 + 10_000);
    expect(scheduleBucket(T0 - 3_600_000, T0 + 7_000)).toBe(T0 + 5_000);
  });
});

describe('TimerWalk', () => {
  it('idle, reads the current bucket at each claim, each passed one once more, and each again when settled', () => {
    const walk = new TimerWalk(lastSettleable(T0));
    claimEmpty(walk, T0); // reads the buckets of the last minute once: a walk's first claim
    const reads: string[] = [];
    for (let now = T0 + 1_000; now <= T0 + 120_000; now += 1_000) {
      for (const r of claimEmpty(walk, now)) reads.push(`${r.kind}:${(r.bucket - T0) / 1000}`);
    }
    // 120 claims: one hot read each of the current bucket, one more of each bucket once passed
    // (24), and one settle read per bucket 60 s after it ended (24: from a minute before T0 on).
    expect(reads.filter((r) => r.startsWith('hot')).length).toBe(120 + 24);
    expect(reads.filter((r) => r.startsWith('settle')).length).toBe(24);
    expect(reads.filter((r) => r === 'settle:0')).toHaveLength(1);
    expect(reads.filter((r) => r === 'hot:0')).toHaveLength(5); // current at 1..4 s, passed at 5 s
    expect(walk.low).toBe(lastSettleable(T0 + 120_000) + BUCKET_MS);
  });

  it('says when to look again: the earliest later fireAt seen, else the next bucket or settle read', () => {
    const walk = new TimerWalk(lastSettleable(T0));
    expect(walk.wakeAt).toBeUndefined();
    const now = T0 + 1_000;
    const { reads } = walk.plan(now);
    for (const r of reads) {
      walk.record(now, r, r.bucket === T0 ? { pendingLeft: true, cut: false, wakeAt: T0 + 3_000 } : empty);
    }
    walk.finish(now, false);
    expect(walk.wakeAt).toBe(T0 + 3_000);
    claimEmpty(walk, T0 + 3_000);
    expect(walk.wakeAt).toBe(T0 + BUCKET_MS);
    walk.finish(T0 + 3_000, true); // stopped early: look again at once
    expect(walk.wakeAt).toBe(T0 + 3_000);
  });

  it('keeps a passed bucket with pending timers stuck, read at every claim and holding the low-water mark', () => {
    const walk = new TimerWalk(T0);
    const leased = { pendingLeft: true, cut: false, wakeAt: T0 + 30_000 };
    let now = T0 + 6_000;
    for (const r of walk.plan(now).reads) walk.record(now, r, r.bucket === T0 ? leased : empty);
    walk.finish(now, false);
    expect(walk.wakeAt).toBe(T0 + 10_000);
    now = T0 + 100_000;
    const { reads } = walk.plan(now);
    expect(reads[0]).toEqual({ bucket: T0, kind: 'settle' });
    for (const r of reads) walk.record(now, r, r.bucket === T0 ? leased : empty);
    walk.finish(now, false);
    expect(walk.low).toBe(T0);
    now += 1_000;
    const again = walk.plan(now).reads;
    expect(again[0]).toEqual({ bucket: T0, kind: 'stuck' });
    expect(again.filter((r) => r.kind === 'stuck')).toHaveLength(1);
    for (const r of again) walk.record(now, r, empty);
    walk.finish(now, false);
    expect(walk.low).toBe(lastSettleable(now) + BUCKET_MS);
  });

  it('a bucket a claim could not finish (its limit) is read again first', () => {
    const walk = new TimerWalk(T0);
    const now = T0 + 12_000;
    const { reads } = walk.plan(now);
    expect(reads.map((r) => r.bucket)).toEqual([T0, T0 + 5_000, T0 + 10_000]);
    walk.record(now, reads[0] as BucketRead, { pendingLeft: true, cut: true });
    walk.finish(now, true);
    expect(walk.plan(now).reads.map((r) => r.bucket)).toEqual([T0, T0 + 5_000, T0 + 10_000]);
  });

  it('catches up a day of downtime in steps of MAX_BUCKETS_PER_CLAIM buckets', () => {
    const walk = new TimerWalk(T0);
    const now = T0 + 86_400_000;
    let claims = 0;
    let read = 0;
    for (;;) {
      const { reads, capped } = walk.plan(now);
      expect(reads.length).toBeLessThanOrEqual(MAX_BUCKETS_PER_CLAIM);
      for (const r of reads) walk.record(now, r, empty);
      walk.finish(now, capped);
      claims++;
      read += reads.length;
      if (!capped) break;
    }
    expect(read).toBe(86_400_000 / BUCKET_MS + 1); // each missed bucket once, and the current one
    expect(claims).toBe(Math.ceil(read / MAX_BUCKETS_PER_CLAIM));
    expect(walk.low).toBe(lastSettleable(now) + BUCKET_MS);
  });

  it('finds every timer, late writes and skewed clocks included, within its settle read', () => {
    interface SimTimer {
      fireAt: number;
      storedAt: number;
      bucket: number;
      firedAt?: number;
    }
    const timer = fc
      .record({
        fireIn: fc.integer({ min: -120_000, max: 60_000 }),
        storedIn: fc.integer({ min: 0, max: 90_000 }),
        // What the scheduler's clock was behind when it placed the timer: its write's time in
        // flight plus its clock's skew, under SETTLE_MS together.
        lagMs: fc.integer({ min: 0, max: SETTLE_MS - 1 }),
      })
      .map(
        ({ fireIn, storedIn, lagMs }): SimTimer => ({
          fireAt: T0 + storedIn + fireIn,
          storedAt: T0 + storedIn,
          bucket: scheduleBucket(T0 + storedIn + fireIn, T0 + storedIn - lagMs),
        }),
      );
    fc.assert(
      fc.property(fc.array(timer, { maxLength: 40 }), fc.integer({ min: 200, max: 3_000 }), (timers, stepMs) => {
        const walk = new TimerWalk(lastSettleable(T0));
        const end = T0 + 90_000 + 60_000 + SETTLE_MS + 2 * BUCKET_MS + stepMs;
        for (let now = T0; now <= end; now += stepMs) {
          const { reads, capped } = walk.plan(now);
          for (const r of reads) {
            const seen = timers.filter((t) => t.bucket === r.bucket && t.storedAt <= now && t.firedAt === undefined);
            let wakeAt: number | undefined;
            for (const t of seen) {
              if (t.fireAt <= now) t.firedAt = now;
              else wakeAt = Math.min(wakeAt ?? t.fireAt, t.fireAt);
            }
            walk.record(now, r, { pendingLeft: seen.some((t) => t.firedAt === undefined), cut: false, wakeAt });
          }
          walk.finish(now, capped);
        }
        for (const t of timers) {
          expect(t.firedAt).toBeDefined();
          const due = Math.max(t.fireAt, t.storedAt);
          expect(t.firedAt as number).toBeGreaterThanOrEqual(t.fireAt);
          expect(t.firedAt as number).toBeLessThanOrEqual(due + SETTLE_MS + BUCKET_MS + stepMs);
        }
      }),
      { numRuns: 200 },
    );
  });
});
