import { describe, expect, it } from 'vitest';
import {
  compileExecutorOptions,
  defaultExecutorOptions,
  misplacedActivityOptions,
} from '../../../services/executor/options.js';
import type { Bus } from '../../../shared/bus/connect.js';
import { systemClock } from '../../../shared/clock.js';
import { defineActivity } from '../../../shared/engine/activity.js';
import { ConfigError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/log.js';

const echo = (x: unknown): unknown => x;

describe('executor options', () => {
  it('has a default for every option but the activities', () => {
    const d = defaultExecutorOptions();
    expect(d).toMatchObject({
      natsUrl: 'nats://127.0.0.1:4222',
      prefix: 'squall',
      concurrency: 16,
      pollExpiresMs: 5_000,
      ackWaitMs: 30_000,
      heartbeatThrottleMs: 30_000,
      maxDeliveries: 10,
      clock: systemClock,
    });
    expect(d.bus).toBeUndefined();
    expect(d.streams).toBeUndefined();
  });

  it('merges what is given over the defaults; undefined keeps the default', () => {
    const o = compileExecutorOptions({
      activities: { echo },
      concurrency: 4,
      prefix: undefined,
      id: 'exec-1',
      log: silentLogger,
    });
    expect(o).toMatchObject({ concurrency: 4, prefix: 'squall', id: 'exec-1', ackWaitMs: 30_000 });
    expect(o.log).toBe(silentLogger);
  });

  it('draws an id when none is given, and polls for at least a second', () => {
    const o = compileExecutorOptions({ activities: { echo }, pollExpiresMs: 10 });
    expect(o.id).toMatch(/^executor-[0-9a-f]{8}$/);
    expect(o.pollExpiresMs).toBe(1000);
  });

  it("takes the given bus's prefix unless one is given", () => {
    const bus = { prefix: 'tenant-a' } as Bus;
    expect(compileExecutorOptions({ activities: { echo }, bus }).prefix).toBe('tenant-a');
    expect(compileExecutorOptions({ activities: { echo }, bus, prefix: 'other' }).prefix).toBe('other');
  });

  it('turns a map of functions into definitions and keeps definitions as they are', () => {
    const charge = defineActivity('charge', async () => 'ok');
    expect(compileExecutorOptions({ activities: { echo } }).activities.map((d) => d.name)).toEqual(['echo']);
    expect(compileExecutorOptions({ activities: [charge] }).activities).toEqual([charge]);
  });

  it('refuses no activities, a name registered twice, a bad name and a non-definition', () => {
    const a = defineActivity('a', echo);
    expect(() => compileExecutorOptions({ activities: [] })).toThrow(ConfigError);
    expect(() => compileExecutorOptions({ activities: [a, a] })).toThrow(/registered twice/);
    expect(() => compileExecutorOptions({ activities: { 'bad name': echo } })).toThrow();
    const notADefinition = [{ name: 'x' }] as unknown as ReturnType<typeof defineActivity>[];
    expect(() => compileExecutorOptions({ activities: notADefinition })).toThrow(ConfigError);
  });

  it('lists the activity options that belong to the workflow', () => {
    expect(misplacedActivityOptions(defineActivity('a', echo))).toEqual([]);
    const d = defineActivity('b', echo, { startToCloseTimeoutMs: 1000, retry: { maximumAttempts: 2 } });
    expect(misplacedActivityOptions(d).sort()).toEqual(['retry', 'startToCloseTimeoutMs']);
  });
});
