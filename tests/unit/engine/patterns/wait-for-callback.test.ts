/** waitForCallback and callback heartbeats, through the test kit (the router's decide()). */
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { heartbeatCallbackBody } from '../../../../shared/client/bodies.js';
import { activity, callback, callbackToken, defineWorkflow, nonRetryable } from '../../../../shared/engine/index.js';
import { type CallbackWaitResult, waitForCallback } from '../../../../shared/engine/patterns/index.js';
import { InvalidInputError } from '../../../../shared/errors.js';
import { createTestRun } from '../../../../shared/testing/index.js';

interface Approval {
  by: string;
}

function approvalWorkflow(opts: { timeoutMs?: number; heartbeatTimeoutMs?: number } = {}) {
  return defineWorkflow({
    name: 'cb-approval',
    machine: setup({
      types: { context: {} as { approval: CallbackWaitResult<Approval> | undefined } },
      actors: {
        approval: callback<Approval>(),
        sendLink: activity<{ token: string; to: string }, { sent: boolean }>(),
      },
    }).createMachine({
      context: { approval: undefined },
      initial: 'asking',
      states: {
        asking: waitForCallback({
          callback: 'approval',
          submit: 'sendLink',
          input: ({ token }) => ({ token, to: 'ann@example.com' }),
          ...opts,
          resultKey: 'approval',
          onDone: 'approved',
          onError: 'rejected',
        }),
        approved: { type: 'final' },
        rejected: { type: 'final' },
      },
      output: ({ context }) => context.approval,
    }),
  });
}

const types = (events: readonly { type: string }[]) => events.map((e) => e.type);

describe('waitForCallback', () => {
  it('creates the callback, submits its token, takes heartbeats and completes', async () => {
    const run = await createTestRun(approvalWorkflow({ heartbeatTimeoutMs: 1000, timeoutMs: 60_000 }), {
      autoRun: false,
    });
    const [cb] = run.pendingCallbacks();
    expect(run.pendingActivities()).toMatchObject([
      { activity: 'sendLink', input: { token: cb!.token, to: 'ann@example.com' } },
    ]);
    expect(run.context).toMatchObject({ approval: { status: 'submitting', token: cb!.token } });
    expect(types(run.history[0]!.events)).toEqual([
      'RunStarted',
      'CallbackCreated',
      'TimerScheduled', // the timeout
      'TimerScheduled', // the heartbeat window
      'ActivityScheduled',
    ]);
    await run.complete('sendLink', { sent: true });
    expect(run.context).toMatchObject({ approval: { status: 'waiting' } });

    // Each heartbeat restarts the window: 3 s pass in 800 ms steps and it never runs out.
    for (let i = 0; i < 4; i++) {
      await run.advanceBy(800);
      await run.heartbeatCallback(cb!.token);
    }
    expect(run.now).toBe(3200);
    expect(run.status).toBe('running');
    expect(types(run.history.at(-1)!.events)).toEqual(['CallbackHeartbeat', 'TimerCancelled', 'TimerScheduled']);
    expect(run.pendingTimers().map((t) => t.fireAt)).toEqual([4200, 60_000]);

    await run.completeCallback(cb!.token, { by: 'ann' });
    expect(run.value).toBe('approved');
    expect(run.output).toEqual({ status: 'completed', token: cb!.token, output: { by: 'ann' }, error: null });
    expect(run.pendingTimers()).toEqual([]);
    expect(run.replay()).toEqual(run.state);

    const late = await run.heartbeatCallback(cb!.token);
    expect(late.events).toEqual([]); // the run is closed: the router parks such a heartbeat
  });

  it('fails with a TimeoutError when no heartbeat comes within the window', async () => {
    const run = await createTestRun(approvalWorkflow({ heartbeatTimeoutMs: 1000 }), {
      activities: { sendLink: { sent: true } },
    });
    await run.advanceBy(600);
    await run.heartbeatCallback('squall.cbwait.approval'); // by invoke id, as well as by token
    await run.runToEnd();
    expect(run.now).toBe(1600);
    expect(run.value).toBe('rejected');
    expect(run.output).toMatchObject({
      status: 'failed',
      output: null,
      error: {
        name: 'TimeoutError',
        code: 'TIMEOUT',
        message: 'callback squall.cbwait.approval (seq 1) got no heartbeat within 1000 ms',
        details: { timeoutType: 'heartbeat' },
      },
    });
    expect(types(run.history.at(-1)!.events)).toEqual(['TimerFired', 'CallbackTimedOut', 'RunCompleted']);
    expect(run.replay()).toEqual(run.state);
  });

  it('the overall timeout still applies, and cancels the heartbeat window', async () => {
    const run = await createTestRun(approvalWorkflow({ heartbeatTimeoutMs: 1000, timeoutMs: 1500 }), {
      activities: { sendLink: { sent: true } },
    });
    await run.advanceBy(900);
    await run.heartbeatCallback('squall.cbwait.approval');
    await run.runToEnd();
    expect(run.now).toBe(1500);
    expect(run.output).toMatchObject({ status: 'failed', error: { code: 'TIMEOUT', details: { callbackSeq: 1 } } });
    expect(types(run.history.at(-1)!.events)).toEqual([
      'TimerFired',
      'TimerCancelled',
      'CallbackTimedOut',
      'RunCompleted',
    ]);
  });

  it('a submit activity that fails for good fails the wait and cancels the callback', async () => {
    const run = await createTestRun(approvalWorkflow(), {
      activities: { sendLink: nonRetryable(new Error('smtp down')) },
    });
    expect(run.value).toBe('rejected');
    expect(run.output).toMatchObject({ status: 'failed', error: { message: 'smtp down' } });
    expect(types(run.history.at(-1)!.events)).toEqual(['ActivityFailed', 'CallbackCancelled', 'RunCompleted']);
  });

  it('a callback completed while the submit still runs cancels the submit', async () => {
    const run = await createTestRun(approvalWorkflow(), { autoRun: false });
    await run.failCallback('squall.cbwait.approval', { message: 'no budget', code: 'REJECTED' });
    expect(run.value).toBe('rejected');
    expect(run.output).toMatchObject({ status: 'failed', error: { message: 'no budget', code: 'REJECTED' } });
    expect(types(run.history.at(-1)!.events)).toEqual(['CallbackFailed', 'ActivityCancelled', 'RunCompleted']);
    expect(run.replay()).toEqual(run.state);
  });

  it('refuses malformed options, and a malformed heartbeatTimeoutMs on callback()', () => {
    const base = { callback: 'approval', submit: 'sendLink', resultKey: 'approval', onDone: 'a', onError: 'b' };
    expect(() => waitForCallback({ ...base, heartbeatTimeoutMs: 0 } as never)).toThrow(
      /waitForCallback approval: heartbeatTimeoutMs must be a positive number/,
    );
    expect(() => waitForCallback({ ...base, submit: '' } as never)).toThrow(/submit must name/);
    expect(() => waitForCallback({ ...base, onError: undefined } as never)).toThrow(/onError must be a target/);
    expect(() => waitForCallback({ ...base, input: {} } as never)).toThrow(InvalidInputError);
    expect(() => callback({ heartbeatTimeoutMs: -5 })).toThrow(/heartbeatTimeoutMs must be a positive number/);
  });

  it('a heartbeat with a malformed token is refused before it is sent', () => {
    expect(() => heartbeatCallbackBody('cb1_garbage')).toThrow(/invalid callback token/);
    expect(heartbeatCallbackBody(callbackToken('w', 'r', 2))).toEqual({ token: callbackToken('w', 'r', 2) });
  });
});
