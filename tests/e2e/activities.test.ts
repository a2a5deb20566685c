/**
 * Activity semantics end to end: router, executors and timer as separate processes over real
 * NATS and a real MongoDB-protocol server. Retries with growing delays, nonRetryable, retryAfter,
 * the four timeouts, heartbeat checkpoints and cancellation, each read back from history.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { ACTIVITY_FIXTURES, activityNotesDir, eventsOf, notesOf, ofType } from './activities-helpers.js';
import { type ServiceEnv, type ServiceProcess, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
let notes: string;
const executors: ServiceProcess[] = [];

type RunOutput = { output?: Record<string, unknown>; error?: Record<string, unknown>; left?: boolean };

beforeAll(async () => {
  notes = activityNotesDir();
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await Promise.all([
    startService('router', ['router', '--workflows', ACTIVITY_FIXTURES.workflows], env),
    startService('timer', ['timer'], env),
  ]);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

async function startExecutors(n: number): Promise<void> {
  for (let i = executors.length; i < n; i++) {
    executors.push(
      await startService(`executor-${i + 1}`, ['executor', '--activities', ACTIVITY_FIXTURES.activities], env),
    );
  }
}

async function run(type: string, workflowId: string): Promise<RunOutput> {
  await client.start(type, undefined, { workflowId });
  return client.result<RunOutput>(workflowId, { timeoutMs: 40_000 });
}

describe('activities end to end', () => {
  // First, while no executor runs: the task is never picked up.
  it('scheduleToStart: times out while no executor runs, then a retry is taken once one starts', async () => {
    await client.start('unserved', undefined, { workflowId: 'unserved-1' });
    await waitFor(
      'two scheduleToStart timeouts',
      async () => ofType(await eventsOf(client, 'unserved-1'), 'ActivityTimedOut').length >= 2,
      { timeoutMs: 20_000 },
    );
    await startExecutors(2);
    const out = await client.result<RunOutput>('unserved-1', { timeoutMs: 30_000 });
    const events = await eventsOf(client, 'unserved-1');
    const timedOut = ofType(events, 'ActivityTimedOut');
    expect(timedOut.every((e) => e.timeoutType === 'scheduleToStart')).toBe(true);
    expect(timedOut.map((e) => e.attempt)).toEqual(timedOut.map((_, i) => i + 1));
    // The attempt that ran is the one after the last timeout; the older tasks were dropped unrun.
    expect(out.output).toEqual({ attempt: timedOut.length + 1 });
    expect(notesOf(notes, 'unserved-1').map((n) => n.attempt)).toEqual([timedOut.length + 1]);
    expect(ofType(events, 'ActivityCompleted').filter((e) => !e.ignored)).toHaveLength(1);
  });

  it('retries a flaky activity: two failures with growing delays, then the output of attempt 3', async () => {
    await startExecutors(2);
    const out = await run('flaky', 'flaky-1');
    expect(out.output).toEqual({ attempt: 3, key: expect.stringMatching(/^flaky-1\/\d+$/) });
    const events = await eventsOf(client, 'flaky-1');
    expect(ofType(events, 'ActivityFailed')).toMatchObject([
      { attempt: 1, error: { name: 'Error', message: 'flaky: attempt 1 failed' } },
      { attempt: 2, error: { message: 'flaky: attempt 2 failed' } },
    ]);
    const delays = ofType(events, 'TimerScheduled').filter((t) => t.purpose === 'retry');
    expect(delays.map((t) => [t.attempt, t.delayMs])).toEqual([
      [2, 300],
      [3, 600],
    ]);
    const started = notesOf(notes, 'flaky-1');
    expect(started.map((n) => n.attempt)).toEqual([1, 2, 3]);
    expect(started[1]!.at - started[0]!.at).toBeGreaterThanOrEqual(300);
    expect(started[2]!.at - started[1]!.at).toBeGreaterThanOrEqual(600);
  });

  it('a nonRetryable error: one attempt, the machine takes onError with the error kept whole', async () => {
    const out = await run('declines', 'declines-1');
    expect(out.error).toMatchObject({
      name: 'Error',
      message: 'card declined',
      code: 'DECLINED',
      details: { reason: 'funds' },
      retryable: false,
      attempts: 1,
    });
    expect(typeof out.error?.stack).toBe('string');
    expect(notesOf(notes, 'declines-1')).toHaveLength(1);
  });

  it('retryAfter(ms) sets the next delay', async () => {
    const out = await run('throttled', 'throttled-1');
    expect(out.output).toBe('ok');
    const events = await eventsOf(client, 'throttled-1');
    expect(ofType(events, 'ActivityFailed')[0]).toMatchObject({ attempt: 1, retryAfterMs: 1500 });
    expect(ofType(events, 'TimerScheduled').find((t) => t.purpose === 'retry')).toMatchObject({ delayMs: 1500 });
    const [a, b] = notesOf(notes, 'throttled-1');
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(1500);
  });

  it('startToClose: a hanging attempt times out, is aborted, and attempt 2 succeeds', async () => {
    const out = await run('hangs', 'hangs-1');
    expect(out.output).toEqual({ attempt: 2 });
    const events = await eventsOf(client, 'hangs-1');
    expect(ofType(events, 'ActivityTimedOut')).toMatchObject([{ attempt: 1, timeoutType: 'startToClose' }]);
    await waitFor('attempt 1 to see its abort', () =>
      notesOf(notes, 'hangs-1').some((n) => n.kind === 'aborted' && n.attempt === 1),
    );
    // Its late failure is recorded as stale and changes nothing.
    await waitFor('the late result of attempt 1', async () =>
      ofType(await eventsOf(client, 'hangs-1'), 'ActivityFailed').some((e) => e.attempt === 1 && e.ignored === 'stale'),
    );
  });

  it('heartbeat timeout: a silent attempt times out; attempt 2 resumes from its last heartbeat', async () => {
    const out = await run('silent', 'silent-1');
    expect(out.output).toEqual({ attempt: 2, resumedFrom: { step: 5 } });
    const events = await eventsOf(client, 'silent-1');
    expect(ofType(events, 'ActivityTimedOut')).toMatchObject([{ attempt: 1, timeoutType: 'heartbeat' }]);
    expect(ofType(events, 'ActivityHeartbeat')[0]).toMatchObject({ attempt: 1, details: { step: 5 } });
  });

  it('heartbeat details of a failed attempt reach the next one (ctx.lastHeartbeat)', async () => {
    const out = await run('checkpoint', 'checkpoint-1');
    expect(out.output).toEqual({ attempt: 2, resumedFrom: { page: 3 } });
    expect(notesOf(notes, 'checkpoint-1').map((n) => n.lastHeartbeat)).toEqual([undefined, { page: 3 }]);
  });

  it('scheduleToClose ends every attempt: the machine gets the timeout, no further retry', async () => {
    const out = await run('deadline', 'deadline-1');
    expect(out.error).toMatchObject({ name: 'TimeoutError', details: { timeoutType: 'scheduleToClose' } });
    const timedOut = ofType(await eventsOf(client, 'deadline-1'), 'ActivityTimedOut');
    expect(timedOut.at(-1)).toMatchObject({ timeoutType: 'scheduleToClose' });
    expect(timedOut.slice(0, -1).every((e) => e.timeoutType === 'startToClose')).toBe(true);
  });

  it('leaving the state aborts the running activity within a second; its late result is ignored', async () => {
    await client.start('longJob', undefined, { workflowId: 'long-1' });
    await waitFor('the job to start', () => notesOf(notes, 'long-1').length > 0, { timeoutMs: 20_000 });
    await client.signal('long-1', { type: 'leave' });
    await waitFor('the abort', () => notesOf(notes, 'long-1').some((n) => n.kind === 'aborted'), { timeoutMs: 5_000 });
    await waitFor('the late result, recorded as stale', async () =>
      ofType(await eventsOf(client, 'long-1'), 'ActivityCompleted').some((e) => e.ignored === 'stale'),
    );
    const events = await eventsOf(client, 'long-1');
    const [cancelled] = ofType(events, 'ActivityCancelled');
    const aborted = notesOf(notes, 'long-1').find((n) => n.kind === 'aborted')!;
    expect(cancelled).toBeDefined();
    expect(aborted.at - cancelled!.at).toBeLessThan(1000);
    expect((await client.query('long-1')).value).toBe('idle');
    await client.signal('long-1', { type: 'finish' });
    expect(await client.result<RunOutput>('long-1', { timeoutMs: 20_000 })).toEqual({ left: true });
  });
});
