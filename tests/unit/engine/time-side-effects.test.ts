/**
 * Deterministic time and side effects: now() answers the decision's input time, sideEffect()
 * runs its function once and replays take the recorded value (never calling it again).
 */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { decide, defineWorkflow, now, replayCommits, sideEffect } from '../../../shared/engine/index.js';
import { ConfigError, NondeterminismError, OutsideDecisionError } from '../../../shared/errors.js';
import type { Commit } from '../../../shared/history/events.js';
import { createTestRun, replayHistory } from '../../../shared/testing/index.js';
import type { HistoryFixture } from '../../fixtures/save.js';
import { ticketWorkflow, tokenCalls } from '../../fixtures/side-effects/workflows.js';

const T0 = Date.UTC(2026, 0, 1);

describe('now()', () => {
  it('throws OutsideDecisionError outside a decision', () => {
    expect(() => now()).toThrow(OutsideDecisionError);
    try {
      now();
    } catch (err) {
      expect((err as OutsideDecisionError).code).toBe('OUTSIDE_DECISION');
    }
  });

  it('gives guards, assign and context factories the time the input was recorded; replay sees the same', async () => {
    const machine = setup({
      types: {} as { context: { openedAt: number; paidAt?: number; lateAt?: number }; events: { type: 'pay' } },
    }).createMachine({
      context: () => ({ openedAt: now() }),
      initial: 'open',
      states: {
        open: {
          on: {
            pay: [
              // Paying within 5 s of opening is on time; the guard reads the decision's time.
              {
                guard: ({ context }) => now() - context.openedAt <= 5_000,
                target: 'paid',
                actions: assign({ paidAt: () => now() }),
              },
              { target: 'late', actions: assign({ lateAt: () => now() }) },
            ],
          },
        },
        paid: { type: 'final' },
        late: { type: 'final' },
      },
      output: ({ context }) => context,
    });
    const wf = defineWorkflow({ name: 'invoice', machine });

    const onTime = await createTestRun(wf, { start: T0 });
    await onTime.advanceBy(4_000);
    await onTime.signal({ type: 'pay' });
    expect(onTime.output).toEqual({ openedAt: T0, paidAt: T0 + 4_000 });

    const late = await createTestRun(wf, { start: T0, workflowId: 'late' });
    await late.advanceBy(6_000);
    await late.signal({ type: 'pay' });
    expect(late.output).toEqual({ openedAt: T0, lateAt: T0 + 6_000 });

    // Replayed much later, the guard and assigns see the recorded times, not the wall clock.
    expect(replayHistory(wf, late.history).output).toEqual(late.output);
    expect(replayHistory(wf, onTime.history).snapshot).toEqual(onTime.state.snapshot);
  });
});

describe('sideEffect()', () => {
  it('runs once live, records the value in history and delivers it as squall.sideEffect.<id>', async () => {
    const before = tokenCalls.count;
    const run = await createTestRun(ticketWorkflow, { start: T0 });
    expect(tokenCalls.count).toBe(before + 1);
    expect(run.value).toBe('waiting');
    const recorded = run.history[0]?.events.find((e) => e.type === 'SideEffectRecorded');
    expect(recorded).toEqual({ type: 'SideEffectRecorded', at: T0, id: 'token', value: expect.any(String) });
    const token = (recorded as { value: string }).value;
    expect(run.context).toMatchObject({ token, startedAt: T0 });

    await run.advanceBy(2_500);
    await run.signal({ type: 'finish' });
    expect(run.output).toEqual({ token, startedAt: T0, finishedAt: T0 + 2_500 });
    expect(tokenCalls.count).toBe(before + 1);

    // Replay: the recorded token, the function never called, the same state at the end.
    const replayed = replayHistory(ticketWorkflow, run.history);
    expect(tokenCalls.count).toBe(before + 1);
    expect(replayed.output).toEqual(run.output);
    expect(replayed.snapshot).toEqual(run.state.snapshot);
  });

  it('replays the recorded fixture to its recorded token and times, never calling the function', () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../../fixtures/ticket-side-effect.json', import.meta.url), 'utf8'),
    ) as HistoryFixture;
    const calls = tokenCalls.count;
    const state = replayHistory(ticketWorkflow, fixture);
    expect(tokenCalls.count).toBe(calls);
    expect(state.output).toEqual({
      token: '4ce889b0-c4fb-4573-b1e7-6e7c09b1ebe0',
      startedAt: Date.UTC(2025, 0, 1),
      finishedAt: Date.UTC(2025, 0, 1) + 2500,
    });
  });

  it('replays commit by commit to the same state at every step', async () => {
    const run = await createTestRun(ticketWorkflow, { start: T0 });
    await run.signal({ type: 'finish' });
    const history = run.history;
    for (let n = 1; n <= history.length; n++) {
      const state = replayCommits(ticketWorkflow, history.slice(0, n));
      expect(state.lastSeq).toBe(n);
    }
    const first = replayCommits(ticketWorkflow, history.slice(0, 1));
    expect((first.snapshot as { context: { token: string } }).context.token).toBe(
      run.output && (run.output as { token: string }).token,
    );
  });

  it('fails replay with NondeterminismError when the machine no longer (or newly) records a side effect', async () => {
    const run = await createTestRun(ticketWorkflow, { start: T0 });
    const plain = defineWorkflow({
      name: 'ticket',
      machine: setup({}).createMachine({
        initial: 'waiting',
        states: { waiting: { on: { finish: 'done' } }, done: { type: 'final' } },
      }),
    });
    expect(() => replayHistory(plain, run.history)).toThrow(NondeterminismError);
    expect(() => replayHistory(plain, run.history)).toThrow(
      /expected \{"type":"SideEffectRecorded","id":"token"\}, got nothing/,
    );

    // The other way: a history without the side effect, replayed under the ticket machine.
    const plainRun = await createTestRun(plain, { start: T0 });
    const calls = tokenCalls.count;
    expect(() => replayHistory(ticketWorkflow, plainRun.history)).toThrow(
      /got \{"type":"SideEffectRecorded","id":"token"\}/,
    );
    expect(tokenCalls.count).toBe(calls); // the function is never called on replay
  });

  it('takes several side effects of one decision in order, per id', () => {
    let n = 0;
    const machine = setup({ types: {} as { context: { got: unknown[] } } }).createMachine({
      context: { got: [] },
      entry: [sideEffect('a', () => ++n), sideEffect('b', () => ++n * 10), sideEffect('a', () => ++n)],
      on: {
        'squall.sideEffect.a': {
          actions: assign({ got: ({ context, event }) => [...context.got, ['a', event.value]] }),
        },
        'squall.sideEffect.b': {
          actions: assign({ got: ({ context, event }) => [...context.got, ['b', event.value]] }),
        },
      },
    });
    const wf = defineWorkflow({ name: 'multi', machine });
    const live = decide(wf, undefined, { kind: 'start', at: T0, workflowId: 'm', runId: 'm-1' });
    const got = (live.state.snapshot as { context: { got: unknown[] } }).context.got;
    expect(got).toEqual([
      ['a', 1],
      ['b', 20],
      ['a', 3],
    ]);
    const commit: Commit = { runId: 'm-1', workflowId: 'm', seq: 1, events: live.events };
    const replayed = replayCommits(wf, [commit]);
    expect(n).toBe(3);
    expect((replayed.snapshot as { context: { got: unknown[] } }).context.got).toEqual(got);
  });

  it('refuses a bad id, and a function that throws fails the run', async () => {
    expect(() => sideEffect('has space', () => 1)).toThrow(ConfigError);
    expect(() => sideEffect('', () => 1)).toThrow(/sideEffect id/);
    const boom = defineWorkflow({
      name: 'boom',
      machine: setup({}).createMachine({
        entry: sideEffect('x', () => {
          throw new Error('no entropy');
        }),
      }),
    });
    const run = await createTestRun(boom, { start: T0 });
    expect(run.status).toBe('failed');
    expect(run.error?.message).toBe('no entropy');
  });

  it('throws OutsideDecisionError when its action runs outside decide()', () => {
    const action = sideEffect('x', () => 1) as () => void;
    expect(() => action()).toThrow(OutsideDecisionError);
  });
});
