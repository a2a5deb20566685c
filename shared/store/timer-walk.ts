/**
 * The bucket walk of due timers, as pure bookkeeping (no I/O, no clock: `now` is passed in).
 *
 * Every timer document carries `bucket`, the start of the BUCKET_MS-wide window its due time falls
 * in (or a later one, see scheduleBucket). A claim reads whole buckets by equality, the one filter
 * FerretDB 1.24 serves from an index, instead of a due-time range over every pending timer, so its
 * cost follows the timers in the buckets it reads, not all pending ones. Each bucket is read:
 * - **hot**: while it is the current bucket (each claim, as timers come due in it), and once
 *   more when it has fully passed;
 * - **settle**: once, SETTLE_MS after it ended. A schedule whose bucket has begun already is stored
 *   in the current bucket (scheduleBucket), so a bucket that ended SETTLE_MS ago gains no more
 *   timers as long as a schedule's write lands within SETTLE_MS of reading its clock and the timer
 *   services' clocks agree to within that. The settle read claims what the hot reads could not
 *   (a timer scheduled just as its bucket passed, a lease of a service that died);
 * - **stuck**: at every claim after a read of it, once passed, left pending timers in it (another
 *   service's lease, which it takes over when the lease ends, or ours until they are marked).
 *
 * The low-water mark is the oldest bucket that may still hold a pending timer: the earliest stuck
 * bucket, else the next to settle. It is stored (see TimerStore) so a restarted walk begins there.
 */
import type { Millis } from '../history/events.js';

/**
 * Width of a bucket. 5 s: an idle claim reads one bucket, and a day of downtime is 17,280 buckets
 * to catch up (about half a minute of probes on FerretDB at ~1-2 ms each); at 1 s it would be five
 * times that, while wider buckets make the current one, re-read at every claim, larger under load.
 */
export const BUCKET_MS = 5_000;

/** How long after its end a bucket gets its settle read (see the module comment). */
export const SETTLE_MS = 60_000;

/** Most buckets one claim reads: a catch-up walks in steps, so each round stays short. */
export const MAX_BUCKETS_PER_CLAIM = 2_000;

/** The bucket of a due time: the start of its BUCKET_MS-wide window. */
export function bucketOf(at: Millis): Millis {
  return Math.floor(at / BUCKET_MS) * BUCKET_MS;
}

/**
 * The bucket a timer is stored in: its due time's, or the current one (by the scheduler's clock)
 * when that has begun already, so that a timer scheduled into the past, or into a bucket a walk
 * has passed, still lands where a walk reads.
 */
export function scheduleBucket(fireAt: Millis, now: Millis): Millis {
  return Math.max(bucketOf(fireAt), bucketOf(now));
}

/** The last bucket whose settle read is due at `now` (it ended SETTLE_MS ago or more). */
export function lastSettleable(now: Millis): Millis {
  return bucketOf(now - SETTLE_MS) - BUCKET_MS;
}

/** Why a bucket is read (see the module comment). */
export type BucketReadKind = 'stuck' | 'settle' | 'hot';

/** One bucket a claim reads. */
export interface BucketRead {
  bucket: Millis;
  kind: BucketReadKind;
}

/** What a claim found in one bucket. */
export interface BucketOutcome {
  /** Pending timers remain in it (those just claimed too, until they are marked fired). */
  pendingLeft: boolean;
  /** The claim's limit stopped before every claimable timer in it was claimed. */
  cut: boolean;
  /** Earliest time something seen in it becomes claimable (a later fireAt, a lease's end). */
  wakeAt?: Millis | undefined;
}

/** The walk's position: where reads resume and what is known to come due. */
export class TimerWalk {
  #settleNext: Millis;
  #hotNext: Millis;
  readonly #stuck = new Set<Millis>();
  #wakeAt: Millis | undefined;
  #seen = Number.POSITIVE_INFINITY;

  /** A walk from `low`, a stored low-water mark: every bucket from there gets hot and settle reads. */
  constructor(low: Millis) {
    this.#settleNext = bucketOf(low);
    this.#hotNext = bucketOf(low);
  }

  /** The oldest bucket that may still hold a pending timer. */
  get low(): Millis {
    let low = this.#settleNext;
    for (const b of this.#stuck) low = Math.min(low, b);
    return low;
  }

  /**
   * When a claim should look again, from what the last claim read: now when it stopped early, else
   * the earliest of a later fireAt or lease end it saw, the next bucket's start and the next settle
   * read. Undefined before the first claim.
   */
  get wakeAt(): Millis | undefined {
    return this.#wakeAt;
  }

  /**
   * The buckets a claim at `now` reads, oldest first: stuck ones, those due their settle read and
   * those due a hot read, up to the current one. `capped` when MAX_BUCKETS_PER_CLAIM cut the list.
   */
  plan(now: Millis): { reads: BucketRead[]; capped: boolean } {
    const kinds = new Map<Millis, BucketReadKind>();
    for (const b of this.#stuck) kinds.set(b, 'stuck');
    const settleEnd = lastSettleable(now);
    const current = bucketOf(now);
    let capped = false;
    for (let b = this.#settleNext, n = 0; b <= settleEnd && !capped; b += BUCKET_MS, n++) {
      if (n >= MAX_BUCKETS_PER_CLAIM) capped = true;
      else kinds.set(b, 'settle');
    }
    for (let b = Math.max(this.#hotNext, settleEnd + BUCKET_MS), n = 0; b <= current && !capped; b += BUCKET_MS, n++) {
      if (n >= MAX_BUCKETS_PER_CLAIM) capped = true;
      else if (!kinds.has(b)) kinds.set(b, 'hot');
    }
    const reads = [...kinds].sort(([a], [b]) => a - b).map(([bucket, kind]) => ({ bucket, kind }));
    if (reads.length > MAX_BUCKETS_PER_CLAIM) return { reads: reads.slice(0, MAX_BUCKETS_PER_CLAIM), capped: true };
    return { reads, capped };
  }

  /**
   * Records what a read of one bucket found at `now`. A passed bucket that still holds pending
   * timers (another service's lease, or ours until marked) is stuck: read at every claim until it
   * holds none, so a lease that ends is taken over when it ends.
   */
  record(now: Millis, read: BucketRead, outcome: BucketOutcome): void {
    const { bucket, kind } = read;
    if (outcome.wakeAt !== undefined) this.#seen = Math.min(this.#seen, outcome.wakeAt);
    if (kind === 'settle') this.#settleNext = Math.max(this.#settleNext, bucket + BUCKET_MS);
    if (bucket >= bucketOf(now)) {
      // The current bucket: read again at the next claim, as its timers come due.
      this.#hotNext = bucket;
      return;
    }
    if (kind === 'hot') this.#hotNext = Math.max(this.#hotNext, bucket + BUCKET_MS);
    if (outcome.pendingLeft || outcome.cut) this.#stuck.add(bucket);
    else this.#stuck.delete(bucket);
  }

  /** Ends a claim at `now`: `stoppedEarly` when buckets it planned were left unread (limit or cap). */
  finish(now: Millis, stoppedEarly: boolean): void {
    if (stoppedEarly) this.#wakeAt = now;
    else {
      const nextSettle = this.#settleNext + BUCKET_MS + SETTLE_MS;
      this.#wakeAt = Math.min(this.#seen, bucketOf(now) + BUCKET_MS, nextSettle);
    }
    this.#seen = Number.POSITIVE_INFINITY;
  }
}
