import { describe, expect, it } from 'vitest';
import { forEachLimited } from '../../../shared/concurrency.js';

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
