/** Activity semantics in the pure core: retries, the four timeouts, heartbeats, cancellation, replay. */
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import {
  type ActivityOptions,
  activity,
  decide,
  defineWorkflow,
  nonRetryable,
  replayCommits,
  retryAfter,
} from '../../../shared/engine/index.js';
import type { HistoryEvent, TimerScheduledEvent } from '../../../shared/history/events.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { sequenceWorkflow } from '../../fixtures/workflows.js';

/** One activity `work` (invoke id `w`); `leave` moves on without it; output is what the machine saw. */
function workflow(options: ActivityOptions = {}, extra: { invokes?: Record<string, ActivityOptions> } = {}) {
  return defineWorkflow({
    name: 'act',
    activities: { work: options },
    ...extra,
    machine: setup({
      types: { context: {} as { output?: unknown; error?: unknown } },
      actors: { work: activity<unknown, unknown>() },
    }).createMachine({
      id: 'act',
      context: {},
      initial: 'working',
      states: {
        working: {
          invoke: {
            id: 'w',
            src: 'work',
            onDone: { target: 'done', actions: assign({ output: ({ event }) => event.output }) },
            onError: { target: 'done', actions: assign({ error: ({ event }) => event.error }) },
          },
          on: { leave: 'idle' },
        },
        idle: { on: { finish: 'done' } },
        done: { type: 'final' },
      },
      output: ({ context }) => context,
    }),
  });
}

type History = readonly { events: HistoryEvent[] }[];
const inputs = (history: History) => history.map((c) => c.events[0]!);
const all = (history: History) => history.flatMap((c) => c.events);
const retries = (history: History) =>
  all(history).filter((e): e is TimerScheduledEvent => e.type === 'TimerScheduled' && e.purpose === 'retry');

describe('retry policy', () => {
  it('retries a flaky activity with growing delays until attempt 3 succeeds', async () => {
    const run = await createTestRun(workflow(), {
      activities: { work: (_: unknown, attempt: number) => (attempt < 3 ? new Error(`busy ${attempt}`) : 'ok') },
    });
    expect(run.output).toEqual({ output: 'ok' });
    const failed = inputs(run.history).filter((e) => e.type === 'ActivityFailed');
    expect(failed).toMatchObject([
      { attempt: 1, error: { message: 'busy 1' } },
      { attempt: 2, error: { message: 'busy 2' } },
    ]);
    expect(retries(run.history)).toMatchObject([
      { delayMs: 1000, attempt: 2, sendId: 'squall.activity.1.retry' },
      { delayMs: 2000, attempt: 3 },
    ]);
    expect(run.now).toBe(3000);
    expect(inputs(run.history).at(-1)).toMatchObject({ type: 'ActivityCompleted', attempt: 3 });
    expect(replayCommits(run.definition, run.history)).toEqual(run.state);
  });

  it('publishes each retry as a new task with the next attempt number', async () => {
    const run = await createTestRun(workflow(), { autoRun: false });
    await run.fail('work', new Error('x'));
    const d = await run.apply({ kind: 'timerFired', at: 1000, timerSeq: retries(run.history)[0]!.timerSeq });
    expect(d.commands).toEqual([
      { kind: 'scheduleActivity', activitySeq: 1, activity: 'work', invokeId: 'w', attempt: 2 },
    ]);
    expect(run.pendingActivities()[0]).toMatchObject({ attempt: 2, attemptScheduledAt: 1000 });
  });

  it('a non-retryable error takes onError after one attempt, with the attempt count', async () => {
    const run = await createTestRun(workflow(), {
      activities: { work: () => Promise.reject(nonRetryable(Object.assign(new Error('declined'), { code: 'CARD' }))) },
    });
    expect(run.output).toEqual({
      error: expect.objectContaining({
        name: 'Error',
        message: 'declined',
        code: 'CARD',
        retryable: false,
        attempts: 1,
      }),
    });
    expect(retries(run.history)).toEqual([]);
  });

  it('honours nonRetryableErrorTypes by name or code, and maximumAttempts', async () => {
    class Declined extends Error {
      override name = 'Declined';
    }
    const byName = await createTestRun(workflow({ retry: { nonRetryableErrorTypes: ['Declined'] } }), {
      activities: { work: () => new Declined('no') },
    });
    expect(byName.output).toMatchObject({ error: { name: 'Declined', attempts: 1 } });
    const limited = await createTestRun(workflow({ retry: { maximumAttempts: 3, initialIntervalMs: 10 } }), {
      activities: { work: () => new Error('down') },
    });
    expect(limited.output).toMatchObject({ error: { message: 'down', attempts: 3 } });
    expect(retries(limited.history).map((t) => t.delayMs)).toEqual([10, 20]);
  });

  it('caps the delay at maximumIntervalMs, and takes retryAfter(ms) from the activity', async () => {
    const run = await createTestRun(
      workflow({ retry: { initialIntervalMs: 100, backoffCoefficient: 10, maximumIntervalMs: 5000 } }),
      {
        activities: {
          work: (_: unknown, attempt: number) =>
            attempt === 2 ? retryAfter(42, new Error('rate limited')) : attempt < 5 ? new Error('busy') : 'ok',
        },
      },
    );
    expect(retries(run.history).map((t) => t.delayMs)).toEqual([100, 42, 5000, 5000]);
    expect(inputs(run.history).find((e) => e.type === 'ActivityFailed' && e.attempt === 2)).toMatchObject({
      retryAfterMs: 42,
    });
  });

  it('layers options: defaults, workflow activities, activity(options), then invokes', () => {
    const wf = defineWorkflow({
      name: 'layers',
      activities: { work: { retry: { maximumAttempts: 2, initialIntervalMs: 5 }, startToCloseTimeoutMs: 100 } },
      invokes: { w: { retry: { maximumAttempts: 7 } } },
      machine: setup({
        actors: { work: activity({ retry: { backoffCoefficient: 3 }, heartbeatTimeoutMs: 50 }) },
      }).createMachine({ initial: 'a', states: { a: { invoke: { id: 'w', src: 'work' } } } }),
    });
    expect(wf.policyFor('work', 'w')).toEqual({
      retry: {
        initialIntervalMs: 5,
        backoffCoefficient: 3,
        maximumIntervalMs: 100_000,
        maximumAttempts: 7,
        nonRetryableErrorTypes: [],
      },
      startToCloseTimeoutMs: 100,
      heartbeatTimeoutMs: 50,
    });
    expect(() => workflow({}, { invokes: { nope: {} } })).toThrow(/invokes.nope is not an invoke id/);
    expect(() => workflow({ retry: { backoffCoefficient: 0.5 } })).toThrow(/backoffCoefficient/);
  });
});

describe('step semantics', () => {
  it('at-most-once is recorded in the policy and asks the executor to report the start first', async () => {
    const run = await createTestRun(workflow({ semantics: 'at-most-once' }), { autoRun: false });
    expect(run.history[0]!.events.find((e) => e.type === 'ActivityScheduled')).toMatchObject({
      policy: { atMostOnce: true },
    });
    expect(run.commands.find((c) => c.kind === 'scheduleActivity')).toMatchObject({
      attempt: 1,
      reportStart: true,
      atMostOnce: true,
    });
    const plain = await createTestRun(workflow({ semantics: 'at-least-once' }), { autoRun: false });
    const cmd = plain.commands.find((c) => c.kind === 'scheduleActivity');
    expect(cmd).not.toHaveProperty('atMostOnce');
    expect(cmd).not.toHaveProperty('reportStart');
  });

  it('an interrupted attempt is retried under the policy, and fails the activity when none is left', async () => {
    const interrupted = {
      name: 'AttemptInterruptedError',
      message: 'started, never finished',
      code: 'ATTEMPT_INTERRUPTED',
    };
    const run = await createTestRun(workflow({ semantics: 'at-most-once', retry: { maximumAttempts: 2 } }), {
      activities: {
        work: (_: unknown, attempt: number) => (attempt === 1 ? Object.assign(new Error(), interrupted) : 'ok'),
      },
    });
    expect(run.output).toEqual({ output: 'ok' });
    const once = await createTestRun(workflow({ semantics: 'at-most-once', retry: { maximumAttempts: 1 } }), {
      activities: { work: () => Object.assign(new Error(), interrupted) },
    });
    expect(once.output).toMatchObject({ error: { code: 'ATTEMPT_INTERRUPTED' } });
  });

  it('rejects an unknown semantics, naming it', () => {
    expect(() => workflow({ semantics: 'exactly-once' as 'at-most-once' })).toThrow(
      /semantics must be 'at-least-once' or 'at-most-once', got exactly-once/,
    );
  });
});

describe('timeouts', () => {
  it('scheduleToStart: no executor took the task in time; the attempt is retried', async () => {
    const run = await createTestRun(workflow({ scheduleToStartTimeoutMs: 500 }), { autoRun: false });
    expect(run.commands.find((c) => c.kind === 'scheduleActivity')).toMatchObject({ attempt: 1, reportStart: true });
    await run.skipToNextTimer();
    const commit = run.history.at(-1)!.events;
    expect(commit.map((e) => e.type)).toEqual(['TimerFired', 'ActivityTimedOut', 'TimerScheduled']);
    expect(commit[1]).toMatchObject({
      attempt: 1,
      timeoutType: 'scheduleToStart',
      error: { name: 'TimeoutError', code: 'TIMEOUT' },
    });
    expect(run.commands.at(-2)).toEqual({
      kind: 'cancelActivity',
      activitySeq: 1,
      activity: 'work',
      attempt: 1,
      reason: 'timedOut',
    });
    await run.skipToNextTimer(); // the retry: attempt 2 with a fresh scheduleToStart timer
    expect(run.pendingActivities()[0]).toMatchObject({ attempt: 2 });
    expect(run.pendingTimers().map((t) => t.sendId)).toEqual(['squall.activity.1.scheduleToStart']);
  });

  it('startToClose: a started attempt that hangs times out; a late result of it is stale', async () => {
    const run = await createTestRun(workflow({ startToCloseTimeoutMs: 1000 }), { autoRun: false });
    run.apply({ kind: 'activityStarted', at: 100, activitySeq: 1, attempt: 1 });
    await run.advanceTo(1100);
    expect(all(run.history).find((e) => e.type === 'ActivityTimedOut')).toMatchObject({ timeoutType: 'startToClose' });
    const late = run.apply({ kind: 'activityCompleted', at: 1200, activitySeq: 1, attempt: 1, output: 'late' });
    expect(late.events[0]).toMatchObject({ ignored: 'stale' });
    await run.advanceTo(2100);
    run.apply({ kind: 'activityStarted', at: 2100, activitySeq: 1, attempt: 2 });
    run.apply({ kind: 'activityCompleted', at: 2200, activitySeq: 1, attempt: 2, output: 'ok' });
    expect(run.output).toEqual({ output: 'ok' });
    expect(run.pendingTimers()).toEqual([]);
  });

  it('heartbeat: heartbeats keep an attempt alive (the timer re-arms lazily); silence times it out', async () => {
    const run = await createTestRun(workflow({ heartbeatTimeoutMs: 1000 }), { autoRun: false });
    run.apply({ kind: 'activityStarted', at: 0, activitySeq: 1, attempt: 1 });
    for (const at of [400, 800, 1200]) {
      await run.advanceTo(at);
      const d = run.apply({ kind: 'activityHeartbeat', at, activitySeq: 1, attempt: 1, details: { done: at } });
      expect(d.events.map((e) => e.type)).toEqual(['ActivityHeartbeat']);
    }
    await run.advanceTo(2199);
    expect(all(run.history).filter((e) => e.type === 'ActivityTimedOut')).toEqual([]);
    await run.advanceTo(2200);
    expect(all(run.history).find((e) => e.type === 'ActivityTimedOut')).toMatchObject({
      timeoutType: 'heartbeat',
      error: { details: { lastHeartbeat: { done: 1200 } } },
    });
    await run.skipToNextTimer(); // retry
    expect(run.commands.at(-1)).toMatchObject({ kind: 'scheduleActivity', attempt: 2, lastHeartbeat: { done: 1200 } });
  });

  it('scheduleToClose ends every attempt: no retry, the machine gets the timeout', async () => {
    const run = await createTestRun(workflow({ scheduleToCloseTimeoutMs: 2500 }), {
      activities: { work: () => new Error('busy') },
    });
    // attempts at 0, 1000, 3000: the third would start after the deadline, so the second's error ends it
    expect(run.output).toMatchObject({ error: { message: 'busy', attempts: 2 } });

    const hanging = await createTestRun(workflow({ scheduleToCloseTimeoutMs: 2500 }), { autoRun: false });
    await hanging.fail('work', new Error('busy'));
    await hanging.skipToNextTimer(); // retry at 1000, then the attempt hangs
    await hanging.skipToNextTimer(); // 2500: scheduleToClose
    expect(hanging.output).toMatchObject({
      error: { name: 'TimeoutError', retryable: false, attempts: 2, details: { timeoutType: 'scheduleToClose' } },
    });
    expect(hanging.commands.filter((c) => c.kind === 'cancelActivity').at(-1)).toEqual({
      kind: 'cancelActivity',
      activitySeq: 1,
      activity: 'work',
      reason: 'timedOut',
    });
  });
});

describe('heartbeat details and staleness', () => {
  it('the next attempt gets the failed attempt’s last heartbeat details', async () => {
    const seen: unknown[] = [];
    const run = await createTestRun(workflow(), {
      activities: {
        work: (_: unknown, attempt: number, last: unknown) => {
          seen.push(last);
          return attempt === 1 ? new Error('crashed at 40') : 'resumed';
        },
      },
      autoRun: false,
    });
    run.apply({
      kind: 'activityFailed',
      at: 0,
      activitySeq: 1,
      attempt: 1,
      error: { name: 'E', message: 'x' },
      heartbeat: { page: 40 },
    });
    await run.skipToNextTimer();
    expect(run.commands.at(-1)).toMatchObject({ attempt: 2, lastHeartbeat: { page: 40 } });
    await run.runUntilIdle();
    expect(seen).toEqual([{ page: 40 }]);
  });

  it('ignores results, starts and heartbeats of other attempts, and re-sends the cancel notice to a stale heartbeat', async () => {
    const run = await createTestRun(workflow({ heartbeatTimeoutMs: 1000 }), { autoRun: false });
    await run.fail('work', new Error('x'));
    for (const input of [
      { kind: 'activityCompleted' as const, at: 10, activitySeq: 1, attempt: 1, output: 'dup' },
      { kind: 'activityStarted' as const, at: 10, activitySeq: 1, attempt: 2 },
    ]) {
      expect(run.apply(input).events[0]).toMatchObject({ ignored: 'stale' });
    }
    const hb = run.apply({ kind: 'activityHeartbeat', at: 10, activitySeq: 1, attempt: 1 });
    expect(hb.events[0]).toMatchObject({ ignored: 'stale' });
    expect(hb.commands).toEqual([
      { kind: 'cancelActivity', activitySeq: 1, activity: 'work', attempt: 1, reason: 'stale' },
    ]);
  });
});

describe('cancellation', () => {
  it('leaving the state records ActivityCancelled, cancels its timers and tells executors', async () => {
    const run = await createTestRun(workflow({ startToCloseTimeoutMs: 1000, scheduleToCloseTimeoutMs: 9000 }), {
      autoRun: false,
    });
    run.apply({ kind: 'activityStarted', at: 0, activitySeq: 1, attempt: 1 });
    const d = await run.signal({ type: 'leave' });
    expect(d.events.map((e) => e.type)).toEqual([
      'SignalReceived',
      'ActivityCancelled',
      'TimerCancelled',
      'TimerCancelled',
    ]);
    expect(d.commands.filter((c) => c.kind === 'cancelActivity')).toEqual([
      { kind: 'cancelActivity', activitySeq: 1, activity: 'work', reason: 'cancelled' },
    ]);
    expect(run.pendingTimers()).toEqual([]);
    const late = run.apply({ kind: 'activityCompleted', at: 5, activitySeq: 1, attempt: 1, output: 'late' });
    expect(late.events[0]).toMatchObject({ ignored: 'stale' });
    expect(run.value).toBe('idle');
  });
});

describe('runs recorded before policies', () => {
  it('keep one attempt and no timeouts when their RunStarted has no engine', () => {
    const s1 = decide(sequenceWorkflow, undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r', engine: 1 });
    expect(s1.events[0]).not.toHaveProperty('engine');
    expect(s1.events[1]).not.toHaveProperty('policy');
    expect(s1.commands[0]).toEqual({
      kind: 'scheduleActivity',
      activitySeq: 1,
      activity: 'stepA',
      invokeId: 'a',
      input: { n: 1 },
    });
    const failed = decide(sequenceWorkflow, s1.state, {
      kind: 'activityFailed',
      at: 1,
      activitySeq: 1,
      attempt: 1,
      error: { name: 'E', message: 'x' },
    });
    // sequence has no onError: the failure goes straight to the machine, which ends in error
    expect(failed.state.status).toBe('failed');
  });
});
