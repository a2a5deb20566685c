/**
 * The statechart patterns end to end, services as child processes: a map over 100 items at
 * concurrency 5 whose router is SIGKILLed and restarted midway (every item runs to one recorded
 * result, never more than 5 at once, results in item order), and a wait-for-condition that is
 * satisfied after a few checks, and one that reaches its deadline on the timer service.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SquallClient } from '../../shared/client/index.js';
import type { BatchResult, WaitResult } from '../../shared/engine/patterns/index.js';
import type { HistoryEvent } from '../../shared/history/events.js';
import { waitFor } from '../harness/index.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { type ServiceEnv, type ServiceProcess, startEngine, startService } from './processes.js';

const FIXTURES = {
  workflows: 'tests/fixtures/patterns/workflows.ts',
  activities: 'tests/fixtures/patterns/activities.ts',
} as const;

let env: ServiceEnv;
let client: SquallClient;
let router: ServiceProcess;

beforeAll(async () => {
  ({ env, client, router } = await startEngine({ ...FIXTURES, executorArgs: ['--concurrency', '16'] }));
});

/** Most activities scheduled and not yet finished at any point of the history. */
function mostInFlight(events: readonly HistoryEvent[]): number {
  const open = new Set<number>();
  let most = 0;
  for (const e of events) {
    if (e.type === 'ActivityScheduled') open.add(e.activitySeq);
    if ((e.type === 'ActivityCompleted' || e.type === 'ActivityFailed') && !e.ignored) open.delete(e.activitySeq);
    if (e.type === 'ActivityCancelled') open.delete(e.activitySeq);
    most = Math.max(most, open.size);
  }
  return most;
}

describe('map and wait-for-condition', () => {
  it('a map over 100 items at concurrency 5 survives a router SIGKILL and restart midway', async () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    await client.start('squareAll', { items }, { workflowId: 'map-100' });
    let before = 0;
    await waitFor(
      'a third of the items to finish',
      async () => {
        const events = await eventsOf(client, 'map-100');
        before = ofType(events, 'ActivityCompleted').length;
        return before >= 30;
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(before).toBeLessThan(100);
    router.kill('SIGKILL');
    await router.exited;
    router = await startService('router-2', ['router', '--workflows', FIXTURES.workflows], env);

    const out = await client.result<BatchResult<{ n: number; square: number }>>('map-100', { timeoutMs: 90_000 });
    expect(out.status).toBe('succeeded');
    expect(out.counts).toEqual({
      total: 100,
      started: 100,
      succeeded: 100,
      failed: 0,
      running: 0,
      cancelled: 0,
      notStarted: 0,
    });
    expect(out.results).toEqual(items.map((n) => ({ n, square: n * n })));
    const events = await eventsOf(client, 'map-100');
    const scheduled = ofType(events, 'ActivityScheduled');
    expect(scheduled).toHaveLength(100);
    expect(new Set(scheduled.map((e) => e.invokeId)).size).toBe(100);
    expect(ofType(events, 'ActivityCompleted').filter((e) => !e.ignored)).toHaveLength(100);
    expect(mostInFlight(events)).toBe(5);
    expect(ofType(events, 'RunCompleted')).toHaveLength(1);
    // Results the dead router had taken but not acked come back after the consumer's 30 s ack wait.
  }, 120_000);

  it('wait-for-condition: satisfied at the third check, after backing off 100 then 200 ms', async () => {
    await client.start('awaitJob', { readyAt: 3 }, { workflowId: 'wait-ready' });
    const out = await client.result<WaitResult<{ ready: boolean; check: number }>>('wait-ready', {
      timeoutMs: 30_000,
    });
    expect(out).toEqual({ status: 'satisfied', checks: 3, output: { ready: true, check: 3 }, error: null });
    const events = await eventsOf(client, 'wait-ready');
    const machineTimers = ofType(events, 'TimerScheduled').filter((t) => t.purpose === undefined);
    expect(machineTimers.map((t) => t.delayMs)).toEqual([1500, 100, 200]);
    expect(ofType(events, 'TimerCancelled')).toHaveLength(1);
  });

  it('wait-for-condition reaches its deadline: the run leaves for onTimeout after 1.5 s', async () => {
    await client.start('awaitJob', {}, { workflowId: 'wait-timeout' });
    const out = await client.result<WaitResult<{ ready: boolean; check: number }>>('wait-timeout', {
      timeoutMs: 30_000,
    });
    expect(out.status).toBe('timedOut');
    expect(out.output).toMatchObject({ ready: false });
    // Checks at about 0, 100, 300, 700 and 1100 ms; the deadline fires during the next sleep.
    expect(out.checks).toBeGreaterThanOrEqual(3);
    const events = await eventsOf(client, 'wait-timeout');
    const started = ofType(events, 'RunStarted')[0]!;
    const completed = ofType(events, 'RunCompleted')[0]!;
    expect(completed.at - started.at).toBeGreaterThanOrEqual(1500);
    const deadline = ofType(events, 'TimerScheduled').find((t) => t.delayMs === 1500);
    expect(ofType(events, 'TimerFired').map((f) => f.timerSeq)).toContain(deadline?.timerSeq);
    // A check still running at the deadline was cancelled; every other one finished.
    expect(ofType(events, 'ActivityScheduled').length - ofType(events, 'ActivityCancelled').length).toBe(out.checks);
  });
});
