/**
 * Groups items that arrive while a write is in flight into the next write: one round trip for
 * many runs under load, no added latency when idle (the first item is written at once).
 */

/** Writes a batch; returns one outcome per item, in order. */
export type BatchWriter<I, R> = (items: I[]) => Promise<R[]>;

interface Pending<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/** Options for a Batcher. */
export interface BatcherOptions {
  /** Most items in one write. @default 256 */
  maxBatch: number;
  /** Writes allowed in flight at once. @default 1 */
  concurrency: number;
  /**
   * Start a write only at the end of the event loop's turn, so the items added while one batch of
   * messages is handled go in one write rather than the first alone (microseconds when idle). Not
   * for callers under fake timers: it waits on setImmediate. @default false
   */
  gatherTurn: boolean;
}

/** A micro-batcher with natural batching: while `concurrency` writes are in flight, items queue. */
export class Batcher<I, R> {
  private queue: Pending<I, R>[] = [];
  private idleWaiters: (() => void)[] = [];
  private inFlight = 0;
  /** A write is due at the end of this turn (gatherTurn). */
  private gathering = false;
  private readonly opts: BatcherOptions;

  constructor(
    private readonly write: BatchWriter<I, R>,
    opts: Partial<BatcherOptions> = {},
  ) {
    this.opts = { maxBatch: 256, concurrency: 1, gatherTurn: false, ...opts };
  }

  /** Adds an item; resolves with its own outcome once its batch is written. */
  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.opts.gatherTurn) this.pump();
      else if (!this.gathering) {
        this.gathering = true;
        setImmediate(() => {
          this.gathering = false;
          this.pump();
        });
      }
    });
  }

  /** Resolves once nothing is queued or being written. */
  async idle(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
      });
    }
  }

  private pump(): void {
    while (this.inFlight < this.opts.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight++;
      void this.flush(batch);
    }
  }

  private async flush(batch: Pending<I, R>[]): Promise<void> {
    try {
      const results = await this.write(batch.map((p) => p.item));
      batch.forEach((p, i) => {
        p.resolve(results[i] as R);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.inFlight--;
      this.pump();
      if (this.inFlight === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
