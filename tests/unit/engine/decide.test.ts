import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { activity, CURRENT_ENGINE, decide, defineWorkflow, type RunState } from '../../../shared/engine/index.js';
import { InvalidInputError } from '../../../shared/errors.js';
import { createTestRun } from '../../../shared/testing/index.js';
import {
  brokenWorkflow,
  compensatingWorkflow,
  fanoutWorkflow,
  mailboxWorkflow,
  orderWorkflow,
  retryWorkflow,
  sequenceWorkflow,
} from '../../fixtures/workflows.js';

const types = (events: { type: string }[]) => events.map((e) => e.type);
const start = (at = 1000) => ({ kind: 'start' as const, at, workflowId: 'w1', runId: 'r1' });

describe('decide: start', () => {
  it('records RunStarted first and schedules the initial invoke with seq 1', () => {
    const d = decide(sequenceWorkflow, undefined, start());
    const policy = {
      retry: {
        initialIntervalMs: 1000,
        backoffCoefficient: 2,
        maximumIntervalMs: 100_000,
        maximumAttempts: 0,
        nonRetryableErrorTypes: [],
      },
    };
    expect(d.events).toEqual([
      {
        type: 'RunStarted',
        at: 1000,
        workflowType: 'sequence',
        version: 1,
        workflowId: 'w1',
        runId: 'r1',
        engine: CURRENT_ENGINE,
      },
      {
        type: 'ActivityScheduled',
        at: 1000,
        activitySeq: 1,
        activity: 'stepA',
        invokeId: 'a',
        input: { n: 1 },
        policy,
      },
    ]);
    expect(d.commands).toEqual([
      { kind: 'scheduleActivity', activitySeq: 1, activity: 'stepA', invokeId: 'a', input: { n: 1 }, attempt: 1 },
    ]);
    expect(d.state).toMatchObject({ status: 'running', lastSeq: 1, nextSeq: 2, startedAt: 1000, updatedAt: 1000 });
    expect(d.state.activities.a).toEqual({
      activitySeq: 1,
      activity: 'stepA',
      invokeId: 'a',
      input: { n: 1 },
      scheduledAt: 1000,
      policy,
      attempt: 1,
      attemptScheduledAt: 1000,
    });
  });

  it('keeps the input and parent on RunStarted', () => {
    const parent = { workflowId: 'p', runId: 'pr', invokeId: 'kid', childSeq: 3 };
    const d = decide(sequenceWorkflow, undefined, { ...start(), input: { x: 1 }, parent });
    expect(d.events[0]).toMatchObject({ input: { x: 1 }, parent });
    expect(d.state.parent).toEqual(parent);
  });

  it('does not touch the state it was given', () => {
    const s0 = decide(sequenceWorkflow, undefined, start()).state;
    const frozen = structuredClone(s0);
    decide(sequenceWorkflow, s0, { kind: 'activityCompleted', at: 2000, activitySeq: 1, output: 'A' });
    expect(s0).toEqual(frozen);
  });
});

describe('decide: activities', () => {
  it('runs a sequence, each result scheduling the next, then completes with output', async () => {
    const run = await createTestRun(sequenceWorkflow, {
      activities: { stepA: 'A', stepB: (i: unknown) => i, stepC: 'C' },
    });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual(['A', { previous: ['A'] }, 'C']);
    expect(run.history.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
    expect(types(run.history[3]!.events)).toEqual(['ActivityCompleted', 'RunCompleted']);
    expect(run.commands.at(-1)).toEqual({
      kind: 'runClosed',
      status: 'completed',
      output: ['A', { previous: ['A'] }, 'C'],
    });
  });

  it('consumes the result before mapping, so leaving the invoking state cancels nothing', () => {
    const s1 = decide(sequenceWorkflow, undefined, start()).state;
    const d = decide(sequenceWorkflow, s1, { kind: 'activityCompleted', at: 2000, activitySeq: 1, output: 'A' });
    expect(types(d.events)).toEqual(['ActivityCompleted', 'ActivityScheduled']);
    expect(d.commands.map((c) => c.kind)).toEqual(['scheduleActivity']);
    expect(Object.keys(d.state.activities)).toEqual(['b']);
  });

  it('fans out in parallel and fans in when all are done', async () => {
    const run = await createTestRun(fanoutWorkflow, { activities: { workX: 1, workY: 2, workZ: 3 } });
    expect(types(run.history[0]!.events)).toEqual([
      'RunStarted',
      'ActivityScheduled',
      'ActivityScheduled',
      'ActivityScheduled',
    ]);
    expect(run.output).toEqual({ got: { x: 1, y: 2, z: 3 } });
  });

  it('takes onError with the ErrorInfo and cancels the sibling activities left behind', async () => {
    const run = await createTestRun(fanoutWorkflow, { activities: { workY: new Error('no disk') } });
    const failedCommit = run.history[1]!;
    expect(types(failedCommit.events)).toEqual([
      'ActivityFailed',
      'ActivityCancelled',
      'ActivityCancelled',
      'RunCompleted',
    ]);
    expect(failedCommit.events[0]).toMatchObject({
      activitySeq: 2,
      error: { name: 'Error', message: 'no disk', retryable: false },
    });
    expect(run.output).toEqual({ got: {}, failed: 'y' });
    const cancels = run.commands.filter((c) => c.kind === 'cancelActivity');
    // XState exits parallel regions in reverse document order.
    expect(cancels.sort((a, b) => a.activitySeq - b.activitySeq)).toEqual([
      { kind: 'cancelActivity', activitySeq: 1, activity: 'workX', reason: 'cancelled' },
      { kind: 'cancelActivity', activitySeq: 3, activity: 'workZ', reason: 'cancelled' },
    ]);
  });

  it('ignores a result whose seq is not pending (stale) and does not move the run', () => {
    const s1 = decide(sequenceWorkflow, undefined, start()).state;
    const d = decide(sequenceWorkflow, s1, { kind: 'activityCompleted', at: 2000, activitySeq: 7, output: 'X' });
    expect(d.events).toEqual([{ type: 'ActivityCompleted', at: 2000, activitySeq: 7, output: 'X', ignored: 'stale' }]);
    expect(d.commands).toEqual([]);
    expect(d.state).toEqual({ ...s1, lastSeq: 2, updatedAt: 2000 });
  });

  it('treats a duplicate result as stale', () => {
    const s1 = decide(sequenceWorkflow, undefined, start()).state;
    const s2 = decide(sequenceWorkflow, s1, { kind: 'activityCompleted', at: 2000, activitySeq: 1, output: 'A' }).state;
    const d = decide(sequenceWorkflow, s2, { kind: 'activityCompleted', at: 2001, activitySeq: 1, output: 'A' });
    expect(d.events[0]).toMatchObject({ ignored: 'stale' });
    expect(d.state.snapshot).toEqual(s2.snapshot);
  });
});

describe('decide: timers', () => {
  it('schedules `after` as a durable timer at input time + delay and cancels it on leaving', async () => {
    const run = await createTestRun(orderWorkflow, {
      start: 10_000,
      input: { orderId: 'o', amount: 1, approvalTimeoutMs: 500 },
      activities: { chargeCard: 'ok' },
    });
    expect(run.value).toBe('awaitingApproval');
    expect(run.pendingTimers()).toEqual([
      {
        timerSeq: 2,
        sendId: 'xstate.after.approvalTimeout.order.awaitingApproval',
        fireAt: 10_500,
        event: { type: 'xstate.after.approvalTimeout.order.awaitingApproval' },
      },
    ]);
    await run.signal({ type: 'approve' });
    expect(types(run.history.at(-1)!.events).slice(0, 2)).toEqual(['SignalReceived', 'TimerCancelled']);
    expect(run.pendingTimers()).toEqual([]);
  });

  it('lets the timer win the race: the run times out and a later approve is dropped', async () => {
    const run = await createTestRun(orderWorkflow, {
      input: { orderId: 'o', amount: 1, approvalTimeoutMs: 500 },
      activities: { chargeCard: 'ok' },
    });
    await run.advanceTo(499);
    expect(run.status).toBe('running');
    await run.advanceTo(500);
    expect(run.output).toEqual({ orderId: 'o', charged: true, shipped: false, emailed: false, status: 'timedOut' });
    const d = await run.signal({ type: 'approve' });
    expect(d.events).toEqual([]);
    expect(run.history).toHaveLength(3);
  });

  it('ignores a timer firing after its state was left (stale timer)', async () => {
    const run = await createTestRun(orderWorkflow, {
      input: { orderId: 'o', amount: 1, approvalTimeoutMs: 500 },
      activities: { chargeCard: 'ok' },
    });
    const timer = run.pendingTimers()[0]!;
    await run.signal({ type: 'approve' });
    const d = run.apply({ kind: 'timerFired', at: 600, timerSeq: timer.timerSeq });
    expect(d.events).toEqual([{ type: 'TimerFired', at: 600, timerSeq: timer.timerSeq, ignored: 'stale' }]);
    expect(run.value).toEqual({ fulfilling: { shipping: 'running', emailing: 'running' } });
  });

  it('models retries in the machine: backoff timers between attempts, then gives up', async () => {
    const run = await createTestRun(retryWorkflow, { start: 0, activities: { flaky: new Error('busy') } });
    expect(run.value).toBe('backingOff');
    await run.runToEnd();
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ attempts: 3, lastError: 'busy' });
    expect(run.now).toBe(2000);
  });

  it('succeeds on a later attempt', async () => {
    const run = await createTestRun(retryWorkflow, {
      activities: { flaky: (_: unknown, _a: number) => undefined },
      autoRun: false,
    });
    await run.fail('flaky', new Error('once'));
    await run.skipToNextTimer();
    await run.complete('flaky', 'ok');
    expect(run.state.status).toBe('completed');
    expect(run.context).toEqual({ attempts: 2 });
  });
});

describe('decide: re-entered states', () => {
  it('gives the re-entered invoke a new seq; the old result and old timer are stale', async () => {
    const run = await createTestRun(retryWorkflow, { autoRun: false });
    const [firstCall] = run.pendingActivities();
    const [firstTimer] = run.pendingTimers();
    await run.signal({ type: 'restart' });
    const restart = run.history.at(-1)!.events;
    expect(types(restart)).toEqual([
      'SignalReceived',
      'TimerCancelled',
      'ActivityCancelled',
      'TimerScheduled',
      'ActivityScheduled',
    ]);
    const [secondCall] = run.pendingActivities();
    expect(secondCall!.invokeId).toBe(firstCall!.invokeId);
    expect(secondCall!.activitySeq).toBeGreaterThan(firstCall!.activitySeq);

    const staleResult = run.apply({
      kind: 'activityCompleted',
      at: 1,
      activitySeq: firstCall!.activitySeq,
      output: 'late',
    });
    expect(staleResult.events[0]).toMatchObject({ ignored: 'stale' });
    const staleTimer = run.apply({ kind: 'timerFired', at: 5000, timerSeq: firstTimer!.timerSeq });
    expect(staleTimer.events[0]).toMatchObject({ ignored: 'stale' });
    expect(run.value).toBe('calling');
    expect(run.context).toEqual({ attempts: 2 });

    await run.complete(secondCall!.activitySeq, 'fresh');
    expect(run.status).toBe('completed');
  });

  it('re-enters on its own timer: the firing timer is consumed, a new one scheduled under the same sendId', async () => {
    const run = await createTestRun(retryWorkflow, { autoRun: false });
    await run.skipToNextTimer();
    const events = run.history.at(-1)!.events;
    expect(types(events)).toEqual(['TimerFired', 'ActivityCancelled', 'TimerScheduled', 'ActivityScheduled']);
    expect(run.pendingTimers()).toHaveLength(1);
    expect(run.context).toEqual({ attempts: 2 });
  });
});

describe('decide: signals', () => {
  it('records a signal the state cannot take as unhandled and changes nothing', async () => {
    const run = await createTestRun(orderWorkflow, { input: { orderId: 'o', amount: 1 } });
    const before = run.state;
    const d = await run.signal({ type: 'approve' });
    expect(d.events).toEqual([{ type: 'SignalReceived', at: 0, signal: { type: 'approve' }, ignored: 'unhandled' }]);
    expect(d.state.snapshot).toEqual(before.snapshot);
    const unknown = await run.signal({ type: 'whatever', x: 1 });
    expect(unknown.events[0]).toMatchObject({ ignored: 'unhandled' });
  });

  it('defers listed signal types and delivers them in order once a state accepts them', async () => {
    const run = await createTestRun(mailboxWorkflow, { autoRun: false });
    await run.signal({ type: 'note', text: 'one' });
    await run.signal({ type: 'note', text: 'two' });
    expect(run.history.at(-1)!.events[0]).toMatchObject({ deferred: true });
    expect(run.state.mailbox).toEqual([
      { type: 'note', text: 'one' },
      { type: 'note', text: 'two' },
    ]);
    await run.complete('job', null);
    expect(run.state.mailbox).toEqual([]);
    expect(run.context).toEqual({ notes: ['one', 'two'] });
    await run.signal({ type: 'work' });
    await run.signal({ type: 'note', text: 'three' });
    await run.complete('job', null);
    await run.signal({ type: 'finish' });
    expect(run.output).toEqual(['one', 'two', 'three']);
  });
});

describe('decide: cancel', () => {
  it('ends a run that does not handle cancel, cancelling pending activities and timers', async () => {
    const run = await createTestRun(retryWorkflow, { autoRun: false });
    const d = await run.cancel('user asked');
    expect(d.events).toEqual([
      { type: 'CancelRequested', at: 0, reason: 'user asked' },
      { type: 'ActivityCancelled', at: 0, activitySeq: 2 },
      { type: 'TimerCancelled', at: 0, timerSeq: 1 },
      { type: 'RunCancelled', at: 0, reason: 'user asked' },
    ]);
    expect(d.commands).toEqual([
      { kind: 'cancelActivity', activitySeq: 2, activity: 'flaky', reason: 'runClosed' },
      { kind: 'cancelTimer', timerSeq: 1 },
      { kind: 'runClosed', status: 'cancelled' },
    ]);
    expect(run.status).toBe('cancelled');
    expect(run.state.closedAt).toBe(0);
  });

  it('feeds squall.cancel to a machine that handles it', async () => {
    const run = await createTestRun(compensatingWorkflow, { activities: { refund: 'refunded' } });
    await run.cancel('changed my mind');
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ status: 'cancelled', reason: 'changed my mind' });
    const cancelCommit = run.history[1]!;
    expect(types(cancelCommit.events)).toEqual(['CancelRequested', 'ActivityCancelled', 'ActivityScheduled']);
  });
});

describe('decide: failures', () => {
  it('fails the run when a custom action throws, cancelling what is pending', async () => {
    const run = await createTestRun(brokenWorkflow);
    const d = await run.signal({ type: 'explode' });
    expect(types(d.events)).toEqual(['SignalReceived', 'ActivityCancelled', 'TimerCancelled', 'RunFailed']);
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ name: 'Error', message: 'kaboom' });
    expect(d.commands.at(-1)).toMatchObject({ kind: 'runClosed', status: 'failed', error: { message: 'kaboom' } });
  });

  it('fails the run when the context factory throws at start (snapshot status error)', () => {
    const wf = defineWorkflow({
      name: 'badctx',
      machine: setup({}).createMachine({
        context: () => {
          throw new Error('no context');
        },
      }),
    });
    const d = decide(wf, undefined, start());
    expect(types(d.events)).toEqual(['RunStarted', 'RunFailed']);
    expect(d.state.status).toBe('failed');
    expect(d.state.error?.message).toBe('no context');
  });

  it('fails the run when a guard or assign throws inside transition()', () => {
    const wf = defineWorkflow({
      name: 'badguard',
      machine: setup({ actors: { w: activity() } }).createMachine({
        initial: 'a',
        states: {
          a: {
            on: {
              g: {
                guard: () => {
                  throw new Error('guard broke');
                },
                target: 'b',
              },
              s: {
                actions: assign(() => {
                  throw new Error('assign broke');
                }),
              },
            },
          },
          b: {},
        },
      }),
    });
    const s1 = decide(wf, undefined, start()).state;
    const g = decide(wf, s1, { kind: 'signal', at: 2, event: { type: 'g' } });
    expect(g.state.status).toBe('failed');
    expect(g.state.error?.message).toContain('guard broke');
    const s = decide(wf, s1, { kind: 'signal', at: 2, event: { type: 's' } });
    expect(s.state.error?.message).toBe('assign broke');
  });

  it('takes no input once closed', async () => {
    const run = await createTestRun(brokenWorkflow);
    await run.signal({ type: 'explode' });
    const closed = run.state;
    for (const input of [
      { kind: 'signal' as const, at: 9, event: { type: 'ping' } },
      { kind: 'cancel' as const, at: 9 },
      { kind: 'activityCompleted' as const, at: 9, activitySeq: 1 },
      { kind: 'timerFired' as const, at: 9, timerSeq: 2 },
    ]) {
      const d = decide(brokenWorkflow, closed, input);
      expect(d).toEqual({ events: [], commands: [], state: closed });
      expect(d.state).toBe(closed);
    }
  });
});

describe('decide: invalid input', () => {
  const s1 = (): RunState => decide(sequenceWorkflow, undefined, start()).state;
  const cases: [string, unknown, RegExp][] = [
    ['signal without type', { kind: 'signal', at: 1, event: { data: 1 } }, /non-empty string type/],
    ['signal with numeric type', { kind: 'signal', at: 1, event: { type: 3 } }, /non-empty string type/],
    ['signal that is not an object', { kind: 'signal', at: 1, event: 'go' }, /event object/],
    ['signal forging a done event', { kind: 'signal', at: 1, event: { type: 'xstate.done.actor.a' } }, /reserved/],
    ['signal using squall.cancel', { kind: 'signal', at: 1, event: { type: 'squall.cancel' } }, /reserved/],
    ['NaN at', { kind: 'signal', at: Number.NaN, event: { type: 'x' } }, /finite/],
    ['string at', { kind: 'cancel', at: '5' }, /finite/],
    ['zero seq', { kind: 'activityCompleted', at: 1, activitySeq: 0 }, /positive integer/],
    ['fractional seq', { kind: 'timerFired', at: 1, timerSeq: 1.5 }, /positive integer/],
    ['failure without ErrorInfo', { kind: 'activityFailed', at: 1, activitySeq: 1, error: 'bad' }, /ErrorInfo/],
    ['unknown kind', { kind: 'poke', at: 1 }, /unknown decision input kind/],
    ['non-string reason', { kind: 'cancel', at: 1, reason: 5 }, /reason/],
  ];
  it.each(cases)('refuses %s', (_name, input, message) => {
    expect(() => decide(sequenceWorkflow, s1(), input as never)).toThrow(InvalidInputError);
    expect(() => decide(sequenceWorkflow, s1(), input as never)).toThrow(message);
  });

  it('refuses start on an existing run and other inputs without state', () => {
    expect(() => decide(sequenceWorkflow, s1(), start())).toThrow(/already exists/);
    expect(() => decide(sequenceWorkflow, undefined, { kind: 'cancel', at: 1 })).toThrow(/only start opens a run/);
    expect(() => decide(sequenceWorkflow, undefined, { ...start(), workflowId: '' })).toThrow(/workflowId/);
  });

  it('refuses a state of another workflow type or version', () => {
    expect(() => decide(fanoutWorkflow, s1(), { kind: 'cancel', at: 1 })).toThrow(/not fanout v1/);
  });
});
