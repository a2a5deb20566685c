/**
 * Durable timers, one document per `(runId, timerSeq)` (`_id: runId:timerSeq`). Timer services
 * lease due timers with a conditional findOneAndUpdate, so two services never hold one timer at
 * once; a lease that expires (its holder died) makes the timer claimable again. Status only moves
 * forward: pending → fired | cancelled. A cancel that arrives before its schedule leaves a
 * cancelled tombstone that the late schedule cannot revive.
 */
import type { Collection, Filter } from 'mongodb';
import type { Millis } from '../history/events.js';
import { fromTimerDoc, type TimerDoc, timerId } from './documents.js';
import { isDuplicateKeyError } from './errors.js';
import type { TimerRecord } from './types.js';

/** Timer operations over one collection. */
export class TimerStore {
  constructor(private readonly timers: Collection<TimerDoc>) {}

  async schedule(t: { runId: string; workflowId: string; timerSeq: number; fireAt: Millis }): Promise<void> {
    const doc: TimerDoc = {
      _id: timerId(t.runId, t.timerSeq),
      runId: t.runId,
      workflowId: t.workflowId,
      timerSeq: t.timerSeq,
      fireAt: t.fireAt,
      status: 'pending',
      leaseUntil: 0,
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
      const res = await this.timers.updateOne({ _id, status: 'pending' }, { $set: { status: 'cancelled' } });
      if (res.matchedCount === 1) return;
      try {
        // Nothing pending: leave a tombstone in case the schedule is still on its way.
        await this.timers.insertOne({
          _id,
          runId,
          workflowId: '',
          timerSeq,
          fireAt: 0,
          status: 'cancelled',
          leaseUntil: 0,
        });
        return;
      } catch (err) {
        if (!isDuplicateKeyError(err)) throw err;
      }
      // The document exists: already fired or cancelled (done), or scheduled just now (try again).
      const existing = await this.timers.findOne({ _id }, { projection: { status: 1 } });
      if (existing?.status !== 'pending') return;
    }
  }

  async claimDue(now: Millis, owner: string, leaseMs: number, limit: number): Promise<TimerRecord[]> {
    const claimed: TimerRecord[] = [];
    const due: Filter<TimerDoc> = { status: 'pending', fireAt: { $lte: now }, leaseUntil: { $lte: now } };
    while (claimed.length < limit) {
      const doc = await this.timers.findOneAndUpdate(
        due,
        { $set: { leaseOwner: owner, leaseUntil: now + leaseMs } },
        { sort: { fireAt: 1 }, returnDocument: 'after' },
      );
      if (!doc) break;
      claimed.push(fromTimerDoc(doc));
    }
    return claimed;
  }

  async markFired(runId: string, timerSeq: number, owner: string): Promise<boolean> {
    const res = await this.timers.updateOne(
      { _id: timerId(runId, timerSeq), status: 'pending', leaseOwner: owner },
      { $set: { status: 'fired' } },
    );
    return res.modifiedCount === 1;
  }

  /** The earliest time a pending timer becomes claimable: its fireAt, or its lease's end. */
  async nextDue(): Promise<Millis | undefined> {
    const [unleased, leased] = await Promise.all([
      this.timers.findOne({ status: 'pending', leaseUntil: 0 }, { sort: { fireAt: 1 }, projection: { fireAt: 1 } }),
      this.timers.findOne(
        { status: 'pending', leaseUntil: { $gt: 0 } },
        { sort: { leaseUntil: 1 }, projection: { leaseUntil: 1 } },
      ),
    ]);
    const times = [unleased?.fireAt, leased?.leaseUntil].filter((t): t is number => t !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  async get(runId: string, timerSeq: number): Promise<TimerRecord | undefined> {
    const d = await this.timers.findOne({ _id: timerId(runId, timerSeq) });
    return d ? fromTimerDoc(d) : undefined;
  }
}
