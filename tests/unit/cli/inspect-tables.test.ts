/**
 * Inspecting runs: the history table shows times, attempts, timeouts and errors; the describe
 * table shows status, state, tags and pending work; queries report tags and attempts.
 */
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { describeTable } from '../../../services/cli/describe-table.js';
import { historyTable, parseCli } from '../../../services/cli/main.js';
import { inspectRun } from '../../../services/router/inspect.js';
import { activity, defineWorkflow } from '../../../shared/engine/index.js';
import { createTestRun } from '../../../shared/testing/index.js';

const T0 = Date.UTC(2026, 0, 1, 9, 30);
const err = (message: string, name = 'Error') => ({ name, message });

describe('history table', () => {
  it('shows each attempt, its error, the retry timer, a timeout and the run failure', () => {
    const lines = historyTable([
      {
        seq: 1,
        at: T0,
        events: [
          { type: 'RunStarted', at: T0, workflowType: 'pay', version: 2, workflowId: 'p1', runId: 'r1' },
          { type: 'ActivityScheduled', at: T0, activitySeq: 1, activity: 'charge', invokeId: 'charge' },
        ],
      },
      {
        seq: 2,
        at: T0 + 40,
        events: [
          { type: 'ActivityFailed', at: T0 + 40, activitySeq: 1, attempt: 1, error: err('card service down') },
          {
            type: 'TimerScheduled',
            at: T0 + 40,
            timerSeq: 2,
            sendId: 'squall.activity.1.retry',
            delayMs: 1000,
            fireAt: T0 + 1040,
            activitySeq: 1,
            purpose: 'retry',
            attempt: 2,
          },
        ],
      },
      { seq: 3, at: T0 + 1040, events: [{ type: 'TimerFired', at: T0 + 1040, timerSeq: 2 }] },
      { seq: 4, at: T0 + 1100, events: [{ type: 'ActivityStarted', at: T0 + 1100, activitySeq: 1, attempt: 2 }] },
      {
        seq: 5,
        at: T0 + 6100,
        events: [
          {
            type: 'ActivityTimedOut',
            at: T0 + 6100,
            activitySeq: 1,
            attempt: 2,
            timeoutType: 'startToClose',
            error: err('timed out', 'TimeoutError'),
          },
          { type: 'RunFailed', at: T0 + 6100, error: err('charge gave up', 'ActivityFailure') },
        ],
      },
    ]);
    expect(lines).toEqual([
      'seq  time          +ms   event              detail',
      '1    09:30:00.000  0     RunStarted         pay@2 input=undefined',
      '                         ActivityScheduled  #1 charge',
      '2    09:30:00.040  40    ActivityFailed     #1 attempt 1 card service down',
      '                         TimerScheduled     #2 retry of #1 attempt 2 in 1000 ms',
      '3    09:30:01.040  1040  TimerFired         #2',
      '4    09:30:01.100  1100  ActivityStarted    #1 attempt 2',
      '5    09:30:06.100  6100  ActivityTimedOut   #1 attempt 2 startToClose timeout',
      '                         RunFailed          ActivityFailure: charge gave up',
    ]);
  });
});

const machine = setup({ actors: { charge: activity<{ n: number }, { id: string }>() } }).createMachine({
  initial: 'charging',
  states: {
    charging: { tags: ['busy', 'billing'], invoke: { id: 'charge', src: 'charge', input: { n: 1 }, onDone: 'review' } },
    review: { tags: ['needs-review'], on: { approve: 'done', reject: 'done' }, after: { 60000: 'done' } },
    done: { type: 'final' },
  },
});
const wf = defineWorkflow({
  name: 'pay',
  machine,
  activities: { charge: { retry: { initialIntervalMs: 1000, maximumAttempts: 3 } } },
});

describe('query and describe', () => {
  it('reports the active state tags and the current attempt of a pending activity', async () => {
    // A stub Error fails the activity for good (and the run with it): it keeps the tags of the state it failed in.
    const run = await createTestRun(wf, { start: T0, activities: { charge: new Error('down') } });
    const pending = await createTestRun(wf, { start: T0, autoRun: false });
    const q = inspectRun(wf, pending.state);
    expect(q.tags).toEqual(['billing', 'busy']);
    expect(q.pendingActivities).toEqual([
      { activitySeq: 1, activity: 'charge', invokeId: 'charge', scheduledAt: T0, attempt: 1 },
    ]);
    await pending.fail('charge', new Error('flaky'));
    expect(inspectRun(wf, pending.state).pendingActivities[0]).toMatchObject({ attempt: 1, retrying: true });
    expect(run.status).toBe('failed');
    expect(inspectRun(wf, run.state).tags).toEqual(['billing', 'busy']);
  });

  it('describe --table prints status, state, tags, times, pending work and accepted signals', async () => {
    const run = await createTestRun(wf, { start: T0, activities: { charge: { id: 'c1' } } });
    const q = inspectRun(wf, run.state);
    const lines = describeTable({
      workflowId: 'p1',
      runId: 'r1',
      workflowType: 'pay',
      version: 1,
      status: 'running',
      stateValue: 'review',
      startedAt: T0,
      updatedAt: T0,
      lastSeq: 2,
      query: q,
    });
    expect(lines).toEqual([
      'workflow  p1 (pay v1)',
      'run       r1',
      'status    running',
      'state     review',
      'tags      needs-review',
      'started   2026-01-01T09:30:00.000Z',
      'updated   2026-01-01T09:30:00.000Z (commit 2)',
      `timer     #${q.pendingTimers[0]?.timerSeq} ${q.pendingTimers[0]?.sendId} fires 2026-01-01T09:31:00.000Z`,
      'accepts   approve, reject',
    ]);
    expect(
      describeTable({
        workflowId: 'p2',
        runId: 'r2',
        workflowType: 'pay',
        status: 'failed',
        stateValue: { a: 'b' },
        error: { name: 'ActivityFailure', message: 'gave up' },
      }),
    ).toEqual([
      'workflow  p2 (pay)',
      'run       r2',
      'status    failed',
      'state     {"a":"b"}',
      'error     ActivityFailure: gave up',
    ]);
  });

  it('parses --table for describe and history', () => {
    expect(parseCli(['describe', 'p1', '--table']).command).toEqual({
      kind: 'describe',
      workflowId: 'p1',
      table: true,
    });
    expect(parseCli(['history', 'p1', '--run', 'r1', '--table']).command).toEqual({
      kind: 'history',
      workflowId: 'p1',
      runId: 'r1',
      table: true,
    });
    expect(parseCli(['history', 'p1']).command).toEqual({ kind: 'history', workflowId: 'p1' });
  });
});
