import { describe, expect, it } from 'vitest';
import { compileTimerOptions, defaultTimerOptions } from '../../../services/timer/options.js';
import type { Bus } from '../../../shared/bus/connect.js';
import type { Clock } from '../../../shared/clock.js';
import { systemClock } from '../../../shared/clock.js';

describe('timer options', () => {
  it('defaults every option the service reads', () => {
    const d = defaultTimerOptions();
    expect(d).toMatchObject({
      natsUrl: 'nats://127.0.0.1:4222',
      mongoUrl: 'mongodb://127.0.0.1:27017',
      prefix: 'squall',
      dbName: 'squall',
      leaseMs: 30_000,
      batchSize: 5_000,
      maxSleepMs: 1_000,
      ackWaitMs: 30_000,
    });
    expect(d.clock).toBe(systemClock);
    expect(d.bus).toBeUndefined();
    expect(d.store).toBeUndefined();
  });

  it('merges what is given over the defaults; an undefined value keeps the default', () => {
    const clock: Clock = { now: () => 42 };
    const o = compileTimerOptions({ leaseMs: 5, prefix: undefined, clock, id: 'timer-x' });
    expect(o).toMatchObject({ leaseMs: 5, prefix: 'squall', batchSize: 5_000, id: 'timer-x' });
    expect(o.clock).toBe(clock);
  });

  it('generates an instance id when none is given', () => {
    expect(compileTimerOptions({}).id).toMatch(/^timer-[0-9a-f]{8}$/);
  });

  it("takes the given bus's prefix unless a prefix is given", () => {
    const bus = { prefix: 'tenant1' } as Bus;
    expect(compileTimerOptions({ bus }).prefix).toBe('tenant1');
    expect(compileTimerOptions({ bus, prefix: 'other' }).prefix).toBe('other');
  });
});
