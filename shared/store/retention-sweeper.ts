/**
 * The retention sweeper over MongoDB collections (the rules are in retention.ts): walks minute
 * buckets from its stored cursor by equality and removes each expired run's history and the
 * chunks of its large payloads.
 */
import type { Collection } from 'mongodb';
import type { Millis } from '../history/events.js';
import { storedCommitCloses } from './commits.js';
import { type CommitDoc, closeConfirmed, type RunDoc } from './documents.js';
import type { StoredPayloads } from './payloads.js';
import { MAX_SWEEP_BUCKETS, type SweepReport, sweepBucketOf } from './retention.js';

/** The sweeper's cursor: the first bucket not yet swept. `_id: 'retention'`. */
export interface SweepCursorDoc {
  _id: string;
  bucket: number;
}

const CURSOR_ID = 'retention';

/** Sweeps expired runs out of one store's collections. */
export class RetentionSweeper {
  constructor(
    private readonly runs: Collection<RunDoc>,
    private readonly commits: Collection<CommitDoc>,
    private readonly payloads: Pick<StoredPayloads, 'commit' | 'deleteRun' | 'stateToSweep'>,
    private readonly cursors: Collection<SweepCursorDoc>,
    private readonly now: () => Millis,
    private readonly tombstone: (state: RunDoc) => Partial<RunDoc>,
  ) {}

  /**
   * Stores the cursor at the current bucket unless one exists. Called at init, before this
   * store writes any summary, so every expiry it writes is at or past the cursor.
   */
  async init(): Promise<void> {
    try {
      await this.cursors.insertOne({ _id: CURSOR_ID, bucket: sweepBucketOf(this.now()) });
    } catch (err) {
      if ((err as { code?: unknown }).code !== 11000) throw err; // 11000 DuplicateKey: it exists
    }
  }

  /**
   * Removes the history of every run expired by now, bucket by bucket from the cursor; moves the
   * cursor past each bucket it emptied (the current one is read again next time).
   */
  async sweep(): Promise<SweepReport> {
    const now = this.now();
    const cursor = await this.cursors.findOne({ _id: CURSOR_ID });
    const current = sweepBucketOf(now);
    let bucket = cursor?.bucket ?? current;
    const report: SweepReport = { swept: 0, buckets: 0, runIds: [] };
    for (; bucket <= current && report.buckets < MAX_SWEEP_BUCKETS; bucket++) {
      report.buckets++;
      const due = await this.runs.find({ sweepBucket: bucket }).toArray();
      for (const run of due) {
        if (run.expireAt === undefined || run.expireAt > now) continue;
        // A close written beside a commit not stored (yet, or ever) is no close: the run is open.
        if (!(await closeConfirmed(run, (id) => storedCommitCloses(this.commits, this.payloads, id)))) {
          continue;
        }
        await this.sweepRun(run);
        report.swept++;
        report.runIds.push(run._id);
      }
      if (bucket === current) break;
      await this.cursors.updateOne({ _id: CURSOR_ID }, { $max: { bucket: bucket + 1 } }, { upsert: true });
    }
    return report;
  }

  /**
   * Four steps, each safe to cut short: the summary becomes a tombstone that keeps its bucket; the
   * commits go (nothing references the run's chunks any more); the chunks go; the bucket goes. Cut
   * short anywhere, the run is still in its bucket and the next sweep finishes it. No reader ever
   * meets a reference whose chunks are gone. The tombstone comes first: a closing summary written
   * beside its commit is trusted only while that commit is there (closeConfirmed), so with the
   * commits gone first, a sweep cut short there would never take the run up again. A tombstone
   * found in its bucket is written again: a summary written over it since (FerretDB writes a
   * closed run's summary unconditionally) may reference chunks of its own.
   */
  private async sweepRun(run: RunDoc): Promise<void> {
    const inBucket = { _id: run._id, sweepBucket: run.sweepBucket };
    const tombstone = this.tombstone(await this.payloads.stateToSweep(run));
    const pending = { ...tombstone, expireAt: run.expireAt, sweepBucket: run.sweepBucket };
    await this.runs.replaceOne(inBucket, pending as RunDoc);
    await this.commits.deleteMany({ runId: run._id });
    await this.payloads.deleteRun(run._id);
    await this.runs.updateOne(inBucket, { $unset: { expireAt: '', sweepBucket: '' } });
  }
}
