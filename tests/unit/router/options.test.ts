/** The router's options: Partial<RouterOptions> merged over the defaults, once. */
import { describe, expect, it } from 'vitest';
import { compileRouterOptions, defaultRouterOptions } from '../../../services/router/options.js';
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
});
