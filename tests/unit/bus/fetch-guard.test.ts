import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FETCH_GUARD_MARGIN_MS, type GuardablePull, guardedFetch, guardPull } from '../../../shared/bus/fetch-guard.js';

/** A pull as the guard sees it: `end()` closes it as the server's 408 (or its last message) would. */
class FakePull implements GuardablePull {
  stopped = 0;
  pending = 0;
  private resolve: () => void = () => undefined;
  private readonly done = new Promise<void>((r) => {
    this.resolve = r;
  });
  stop(): void {
    this.stopped++;
    this.resolve();
  }
  closed(): Promise<void> {
    return this.done;
  }
  getPending(): number {
    return this.pending;
  }
  end(): void {
    this.resolve();
  }
}

describe('guardPull (a pull never outlives its expiry by more than the margin)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('stops a pull the server left hanging past expires + margin, and says so', () => {
    const pull = new FakePull();
    const stalls: number[] = [];
    guardPull(pull, 2_000, FETCH_GUARD_MARGIN_MS, () => stalls.push(Date.now()));
    vi.advanceTimersByTime(2_000 + FETCH_GUARD_MARGIN_MS - 1);
    expect(pull.stopped).toBe(0);
    vi.advanceTimersByTime(1);
    expect(pull.stopped).toBe(1);
    expect(stalls).toHaveLength(1);
  });

  it('leaves alone a pull that ended in time', async () => {
    const pull = new FakePull();
    guardPull(pull, 2_000);
    pull.end();
    await Promise.resolve();
    vi.advanceTimersByTime(10_000);
    expect(pull.stopped).toBe(0);
  });

  it('never stops a pull whose loop still holds delivered messages; stops it once they are taken', () => {
    const pull = new FakePull();
    pull.pending = 3;
    guardPull(pull, 1_000, 100);
    vi.advanceTimersByTime(1_100 + 100 * 5);
    expect(pull.stopped).toBe(0);
    pull.pending = 0;
    vi.advanceTimersByTime(100);
    expect(pull.stopped).toBe(1);
  });

  it('guardedFetch passes the options through and arms the guard on what fetch returned', async () => {
    const pull = new FakePull();
    const asked: unknown[] = [];
    const consumer = {
      fetch: async (o: unknown) => {
        asked.push(o);
        return pull as unknown as Awaited<ReturnType<Parameters<typeof guardedFetch>[0]['fetch']>>;
      },
    };
    await guardedFetch(consumer, { max_messages: 5, expires: 1_000 });
    expect(asked).toEqual([{ max_messages: 5, expires: 1_000 }]);
    vi.advanceTimersByTime(1_000 + FETCH_GUARD_MARGIN_MS);
    expect(pull.stopped).toBe(1);
  });
});
