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
 * epochs `<timerId>@1`, `@2`, ... Only the periodic claimDue and nextDue scan.
 */
import type { Collection, Filter } from 'mongodb';
import { forEachLimited } from '../concurrency.js';
import type { Millis } from '../history/events.js';
import { fromTimerDoc, type TimerDoc, type TimerLeaseDoc, timerId, timerLeaseId } from './documents.js';
import { isDuplicateKeyError } from './errors.js';
import type { ServerProfile } from './server-profile.js';
import type { TimerRecord } from './types.js';

/** Due timers read per round while looking for unleased ones. */
const SCAN_BATCH = 100;
/** Lease inserts in flight at once while claiming. */
const LEASE_CONCURRENCY = 16;
/** Earliest pending timers examined by nextDue. */
const NEXT_DUE_SAMPLE = 50;

type AnyTimerDoc = TimerDoc | TimerLeaseDoc;

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

  async schedule(t: { runId: string; workflowId: string; timerSeq: number; fireAt: Millis }): Promise<void> {
    const doc: TimerDoc = {
      _id: timerId(t.runId, t.timerSeq),
      runId: t.runId,
      workflowId: t.workflowId,
      timerSeq: t.timerSeq,
      fireAt: t.fireAt,
      status: 'pending',
    };
    try {
      await this.timers.insertOne(doc);
    } catch (err) {
      // Already scheduled (a redelivery), fired, or cancelled (maybe by an early cancel): keep it.
      if (!isDuplicateKeyError(err)) throw err;
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

  async claimDue(now: Millis, owner: string, leaseMs: number, limit: number): Promise<TimerRecord[]> {
    if (limit <= 0) return [];
    const claimed = new Map<string, { timer: TimerDoc; lease: TimerLeaseDoc }>();
    const due: Filter<TimerDoc> = { status: 'pending', fireAt: { $lte: now } };
    const cursor = this.timers.find(due, { sort: { fireAt: 1 }, batchSize: SCAN_BATCH });
    try {
      let batch: TimerDoc[] = [];
      const flush = async (): Promise<void> => {
        // Timers never leased take epoch 1 in one insert each; the rest have their current
        // leases read in one query, as a lease held by a live claimer is the common case there.
        const leasedBefore: TimerDoc[] = [];
        for (let i = 0; i < batch.length && claimed.size < limit; ) {
          const wanted = batch.slice(i, i + limit - claimed.size);
          i += wanted.length;
          await forEachLimited(wanted, LEASE_CONCURRENCY, async (timer) => {
            const lease = await this.tryLease(timer._id, 1, now, owner, leaseMs);
            if (lease) claimed.set(timer._id, { timer, lease });
            else leasedBefore.push(timer);
          });
        }
        batch = [];
        if (leasedBefore.length === 0) return;
        const leases = await this.currentLeases(leasedBefore.map((d) => d._id));
        for (const timer of leasedBefore) {
          if (claimed.size >= limit) break;
          const current = leases.get(timer._id);
          if (current && current.until > now) continue; // held by a live lease
          const lease = await this.tryLease(timer._id, (current?.epoch ?? 1) + 1, now, owner, leaseMs);
          if (lease) claimed.set(timer._id, { timer, lease });
        }
      };
      for await (const timer of cursor) {
        batch.push(timer);
        if (batch.length >= SCAN_BATCH) await flush();
        if (claimed.size >= limit) break;
      }
      if (batch.length > 0 && claimed.size < limit) await flush();
    } finally {
      await cursor.close();
    }
    if (claimed.size === 0) return [];
    // A cancel may have landed while we claimed: hand out only timers still pending.
    const stillPending = new Set(
      (
        await this.timers
          .find({ _id: { $in: [...claimed.keys()] }, status: 'pending' }, { projection: { _id: 1 } })
          .toArray()
      ).map((d) => d._id),
    );
    // Earliest first, as scanned (leases were taken concurrently).
    return [...claimed.values()]
      .filter((c) => stillPending.has(c.timer._id))
      .sort((a, b) => a.timer.fireAt - b.timer.fireAt || (a.timer._id < b.timer._id ? -1 : 1))
      .map((c) => fromTimerDoc(c.timer, c.lease));
  }

  /** Inserts lease `epoch` of a timer; undefined when another claimer took that epoch first. */
  private async tryLease(
    timer: string,
    epoch: number,
    now: Millis,
    owner: string,
    leaseMs: number,
  ): Promise<TimerLeaseDoc | undefined> {
    const lease: TimerLeaseDoc = {
      _id: timerLeaseId(timer, epoch),
      kind: 'lease',
      timer,
      epoch,
      owner,
      until: now + leaseMs,
    };
    try {
      await this.leases.insertOne(lease);
      return lease;
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
      return undefined;
    }
  }

  /**
   * Marks a timer fired if `owner` still holds it. With the `leaseEpoch` the claim handed out,
   * holding it means no later epoch exists (one probe); without, the current lease is probed.
   */
  async markFired(runId: string, timerSeq: number, owner: string, leaseEpoch?: number): Promise<boolean> {
    const _id = timerId(runId, timerSeq);
    if (leaseEpoch !== undefined) {
      if (await this.leases.findOne({ _id: timerLeaseId(_id, leaseEpoch + 1) }, { projection: { _id: 1 } })) {
        return false;
      }
    } else {
      const lease = await this.currentLease(_id);
      if (!lease || lease.owner !== owner) return false;
    }
    if ((await this.profile()).idFiltersOnly) {
      const timer = await this.timers.findOne({ _id }, { projection: { status: 1 } });
      if (timer?.status !== 'pending') return false;
    }
    const res = await this.timers.updateOne(await this.pendingFilter(_id), { $set: { status: 'fired' } });
    return res.modifiedCount === 1;
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
