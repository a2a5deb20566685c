import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HeartbeatRelay, type HeartbeatRelayOptions } from '../../../services/executor/heartbeats.js';
import type { ActivityUpdateMessage } from '../../../shared/bus/messages.js';
import type { Clock } from '../../../shared/clock.js';
import { silentLogger } from '../../../shared/log.js';

const ref = { runId: 'run1', workflowId: 'wf1', activitySeq: 2, attempt: 1 };

/** A relay on fake timers, whose clock is the fake timers' clock, recording what it sends. */
function relay(over: Partial<HeartbeatRelayOptions> = {}): {
  relay: HeartbeatRelay;
  reports: Array<{ update: ActivityUpdateMessage; n: number }>;
  working: { count: number };
} {
  const reports: Array<{ update: ActivityUpdateMessage; n: number }> = [];
  const working = { count: 0 };
  const clock: Clock = { now: () => Date.now() }; // faked by vi.useFakeTimers
  const r = new HeartbeatRelay({
    ref,
    working: () => {
      working.count++;
    },
    publish: async (update, n) => {
      reports.push({ update, n });
    },
    reportToRouter: true,
    heartbeatTimeoutMs: 1_000,
    ackWaitMs: 30_000,
    maxThrottleMs: 30_000,
    clock,
    log: silentLogger,
    ...over,
  });
  return { relay: r, reports, working };
}

describe('HeartbeatRelay', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reports the first heartbeat at once, then at most one per interval with the latest details', () => {
    const { relay: r, reports } = relay(); // interval: 80% of 1 s
    r.start();
    r.beat({ page: 1 });
    expect(reports).toEqual([{ update: { ...ref, update: 'heartbeat', details: { page: 1 } }, n: 1 }]);
    r.beat({ page: 2 });
    r.beat({ page: 3 });
    vi.advanceTimersByTime(799);
    expect(reports).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(reports.map((x) => [x.n, x.update.details])).toEqual([
      [1, { page: 1 }],
      [2, { page: 3 }],
    ]);
    expect(r.details).toEqual({ value: { page: 3 } });
    r.stop();
  });

  it('sends nothing to the router unless the task asked for its start to be reported', () => {
    const { relay: r, reports } = relay({ reportToRouter: false });
    r.beat('x');
    vi.advanceTimersByTime(5_000);
    expect(reports).toEqual([]);
    expect(r.details).toEqual({ value: 'x' });
  });

  it('keeps the task alive every third of the ack wait until stopped', () => {
    const { relay: r, working } = relay({ ackWaitMs: 3_000 });
    r.start();
    vi.advanceTimersByTime(3_000);
    expect(working.count).toBe(3);
    r.stop();
    vi.advanceTimersByTime(3_000);
    expect(working.count).toBe(3);
  });

  it('marks the task working on a heartbeat at most once per throttle gap', () => {
    const { relay: r, working } = relay({ reportToRouter: false });
    r.beat(); // the gap counts from the start of the attempt
    expect(working.count).toBe(0);
    vi.advanceTimersByTime(1_000);
    r.beat();
    r.beat();
    expect(working.count).toBe(1);
    vi.advanceTimersByTime(999);
    r.beat();
    expect(working.count).toBe(1);
    vi.advanceTimersByTime(1);
    r.beat();
    expect(working.count).toBe(2);
  });

  it('schedules no report once muted or stopped; a stopped relay drops its pending report', () => {
    const { relay: r, reports } = relay();
    r.beat(1);
    r.beat(2); // pending, due in 800 ms
    r.stop();
    vi.advanceTimersByTime(5_000);
    r.beat(3);
    expect(reports.map((x) => x.n)).toEqual([1]);

    const muted = relay();
    muted.relay.mute();
    muted.relay.beat(1);
    expect(muted.reports).toEqual([]);
  });
});
