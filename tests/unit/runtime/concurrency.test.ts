import { describe, expect, it } from 'vitest';
import { forEachLimited, settleLimited } from '../../../shared/concurrency.js';

describe('forEachLimited', () => {
  it('visits every item once with at most `limit` calls in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setImmediate(r));
      seen.push(n);
      inFlight--;
    });
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(3);
  });

  it('rejects with the first failure, and does nothing for no items', async () => {
    await expect(
      forEachLimited([1, 2, 3], 2, async (n) => {
        if (n === 2) throw new Error('item 2 failed');
      }),
    ).rejects.toThrow('item 2 failed');
    await expect(forEachLimited([], 4, async () => undefined)).resolves.toBeUndefined();
  });
});

describe('settleLimited', () => {
  it('runs every item with at most `limit` in flight and reports each outcome in order', async () => {
    let inFlight = 0;
    let most = 0;
    const results = await settleLimited([1, 2, 3, 4, 5], 2, async (n) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      if (n % 2 === 0) throw new Error(`item ${n} failed`);
    });
    expect(most).toBe(2);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[3] as PromiseRejectedResult).reason).toEqual(new Error('item 4 failed'));
    expect(await settleLimited([], 3, async () => undefined)).toEqual([]);
  });
});
