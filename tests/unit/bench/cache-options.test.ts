/** The `cache` bench scenario's flags: defaults, overrides, and clear refusals. */
import { describe, expect, it } from 'vitest';
import { cacheOptions } from '../../../bench/scenarios/cache.js';

describe('cache scenario options', () => {
  it('defaults to 50,000 waiting runs under 64 MiB, and takes overrides', () => {
    expect(cacheOptions({})).toEqual({ runs: 50_000, cacheMb: 64, concurrency: 256 });
    expect(cacheOptions({ runs: '3000', 'cache-mb': '8', 'cache-runs': '0' })).toEqual({
      runs: 3000,
      cacheMb: 8,
      concurrency: 256,
      cacheRuns: 0,
    });
  });

  it('refuses unknown flags and values that are not whole numbers, naming the flag', () => {
    expect(() => cacheOptions({ rnus: '10' })).toThrow(/unknown flag --rnus; known: --runs/);
    expect(() => cacheOptions({ 'cache-mb': '0' })).toThrow(/--cache-mb must be a positive integer, got 0/);
    expect(() => cacheOptions({ runs: true })).toThrow(/--runs must be a positive integer, got true/);
    expect(() => cacheOptions({ 'cache-runs': '-1' })).toThrow(/--cache-runs must be a whole number, got -1/);
  });
});
