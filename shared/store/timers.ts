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
 * Per-timer operations (schedule, cancel, markFired, get) filter by `_id` alone where the server
 * scans for anything else (see server-profile.ts); a timer's current lease is found by probing
 * epochs `<timerId>@1`, `@2`, ... Where the cost is per command (FerretDB 1.x runs each in its
 * own SQL transaction), the batch paths send one command for many timers: scheduleMany and the
 * lease claims are unordered insertMany (a duplicate key is the same answer as for one insert),
 * markFiredMany is one updateMany. Only the periodic claimDue, markFiredMany and nextDue scan.
 */
import type { Collection, Filter } from 'mongodb';
import type { Millis } from '../history/events.js';
import { fromTimerDoc, type TimerDoc, type TimerLeaseDoc, timerId, timerLeaseId } from './documents.js';
import { duplicateIndexesOrThrow, isDuplicateKeyError } from './errors.js';
import type { ServerProfile } from './server-profile.js';
import type { TimerRecord } from './types.js';

/** Most due timers read per cursor batch while looking for unleased ones. */
const MAX_SCAN_BATCH = 1000;
/**
 * Timers marked fired by one update command. Each command also reads every pending timer on
 * FerretDB 1.x (a status equality, then `$in`), so chunks are large.
 */
const MARK_CHUNK = 2_500;
/** Earliest pending timers examined by nextDue. */
const NEXT_DUE_SAMPLE = 50;

type AnyTimerDoc = TimerDoc | TimerLeaseDoc;

/** A timer to schedule. */
export interface TimerSchedule {
  runId: string;
  workflowId: string;
  timerSeq: number;
  fireAt: Millis;
}

/** A claimed timer to mark fired: the claim's lease, when it handed one out. */
export interface FiredTimer {
  runId: string;
  timerSeq: number;
  leaseEpoch?: number;
  leaseUntil?: Millis;
}

/** Timer operations over one collection. */
export class TimerStore {
  private readonly timers: Collection<TimerDoc>;
  private readonly leases: Collection<TimerLeaseDoc>;

  constructor(
    collection: Collection<AnyTimerDoc>,
    private readonly profile: () => Promise<ServerProfile>,
  ) {
    this.timers = collection as unknown as Collection<TimerDoc>;
    this.leases = collection as unknown as Collection<TimerLeaseDoc>;
  }

  async schedule(t: TimerSchedule): Promise<void> {
    try {
      await this.timers.insertOne(pendingDoc(t));
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
    const docs = ts.map(pendingDoc);
    try {
      await this.timers.insertMany(docs, { ordered: false });
    } catch (err) {
      duplicateIndexesOrThrow(err, docs.length);
    }
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
   * Leases up to `limit` due pending timers, in firing order (compareFiringOrder). The scan sorts
   * by `fireAt` alone, as the `status_fireAt` index does; ties are ordered here, and a run's
   * engine fires any timer a claim left behind before a later one (see fold-input.ts). Each cursor batch is claimed with one
   * unordered insert of epoch-1 leases (a duplicate key: leased before); the timers leased before
   * have their current leases read in one query, and those whose lease expired take the next epoch
   * in one more insert. A failed insert throws: leases it may have stored expire, and the timers
   * are claimed again then.
   */
  async claimDue(
    now: Millis,
    owner: string,
    leaseMs: number,
    limit: number,
    skip?: (t: { runId: string; timerSeq: number }) => boolean,
  ): Promise<TimerRecord[]> {
    if (limit <= 0) return [];
    const claimed = new Map<string, { timer: TimerDoc; lease: TimerLeaseDoc }>();
    const due: Filter<TimerDoc> = { status: 'pending', fireAt: { $lte: now } };
    const cursor = this.timers.find(due, { sort: { fireAt: 1 }, batchSize: Math.min(limit, MAX_SCAN_BATCH) });
    const lease = (timer: string, epoch: number): TimerLeaseDoc => ({
      _id: timerLeaseId(timer, epoch),
      kind: 'lease',
      timer,
      epoch,
      owner,
      until: now + leaseMs,
    });
    try {
      let batch: TimerDoc[] = [];
      const flush = async (): Promise<void> => {
        const wanted = batch.slice(0, limit - claimed.size);
        batch = [];
        const first = wanted.map((t) => lease(t._id, 1));
        const leasedBefore: TimerDoc[] = [];
        for (const [i, won] of (await this.insertLeases(first)).entries()) {
          const timer = wanted[i] as TimerDoc;
          if (won) claimed.set(timer._id, { timer, lease: first[i] as TimerLeaseDoc });
          else leasedBefore.push(timer);
        }
        if (leasedBefore.length === 0) return;
        // Mostly held by a live claimer; the expired ones take the next epoch.
        const current = await this.currentLeases(leasedBefore.map((d) => d._id));
        const expired = leasedBefore
          .filter((t) => (current.get(t._id)?.until ?? 0) <= now)
          .slice(0, limit - claimed.size);
        const next = expired.map((t) => lease(t._id, (current.get(t._id)?.epoch ?? 1) + 1));
        for (const [i, won] of (await this.insertLeases(next)).entries()) {
          const timer = expired[i] as TimerDoc;
          if (won) claimed.set(timer._id, { timer, lease: next[i] as TimerLeaseDoc });
        }
      };
      for await (const timer of cursor) {
        if (skip?.(timer)) continue;
        batch.push(timer);
        if (batch.length >= limit - claimed.size) await flush();
        if (claimed.size >= limit) break;
      }
      if (batch.length > 0 && claimed.size < limit) await flush();
    } finally {
      await cursor.close();
    }
    if (claimed.size === 0) return [];
    // A cancel may have landed while we claimed: hand out only timers not cancelled. The status
    // comes first, as FerretDB (PostgreSQL backend) pushes an equality down and then tests `$in`
    // only on cancelled timers; an `$in` first is tested on every document.
    const cancelled = new Set(
      (
        await this.timers
          .find({ status: 'cancelled', _id: { $in: [...claimed.keys()] } }, { projection: { _id: 1 } })
          .toArray()
      ).map((d) => d._id),
    );
    return [...claimed.values()]
      .filter((c) => !cancelled.has(c.timer._id))
      .sort((a, b) => compareFiringOrder(a.timer, b.timer))
      .map((c) => fromTimerDoc(c.timer, c.lease));
  }

  /** Inserts leases in one unordered insert; true for each one stored, false where another claimer won. */
  private async insertLeases(leases: TimerLeaseDoc[]): Promise<boolean[]> {
    const won = leases.map(() => true);
    if (leases.length === 0) return won;
    try {
      await this.leases.insertMany(leases, { ordered: false });
    } catch (err) {
      for (const i of duplicateIndexesOrThrow(err, leases.length)) won[i] = false;
    }
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
   * markFired() for many timers of one claim, by one update per 2,500; resolves with how many it
   * marked. A timer whose claim's lease is still live at `now` is `owner`'s (no one may claim it
   * before its lease ends); one past its lease is probed for a later epoch, and left alone if taken.
   * Where conditional updates are not atomic (FerretDB 1.x) a cancel racing the update can still
   * be overwritten, as with markFired; the status filter makes the window one command's.
   */
  async markFiredMany(timers: readonly FiredTimer[], owner: string, now: Millis): Promise<number> {
    const ids: string[] = [];
    for (const t of timers) {
      const _id = timerId(t.runId, t.timerSeq);
      if (t.leaseEpoch !== undefined && t.leaseUntil !== undefined && t.leaseUntil > now) ids.push(_id);
      else if (await this.markFiredAllowed(_id, owner, t.leaseEpoch)) ids.push(_id);
    }
    let marked = 0;
    // In chunks, so a long mark that stops early (shutdown, failure) has kept what it did.
    for (let i = 0; i < ids.length; i += MARK_CHUNK) {
      const chunk = ids.slice(i, i + MARK_CHUNK);
      // Status first: see claimDue.
      const res = await this.timers.updateMany(
        { status: 'pending', _id: { $in: chunk } },
        { $set: { status: 'fired' } },
      );
      marked += res.modifiedCount;
    }
    return marked;
  }

  /** The earliest time a pending timer becomes claimable: its fireAt, or the end of its lease. */
  async nextDue(): Promise<Millis | undefined> {
    const earliest = await this.timers
      .find({ status: 'pending' }, { sort: { fireAt: 1 }, limit: NEXT_DUE_SAMPLE, projection: { fireAt: 1 } })
      .toArray();
    if (earliest.length === 0) return undefined;
    const leases = await this.currentLeases(earliest.map((d) => d._id));
    let next = Number.POSITIVE_INFINITY;
    for (const d of earliest) next = Math.min(next, Math.max(d.fireAt, leases.get(d._id)?.until ?? 0));
    return next;
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

  /** A timer's highest-epoch lease, probed by `_id` (epochs start at 1 and have no holes). */
  private async currentLease(timer: string): Promise<TimerLeaseDoc | undefined> {
    let current: TimerLeaseDoc | undefined;
    for (let epoch = 1; ; epoch++) {
      const lease = await this.leases.findOne({ _id: timerLeaseId(timer, epoch) });
      if (!lease) return current;
      current = lease;
    }
  }

  /** The highest-epoch lease of each timer that has one, by one query (a scan on FerretDB 1.x). */
  private async currentLeases(ids: string[]): Promise<Map<string, TimerLeaseDoc>> {
    const current = new Map<string, TimerLeaseDoc>();
    if (ids.length === 0) return current;
    for await (const lease of this.leases.find({ timer: { $in: ids } })) {
      const seen = current.get(lease.timer);
      if (!seen || lease.epoch > seen.epoch) current.set(lease.timer, lease);
    }
    return current;
  }
}

function pendingDoc(t: TimerSchedule): TimerDoc {
  return {
    _id: timerId(t.runId, t.timerSeq),
    runId: t.runId,
    workflowId: t.workflowId,
    timerSeq: t.timerSeq,
    fireAt: t.fireAt,
    status: 'pending',
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
