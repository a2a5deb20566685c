/** The router's options: Partial<RouterOptions> merged over the defaults, once. */
import { describe, expect, it } from 'vitest';
import { cacheLimits, compileRouterOptions, defaultRouterOptions } from '../../../services/router/options.js';
import type { Bus } from '../../../shared/bus/connect.js';
import { systemClock } from '../../../shared/clock.js';
import { WorkflowRegistry } from '../../../shared/engine/index.js';
import { steps } from './over-memory.js';

describe('router options', () => {
  it('default every field but the workflows', () => {
    expect(defaultRouterOptions()).toMatchObject({
      natsUrl: 'nats://127.0.0.1:4222',
      mongoUrl: 'mongodb://127.0.0.1:27017',
      prefix: 'squall',
      dbName: 'squall',
      clock: systemClock,
      maxInFlight: 1024,
      maxInputBytes: 262_144,
      upkeepIntervalMs: 5_000,
      summaryDelayMs: 1000,
      runCacheSize: 10_000,
      runCacheBytes: 0,
      runCacheTtlMs: 0,
      ackWaitMs: 30_000,
      requireOpenRunVersions: true,
    });
  });

  it('merge what is given over the defaults, skipping undefined, and build the registry and id', () => {
    const o = compileRouterOptions({ workflows: [steps], prefix: undefined, upkeepIntervalMs: 300 });
    expect(o.prefix).toBe('squall');
    expect(o.upkeepIntervalMs).toBe(300);
    expect(o.workflows).toBeInstanceOf(WorkflowRegistry);
    expect(o.workflows.names()).toEqual(['steps']);
    expect(o.id).toMatch(/^router-[0-9a-f]{8}$/);
    expect(compileRouterOptions({ workflows: [steps], id: 'r1' }).id).toBe('r1');
  });

  it("take a given bus's prefix unless one is given", () => {
    const bus = { prefix: 'acme' } as Bus;
    expect(compileRouterOptions({ workflows: [steps], bus }).prefix).toBe('acme');
    expect(compileRouterOptions({ workflows: [steps], bus, prefix: 'other' }).prefix).toBe('other');
  });

  it('lift the count bound when only a byte budget is given, and keep both when both are', () => {
    expect(compileRouterOptions({ workflows: [steps] }).runCacheSize).toBe(10_000);
    const bytesOnly = compileRouterOptions({ workflows: [steps], runCacheBytes: 64 * 1024 * 1024 });
    expect(bytesOnly.runCacheSize).toBe(Number.POSITIVE_INFINITY);
    expect(cacheLimits(bytesOnly)).toEqual({ maxRuns: null, maxBytes: 67_108_864, ttlMs: null });
    const both = compileRouterOptions({ workflows: [steps], runCacheBytes: 1_000, runCacheSize: 5, runCacheTtlMs: 10 });
    expect(cacheLimits(both)).toEqual({ maxRuns: 5, maxBytes: 1_000, ttlMs: 10 });
  });

  it('refuse a cache bound that is not a whole number of at least 0, naming the option', () => {
    for (const [key, value] of [
      ['runCacheBytes', -1],
      ['runCacheSize', 1.5],
      ['runCacheTtlMs', Number.NaN],
    ] as const) {
      expect(() => compileRouterOptions({ workflows: [steps], [key]: value })).toThrow(
        expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining(`router ${key} must be`) }),
      );
    }
  });
});
