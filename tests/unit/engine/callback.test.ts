/**
 * Callbacks in the pure core: creation (token, event to the machine, timeout timer), completion,
 * failure, timeout, cancellation, duplicates, and replay.
 */
import { describe, expect, it } from 'vitest';
import { callback, callbackToken, decide, parseCallbackToken, replayCommits } from '../../../shared/engine/index.js';
import type { Decision, DecisionInput, RunState } from '../../../shared/engine/types.js';
import { InvalidInputError } from '../../../shared/errors.js';
import type { Commit } from '../../../shared/history/events.js';
import { approval } from '../../fixtures/callbacks/workflows.js';

const types = (events: { type: string }[]) => events.map((e) => e.type);
const start = (input?: unknown): DecisionInput => ({
  kind: 'start',
  at: 1000,
  workflowId: 'w1',
  runId: 'r1',
  ...(input === undefined ? {} : { input }),
});
const ctx = (s: RunState) => (s.snapshot as { context: Record<string, unknown> }).context;
const value = (s: RunState) => (s.snapshot as { value: unknown }).value;

describe('decide: callbacks', () => {
  it('records CallbackCreated with a token and hands the token to the machine', () => {
    const d = decide(approval, undefined, start());
    const token = callbackToken('w1', 'r1', 1);
    expect(d.events.slice(1)).toEqual([
      { type: 'CallbackCreated', at: 1000, callbackSeq: 1, invokeId: 'approval', token },
    ]);
    expect(d.commands).toEqual([]);
    expect(ctx(d.state).token).toBe(token);
    expect(d.state.callbacks).toEqual({ approval: { callbackSeq: 1, invokeId: 'approval', token, createdAt: 1000 } });
    expect(parseCallbackToken(token)).toEqual({ workflowId: 'w1', runId: 'r1', callbackSeq: 1 });
  });

  it('completes with xstate.done.actor output', () => {
    const s1 = decide(approval, undefined, start()).state;
    const d = decide(approval, s1, { kind: 'callbackCompleted', at: 2000, callbackSeq: 1, output: { by: 'ann' } });
    expect(types(d.events)).toEqual(['CallbackCompleted', 'RunCompleted']);
    expect(d.state.status).toBe('completed');
    expect(d.state.output).toMatchObject({ result: { by: 'ann' } });
    expect(d.state.callbacks).toEqual({});
  });

  it('fails with xstate.error.actor and the error sent', () => {
    const s1 = decide(approval, undefined, start()).state;
    const error = { name: 'Rejected', message: 'no budget' };
    const d = decide(approval, s1, { kind: 'callbackFailed', at: 2000, callbackSeq: 1, error });
    expect(value(d.state)).toBe('rejected');
    expect(d.state.output).toMatchObject({ error });
  });

  it('a duplicate or unknown completion is recorded as stale and moves nothing', () => {
    const s1 = decide(approval, undefined, start()).state;
    const s2 = decide(approval, s1, { kind: 'signal', at: 1500, event: { type: 'noop' } }).state;
    const once = decide(approval, s2, { kind: 'callbackCompleted', at: 2000, callbackSeq: 9 });
    expect(once.events).toEqual([{ type: 'CallbackCompleted', at: 2000, callbackSeq: 9, ignored: 'stale' }]);
    expect(once.state.callbacks).toEqual(s2.callbacks);
  });

  it('a timeout is a durable timer that fails the invoke with a TimeoutError', () => {
    const d1 = decide(approval, undefined, start({ timeoutMs: 5000 }));
    expect(types(d1.events)).toEqual(['RunStarted', 'CallbackCreated', 'TimerScheduled']);
    expect(d1.events[1]).toMatchObject({ timeoutMs: 5000 });
    expect(d1.events[2]).toMatchObject({
      timerSeq: 2,
      delayMs: 5000,
      fireAt: 6000,
      sendId: 'squall.callback.1.timeout',
    });
    expect(d1.commands).toEqual([{ kind: 'scheduleTimer', timerSeq: 2, fireAt: 6000 }]);
    const d2 = decide(approval, d1.state, { kind: 'timerFired', at: 6000, timerSeq: 2 });
    expect(types(d2.events)).toEqual(['TimerFired', 'CallbackTimedOut', 'RunCompleted']);
    expect(value(d2.state)).toBe('rejected');
    expect((d2.state.output as { error: { code: string } }).error.code).toBe('TIMEOUT');
    // A completion after the timeout is stale.
    expect(decide(approval, d2.state, { kind: 'callbackCompleted', at: 7000, callbackSeq: 1 }).events).toEqual([]);
  });

  it('completion before the timeout cancels the timer', () => {
    const s1 = decide(approval, undefined, start({ timeoutMs: 5000 })).state;
    const d = decide(approval, s1, { kind: 'callbackCompleted', at: 2000, callbackSeq: 1, output: { by: 'x' } });
    expect(types(d.events)).toEqual(['CallbackCompleted', 'TimerCancelled', 'RunCompleted']);
    expect(d.commands).toContainEqual({ kind: 'cancelTimer', timerSeq: 2 });
  });

  it('leaving the invoking state cancels the callback and its timer', () => {
    const s1 = decide(approval, undefined, start({ timeoutMs: 5000 })).state;
    const d = decide(approval, s1, { kind: 'signal', at: 2000, event: { type: 'skip' } });
    expect(types(d.events)).toEqual(['SignalReceived', 'CallbackCancelled', 'TimerCancelled', 'RunCompleted']);
    expect(d.commands).toContainEqual({ kind: 'cancelTimer', timerSeq: 2 });
  });

  it('cancelling the run cancels pending callbacks', () => {
    const s1 = decide(approval, undefined, start({ timeoutMs: 5000 })).state;
    const d = decide(approval, s1, { kind: 'cancel', at: 2000 });
    expect(types(d.events)).toEqual(['CancelRequested', 'CallbackCancelled', 'TimerCancelled', 'RunCancelled']);
  });

  it('replays a callback history to the same state', () => {
    const steps: Decision[] = [];
    steps.push(decide(approval, undefined, start({ timeoutMs: 5000 })));
    steps.push(decide(approval, steps[0]?.state, { kind: 'callbackCompleted', at: 2000, callbackSeq: 1, output: 1 }));
    const commits: Commit[] = steps.map((d, i) => ({ runId: 'r1', workflowId: 'w1', seq: i + 1, events: d.events }));
    expect(replayCommits(approval, commits)).toEqual(steps[1]?.state);
  });

  it('refuses bad tokens and timeouts with InvalidInputError', () => {
    for (const bad of [undefined, 'x', 'cb1_!!!', `cb1_${Buffer.from('[1,2,3]').toString('base64url')}`]) {
      expect(() => parseCallbackToken(bad)).toThrow(InvalidInputError);
    }
    expect(() => callback({ timeoutMs: -1 })).toThrow(/timeoutMs must be a positive number/);
  });
});

describe('createTestRun with callbacks', () => {
  it('completes a callback through apply() and fires its timeout with skipToNextTimer()', async () => {
    const { createTestRun } = await import('../../../shared/testing/index.js');
    const run = await createTestRun(approval, { input: { timeoutMs: 60_000 } });
    expect(run.pendingTimers()).toHaveLength(1);
    expect(await run.skipToNextTimer()).toBe(true);
    expect(run.status).toBe('completed');
    expect((run.output as { error: { code: string } }).error.code).toBe('TIMEOUT');

    const ok = await createTestRun(approval);
    const token = (ok.context as { token: string }).token;
    ok.apply({ kind: 'callbackCompleted', at: ok.now, callbackSeq: parseCallbackToken(token).callbackSeq, output: 7 });
    expect(ok.output).toMatchObject({ result: 7 });
  });
});
