import { describe, expect, it } from 'vitest';
import { Semaphore } from '../../../services/common/semaphore.js';
import { backoffDelay, retryWithBackoff } from '../../../shared/bus/backoff.js';

describe('backoff', () => {
  it('is fully jittered under an exponential, capped ceiling', () => {
    expect(backoffDelay(0, {}, () => 0.999)).toBe(99);
    expect(backoffDelay(3, {}, () => 0.5)).toBe(400);
    expect(backoffDelay(30, {}, () => 0.999)).toBe(14_985);
    expect(backoffDelay(5, {}, () => 0)).toBe(0);
  });

  it('retries retryable failures until success and rethrows others at once', async () => {
    let calls = 0;
    const value = await retryWithBackoff(
      async () => {
        calls++;
        if (calls < 3) throw new Error('flaky');
        return 'ok';
      },
      { isRetryable: () => true, initialMs: 1 },
    );
    expect([value, calls]).toEqual(['ok', 3]);
    await expect(
      retryWithBackoff(async () => Promise.reject(new Error('fatal')), { isRetryable: () => false }),
    ).rejects.toThrow('fatal');
  });

  it('gives up at the deadline', async () => {
    await expect(
      retryWithBackoff(async () => Promise.reject(new Error('down')), { isRetryable: () => true, deadlineMs: 50 }),
    ).rejects.toThrow('down');
  });
});

describe('Semaphore', () => {
  it('whenFree waits, taking nothing, until a permit is free and nobody waits for one', async () => {
    const sem = new Semaphore(1);
    expect(await sem.whenFree()).toBe(true);
    expect(sem.free).toBe(1);
    await sem.acquire();
    let free = false;
    const watching = sem.whenFree().then((v) => {
      free = v;
    });
    const waiter = sem.acquire();
    sem.release(); // to the waiter: still none free
    expect(await waiter).toBe(true);
    await Promise.resolve();
    expect(free).toBe(false);
    sem.release();
    await watching;
    expect(free).toBe(true);
    expect(sem.free).toBe(1);
    await sem.acquire();
    const ac = new AbortController();
    const aborted = sem.whenFree(ac.signal);
    ac.abort();
    expect(await aborted).toBe(false);
  });

  it('hands permits to waiters in order and never exceeds capacity', async () => {
    const sem = new Semaphore(2);
    expect(await sem.acquire()).toBe(true);
    expect(sem.tryAcquireUpTo(5)).toBe(1);
    const order: number[] = [];
    const a = sem.acquire().then(() => order.push(1));
    const b = sem.acquire().then(() => order.push(2));
    expect(sem.tryAcquireUpTo(1)).toBe(0);
    sem.release();
    sem.release();
    await Promise.all([a, b]);
    expect(order).toEqual([1, 2]);
    expect(sem.free).toBe(0);
    sem.release(2);
    expect(sem.free).toBe(2);
    expect(() => sem.release()).toThrow();
  });

  it('stops waiting when aborted', async () => {
    const sem = new Semaphore(1);
    await sem.acquire();
    const ac = new AbortController();
    const waiting = sem.acquire(ac.signal);
    ac.abort();
    expect(await waiting).toBe(false);
    sem.release();
    expect(sem.free).toBe(1);
  });
});
