/**
 * The timer walk's stored position (TimerWalkerDoc), and the one-time start of a walk on a store
 * that has none: a new store, or one written before timers had buckets.
 *
 * That start reads every pending timer once (the only read of all of them), gives a bucket to each
 * that has none (scheduleBucket of its fireAt at that moment, so one long overdue is due at once
 * rather than walked to), and stores the position: the oldest pending bucket, or the oldest bucket
 * a settle read is due for, whichever is earlier. Later starts read the position alone.
 */
import type { Collection } from 'mongodb';
import type { Millis } from '../history/events.js';
import { TIMER_WALKER_ID, type TimerDoc, type TimerWalkerDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';
import { BUCKET_MS, lastSettleable, scheduleBucket } from './timer-walk.js';

/** Timers given their bucket by one updateMany in the migration (smaller groups: one update each by `_id`). */
const MIGRATE_MANY_MIN = 32;
/** Most ids in one migration updateMany. */
const MIGRATE_CHUNK = 2_500;

/** Reads and advances the walk's stored low-water mark. */
export class TimerPosition {
  /** The low-water mark last read or written (writes only move it forward from here). */
  #stored: Millis | undefined;

  constructor(
    private readonly timers: Collection<TimerDoc>,
    private readonly walkers: Collection<TimerWalkerDoc>,
  ) {}

  /** The stored low-water mark; on a store without one, migrates its pending timers and stores it. */
  async load(now: Millis): Promise<Millis> {
    const doc = await this.walkers.findOne({ _id: TIMER_WALKER_ID });
    if (doc && doc.bucketMs === BUCKET_MS) {
      this.#stored = doc.low;
      return doc.low;
    }
    // Walked with another bucket width: every pending timer gets a bucket of this one.
    const low = Math.min(await this.migrate(now, doc !== null), lastSettleable(now));
    if (doc) {
      await this.walkers.updateOne({ _id: TIMER_WALKER_ID }, { $set: { low, bucketMs: BUCKET_MS } });
      this.#stored = low;
      return low;
    }
    try {
      await this.walkers.insertOne({ _id: TIMER_WALKER_ID, kind: 'walker', low, bucketMs: BUCKET_MS });
      this.#stored = low;
      return low;
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
    // Another service started the walk meanwhile: the earlier of the two positions holds for both.
    await this.walkers.updateOne({ _id: TIMER_WALKER_ID, low: { $gt: low } }, { $set: { low } });
    const theirs = await this.walkers.findOne({ _id: TIMER_WALKER_ID });
    this.#stored = Math.min(low, theirs?.low ?? low);
    return this.#stored;
  }

  /**
   * Stores `low` when it is past the stored mark. Where conditional updates are not atomic
   * (FerretDB 1.x) two services can leave an older mark behind: a restart then re-reads a few
   * buckets, as every mark ever written was true when written and stays true.
   */
  async advance(low: Millis): Promise<void> {
    if (this.#stored !== undefined && low <= this.#stored) return;
    await this.walkers.updateOne({ _id: TIMER_WALKER_ID, low: { $lt: low } }, { $set: { low } });
    this.#stored = low;
  }

  /**
   * Gives every pending timer without a bucket (`all`: every pending timer) one; resolves with the
   * oldest pending bucket (Infinity: none).
   */
  private async migrate(now: Millis, all: boolean): Promise<Millis> {
    const groups = new Map<Millis, string[]>();
    let oldest = Number.POSITIVE_INFINITY;
    const pending = this.timers.find(
      { status: 'pending' },
      { projection: { _id: 1, fireAt: 1, bucket: 1 }, batchSize: 5_000 },
    );
    for await (const t of pending) {
      if (t.bucket !== undefined && !all) {
        oldest = Math.min(oldest, t.bucket);
        continue;
      }
      const bucket = scheduleBucket(t.fireAt, now);
      oldest = Math.min(oldest, bucket);
      const ids = groups.get(bucket);
      if (ids) ids.push(t._id);
      else groups.set(bucket, [t._id]);
    }
    for (const [bucket, ids] of groups) {
      if (ids.length >= MIGRATE_MANY_MIN) {
        for (let i = 0; i < ids.length; i += MIGRATE_CHUNK) {
          await this.timers.updateMany({ _id: { $in: ids.slice(i, i + MIGRATE_CHUNK) } }, { $set: { bucket } });
        }
      } else {
        for (const _id of ids) await this.timers.updateOne({ _id }, { $set: { bucket } });
      }
    }
    return oldest;
  }
}
