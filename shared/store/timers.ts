/**
 * Durable timers, one document per `(runId, timerSeq)` (`_id: runId:timerSeq`). Status only
 * moves forward: pending → fired | cancelled. Schedules and cancels are inserts first, so a cancel
 * that arrives before its schedule leaves a cancelled tombstone the late schedule cannot revive.
 *
 * Leases are separate insert-only documents (see TimerLeaseDoc): claiming inserts the next lease
 * epoch and the unique `_id` picks one winner. Conditional updates would be simpler, but on some
 * servers (FerretDB 1.x) an update is a read-then-write that lets two claimers both "win" and
 * can clobber a concurrent cancel; inserts are atomic everywhere.
 *
 * Claims find due timers by bucket (timer-walk.ts): each timer and each of its leases carries its
 * bucket, so one equality read of a bucket gives its timers and their current leases, and nothing
 * reads all pending timers (but the walk's one-time start on a store without a position, see
 * timer-position.ts). Per-timer operations (schedule, cancel, markFired, get) filter by `_id`;
 * markFiredMany by bucket and `_id`. Where the cost is per command (FerretDB 1.x runs each in its
 * own SQL transaction), the batch paths send one command for many timers: scheduleMany and the
 * lease claims are unordered insertMany (a duplicate key is the same answer as for one insert),
 * markFiredMany is one updateMany per bucket.
 */
import type { Collection, Filter } from 'mongodb';
import type { Millis } from '../history/events.js';
import {
  fromTimerDoc,
  newTimerLease,
  type TimerDoc,
  type TimerLeaseDoc,
  type TimerWalkerDoc,
  timerId,
  timerLeaseId,
} from './documents.js';
import { insertUnordered, isDuplicateKeyError } from './errors.js';
import type { ServerProfile } from './server-profile.js';
import { TimerPosition } from './timer-position.js';
import { type BucketOutcome, scheduleBucket, TimerWalk } from './timer-walk.js';
import type { TimerRecord } from './types.js';

/**
 * Timers marked fired by one update command. Each command reads its bucket's documents on
 * FerretDB 1.x (the bucket and status equalities, then `$in`), so chunks are large.
 */
const MARK_CHUNK = 2_500;

/** Any document of the timers collection. */
export type AnyTimerDoc = TimerDoc | TimerLeaseDoc | TimerWalkerDoc;

/** A timer to schedule. */
export interface TimerSchedule {
  runId: string;
  workflowId: string;
  timerSeq: number;
  fireAt: Millis;
}

/** A claimed timer to mark fired: the claim's lease, when it handed one out, and its bucket. */
export interface FiredTimer {
  runId: string;
  timerSeq: number;
  leaseEpoch?: number;
  leaseUntil?: Millis;
  bucket?: Millis;
}

/** A lease a claim tries to take. */
interface Claim {
  timer: TimerDoc;
  lease: TimerLeaseDoc;
}

/** What a claim of one bucket took and found. */
interface BucketClaim extends BucketOutcome {
  claimed: Claim[];
}

/** Timer operations over one collection. */
export class TimerStore {
  private readonly timers: Collection<TimerDoc>;
  private readonly leases: Collection<TimerLeaseDoc>;
  private readonly docs: Collection<TimerDoc | TimerLeaseDoc>;
  private readonly position: TimerPosition;
  /** This store's walk, once its first claim loaded the position. */
  private walk: TimerWalk | undefined;
  /** Claims through this store, one after another (they share the walk). */
  private claiming: Promise<unknown> = Promise.resolve();

  /** `now` is the scheduler's clock: it decides the bucket of a timer due in the past (scheduleBucket). */
  constructor(
    collection: Collection<AnyTimerDoc>,
    private readonly profile: () => Promise<ServerProfile>,
    private readonly now: () => Millis = Date.now,
  ) {
    this.timers = collection as unknown as Collection<TimerDoc>;
    this.leases = collection as unknown as Collection<TimerLeaseDoc>;
    this.docs = collection as unknown as Collection<TimerDoc | TimerLeaseDoc>;
    this.position = new TimerPosition(this.timers, collection as unknown as Collection<TimerWalkerDoc>);
  }

  async schedule(t: TimerSchedule): Promise<void> {
    try {
      await this.timers.insertOne(pendingDoc(t, this.now()));
    } catch (err) {
      // Already scheduled (a redelivery), fired, or cancelled (maybe by an early cancel): keep it.
      if (!isDuplicateKeyError(err)) throw err;
    }
  }

  /**
   * schedule() for many timers in one unordered insert. Throws, having stored any part of them,
   * when the insert fails for another reason than timers stored already; scheduling is idempotent,
   * so the caller sends them all again.
   */
  async scheduleMany(ts: readonly TimerSchedule[]): Promise<void> {
    if (ts.length === 0) return;
    const now = this.now();
    await insertUnordered(
      this.timers,
      ts.map((t) => pendingDoc(t, now)),
    );
  }

  async cancel(runId: string, timerSeq: number): Promise<void> {
    const _id = timerId(runId, timerSeq);
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await this.timers.findOne({ _id }, { projection: { status: 1 } });
      if (existing && existing.status !== 'pending') return; // fired or cancelled already
      if (existing) {
        await this.timers.updateOne(await this.pendingFilter(_id), { $set: { status: 'cancelled' } });
        return;
      }
      try {
        // Not scheduled yet: a tombstone, so the schedule still on its way cannot revive it.
        await this.timers.insertOne({ _id, runId, workflowId: '', timerSeq, fireAt: 0, status: 'cancelled' });
        return;
      } catch (err) {
        if (!isDuplicateKeyError(err)) throw err;
        // The schedule landed in between: cancel it on the next pass.
      }
    }
  }

  /**
   * Leases up to `limit` due pending timers, in firing order (compareFiringOrder), reading the
   * buckets the walk plans (timer-walk.ts), oldest first, until the limit. In each bucket, the
   * due pending timers without a live lease take their next epoch in one unordered insert (a
   * duplicate key: another claimer won); a cancel that landed meanwhile is read back from the
   * bucket. A failed insert throws: leases it may have stored expire, and the timers are claimed
   * again then.
   */
  claimDue(
    now: Millis,
    owner: string,
    leaseMs: number,
    limit: number,
    skip?: (t: { runId: string; timerSeq: number }) => boolean,
  ): Promise<TimerRecord[]> {
    const claim = this.claiming.then(() => this.claimSerially(now, owner, leaseMs, limit, skip));
    this.claiming = claim.catch(() => undefined);
    return claim;
  }

  private async claimSerially(
    now: Millis,
    owner: string,
    leaseMs: number,
    limit: number,
    skip?: (t: { runId: string; timerSeq: number }) => boolean,
  ): Promise<TimerRecord[]> {
    if (limit <= 0) return [];
    this.walk ??= new TimerWalk(await this.position.load(now));
    const walk = this.walk;
    const { reads, capped } = walk.plan(now);
    const claimed: Claim[] = [];
    let stoppedEarly = capped;
    for (const read of reads) {
      if (claimed.length >= limit) {
        stoppedEarly = true;
        break;
      }
      const got = await this.claimBucket(read.bucket, now, owner, leaseMs, limit - claimed.length, skip);
      claimed.push(...got.claimed);
      walk.record(now, read, got);
    }
    walk.finish(now, stoppedEarly);
    await this.position.advance(walk.low);
    return claimed.sort((a, b) => compareFiringOrder(a.timer, b.timer)).map((c) => fromTimerDoc(c.timer, c.lease));
  }

  /** Claims up to `room` due timers of one bucket (see claimDue). */
  private async claimBucket(
    bucket: Millis,
    now: Millis,
    owner: string,
    leaseMs: number,
    room: number,
    skip?: (t: { runId: string; timerSeq: number }) => boolean,
  ): Promise<BucketClaim> {
    const { timers, current } = splitBucket(await this.docs.find({ bucket }).toArray());
    let pendingLeft = false;
    let wakeAt = Number.POSITIVE_INFINITY;
    const candidates: Claim[] = [];
    for (const timer of timers) {
      if (timer.status !== 'pending') continue;
      pendingLeft = true;
      const lease = current.get(timer._id);
      if (timer.fireAt > now) wakeAt = Math.min(wakeAt, timer.fireAt);
      else if (skip?.(timer)) continue;
      else if (lease && lease.until > now) wakeAt = Math.min(wakeAt, lease.until);
      else candidates.push({ timer, lease: newTimerLease(timer, (lease?.epoch ?? 0) + 1, owner, now + leaseMs) });
    }
    candidates.sort((a, b) => compareFiringOrder(a.timer, b.timer));
    const claimed: Claim[] = [];
    let next = 0;
    // Slice after slice: where another claimer won some, the next ones in firing order take their place.
    while (claimed.length < room && next < candidates.length) {
      const wanted = candidates.slice(next, next + room - claimed.length);
      next += wanted.length;
      const lost: Claim[] = [];
      for (const [i, won] of (await this.insertLeases(wanted.map((c) => c.lease))).entries()) {
        (won ? claimed : lost).push(wanted[i] as Claim);
      }
      if (lost.length > 0) claimed.push(...(await this.claimPastHiddenLeases(bucket, lost, now, owner, leaseMs)));
    }
    const outcome = {
      pendingLeft,
      cut: next < candidates.length,
      wakeAt: Number.isFinite(wakeAt) ? wakeAt : undefined,
    };
    if (claimed.length === 0) return { ...outcome, claimed };
    // A cancel may have landed while we claimed: hand out only timers not cancelled. Both
    // equalities are pushed down by FerretDB, so this reads the bucket's cancelled timers only.
    const cancelled = new Set(
      (await this.timers.find({ bucket, status: 'cancelled' }, { projection: { _id: 1 } }).toArray()).map((d) => d._id),
    );
    return { ...outcome, claimed: claimed.filter((c) => !cancelled.has(c.timer._id)) };
  }

  /**
   * The claims of a bucket whose lease insert met a duplicate key. Mostly another claimer won
   * (its lease shows in the bucket); a lease stored before leases had buckets does not show there,
   * so the timer's current lease is probed by `_id` and, when it has ended, the next epoch taken.
   */
  private async claimPastHiddenLeases(
    bucket: Millis,
    lost: Claim[],
    now: Millis,
    owner: string,
    leaseMs: number,
  ): Promise<Claim[]> {
    const { current } = splitBucket(await this.leases.find({ bucket, kind: 'lease' }).toArray());
    const retry: Claim[] = [];
    for (const c of lost) {
      if ((current.get(c.timer._id)?.epoch ?? 0) >= c.lease.epoch) continue; // another claimer's
      const hidden = await this.currentLease(c.timer._id, c.lease.epoch);
      if (hidden && hidden.until <= now)
        retry.push({ ...c, lease: newTimerLease(c.timer, hidden.epoch + 1, owner, now + leaseMs) });
    }
    const won = await this.insertLeases(retry.map((c) => c.lease));
    return retry.filter((_, i) => won[i]);
  }

  /** Inserts leases in one unordered insert; true for each one stored, false where another claimer won. */
  private async insertLeases(leases: TimerLeaseDoc[]): Promise<boolean[]> {
    const won = leases.map(() => true);
    for (const i of await insertUnordered(this.leases, leases)) won[i] = false;
    return won;
  }

  /**
   * Marks a timer fired if `owner` still holds it. With the `leaseEpoch` the claim handed out,
   * holding it means no later epoch exists (one probe); without, the current lease is probed.
   */
  async markFired(runId: string, timerSeq: number, owner: string, leaseEpoch?: number): Promise<boolean> {
    const _id = timerId(runId, timerSeq);
    if (!(await this.markFiredAllowed(_id, owner, leaseEpoch))) return false;
    if ((await this.profile()).idFiltersOnly) {
      const timer = await this.timers.findOne({ _id }, { projection: { status: 1 } });
      if (timer?.status !== 'pending') return false;
    }
    const res = await this.timers.updateOne(await this.pendingFilter(_id), { $set: { status: 'fired' } });
    return res.modifiedCount === 1;
  }

  /** Whether `owner` still holds a timer's lease: no epoch after `leaseEpoch`, or owns the current one. */
  private async markFiredAllowed(_id: string, owner: string, leaseEpoch: number | undefined): Promise<boolean> {
    if (leaseEpoch !== undefined) {
      return !(await this.leases.findOne({ _id: timerLeaseId(_id, leaseEpoch + 1) }, { projection: { _id: 1 } }));
    }
    const lease = await this.currentLease(_id);
    return lease?.owner === owner;
  }

  /**
   * markFired() for many timers of one claim, by one update per bucket (and per 2,500); resolves
   * with how many it marked. A timer whose claim's lease is still live at `now` is `owner`'s (no
   * one may claim it before its lease ends); one past its lease is probed for a later epoch, and
   * left alone if taken. Where conditional updates are not atomic (FerretDB 1.x) a cancel racing
   * the update can still be overwritten, as with markFired; the status filter makes the window
   * one command's.
   */
  async markFiredMany(timers: readonly FiredTimer[], owner: string, now: Millis): Promise<number> {
    const byBucket = new Map<Millis | undefined, string[]>();
    for (const t of timers) {
      const _id = timerId(t.runId, t.timerSeq);
      const live = t.leaseEpoch !== undefined && t.leaseUntil !== undefined && t.leaseUntil > now;
      if (!live && !(await this.markFiredAllowed(_id, owner, t.leaseEpoch))) continue;
      const ids = byBucket.get(t.bucket);
      if (ids) ids.push(_id);
      else byBucket.set(t.bucket, [_id]);
    }
    let marked = 0;
    for (const [bucket, ids] of byBucket) {
      // In chunks, so a long mark that stops early (shutdown, failure) has kept what it did.
      for (let i = 0; i < ids.length; i += MARK_CHUNK) {
        const chunk = ids.slice(i, i + MARK_CHUNK);
        // Equalities first: FerretDB pushes them down and tests `$in` only on what they match.
        const filter: Filter<TimerDoc> =
          bucket === undefined
            ? { status: 'pending', _id: { $in: chunk } }
            : { bucket, status: 'pending', _id: { $in: chunk } };
        marked += (await this.timers.updateMany(filter, { $set: { status: 'fired' } })).modifiedCount;
      }
    }
    return marked;
  }

  /** When the next claim should look again, from what the last one read (see TimerWalk.wakeAt); no store read. */
  nextDue(): Millis | undefined {
    return this.walk?.wakeAt;
  }

  async get(runId: string, timerSeq: number): Promise<TimerRecord | undefined> {
    const _id = timerId(runId, timerSeq);
    const d = await this.timers.findOne({ _id });
    return d ? fromTimerDoc(d, await this.currentLease(_id)) : undefined;
  }

  /**
   * The filter of an update that must only touch a pending timer: with the status where that is
   * atomic and indexed (MongoDB); by `_id` alone, after the caller read it pending, where a
   * conditional update is neither (FerretDB 1.x).
   */
  private async pendingFilter(_id: string): Promise<Filter<TimerDoc>> {
    return (await this.profile()).idFiltersOnly ? { _id } : { _id, status: 'pending' };
  }

  /**
   * A timer's highest-epoch lease, probed by `_id` from epoch `from` (epochs start at 1 and have
   * no holes), or undefined when it has none from there.
   */
  private async currentLease(timer: string, from = 1): Promise<TimerLeaseDoc | undefined> {
    let current: TimerLeaseDoc | undefined;
    for (let epoch = from; ; epoch++) {
      const lease = await this.leases.findOne({ _id: timerLeaseId(timer, epoch) });
      if (!lease) return current;
      current = lease;
    }
  }
}

/** A bucket's documents split into its timers and each timer's highest-epoch lease seen. */
function splitBucket(docs: readonly (TimerDoc | TimerLeaseDoc)[]): {
  timers: TimerDoc[];
  current: Map<string, TimerLeaseDoc>;
} {
  const timers: TimerDoc[] = [];
  const current = new Map<string, TimerLeaseDoc>();
  for (const d of docs) {
    if (!('kind' in d)) {
      timers.push(d);
      continue;
    }
    const seen = current.get(d.timer);
    if (!seen || d.epoch > seen.epoch) current.set(d.timer, d);
  }
  return { timers, current };
}

/** A pending timer scheduled at `now` (the scheduler's clock, which places a past fireAt). */
function pendingDoc(t: TimerSchedule, now: Millis): TimerDoc {
  return {
    _id: timerId(t.runId, t.timerSeq),
    runId: t.runId,
    workflowId: t.workflowId,
    timerSeq: t.timerSeq,
    fireAt: t.fireAt,
    status: 'pending',
    bucket: scheduleBucket(t.fireAt, now),
  };
}

/**
 * The order timers fire in: due time, then run, then schedule order within the run (`timerSeq`
 * grows with every commit and every action). Numeric, unlike `_id` (`run:10` sorts before `run:9`).
 */
export function compareFiringOrder(
  a: { fireAt: Millis; runId: string; timerSeq: number },
  b: { fireAt: Millis; runId: string; timerSeq: number },
): number {
  if (a.fireAt !== b.fireAt) return a.fireAt - b.fireAt;
  if (a.runId !== b.runId) return a.runId < b.runId ? -1 : 1;
  return a.timerSeq - b.timerSeq;
}
