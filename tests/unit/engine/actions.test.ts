import { describe, expect, it } from 'vitest';
import type { ExecutableActionObject } from 'xstate';
import { assign, cancel, emit, log, raise, sendTo, setup, spawnChild, stopChild } from 'xstate';
import {
  type ActionTarget,
  activity,
  applyActions,
  decide,
  defineWorkflow,
  type RunState,
} from '../../../shared/engine/index.js';
import { ConfigError } from '../../../shared/errors.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { sequenceWorkflow } from '../../fixtures/workflows.js';

function target(state?: Partial<RunState>): ActionTarget {
  const base = decide(sequenceWorkflow, undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r' }).state;
  return { at: 100, state: { ...base, ...state }, events: [], commands: [], selfEvents: [] };
}
const action = (type: string, params: unknown, exec?: () => void): ExecutableActionObject =>
  ({ type, params, exec, info: {} }) as unknown as ExecutableActionObject;

/**
 * The reminder fixture as XState wants a re-arm written: a delayed event sent again with a live id
 * does not replace it (both fire), so snooze cancels the pending one first.
 */
const rearmedReminder = defineWorkflow({
  name: 'reminder',
  machine: setup({ types: { context: {} as { reminders: number } } }).createMachine({
    id: 'reminder',
    context: { reminders: 0 },
    initial: 'open',
    states: {
      open: {
        entry: raise({ type: 'remind' }, { delay: 200, id: 'nag' }),
        on: {
          remind: {
            target: 'open',
            reenter: true,
            actions: assign({ reminders: ({ context }) => context.reminders + 1 }),
          },
          snooze: { actions: [cancel('nag'), raise({ type: 'remind' }, { delay: 1000, id: 'nag' })] },
          close: 'closed',
        },
      },
      closed: { type: 'final' },
    },
    output: ({ context }) => context,
  }),
});

describe('applyActions', () => {
  it('xstate.spawnChild → ActivityScheduled + scheduleActivity with the next seq', () => {
    const t = target();
    applyActions(sequenceWorkflow, [action('xstate.spawnChild', { id: 'k', src: 'stepB', input: { q: 1 } })], t);
    expect(t.events).toEqual([
      {
        type: 'ActivityScheduled',
        at: 100,
        activitySeq: 2,
        activity: 'stepB',
        invokeId: 'k',
        input: { q: 1 },
        policy: sequenceWorkflow.policyFor('stepB', 'k'),
      },
    ]);
    expect(t.commands).toEqual([
      { kind: 'scheduleActivity', activitySeq: 2, activity: 'stepB', invokeId: 'k', input: { q: 1 }, attempt: 1 },
    ]);
    expect(t.state.nextSeq).toBe(3);
    expect(t.state.activities.k).toMatchObject({ activitySeq: 2, scheduledAt: 100 });
  });

  it('refuses a spawn with logic instead of a name and a duplicate live invoke id; a workflow src starts a child', () => {
    expect(() => applyActions(sequenceWorkflow, [action('xstate.spawnChild', { id: 'k', src: {} })], target())).toThrow(
      ConfigError,
    );
    expect(() =>
      applyActions(sequenceWorkflow, [action('xstate.spawnChild', { id: 'a', src: 'stepA' })], target()),
    ).toThrow(/share the invoke id/);
    const wf = defineWorkflow({
      name: 'seq',
      machine: sequenceWorkflow.machine,
      isWorkflowSrc: (src) => src === 'stepB',
    });
    const t = target();
    applyActions(wf, [action('xstate.spawnChild', { id: 'k', src: 'stepB' })], t);
    expect(t.commands).toEqual([
      { kind: 'startChild', childSeq: 2, workflowType: 'stepB', invokeId: 'k', childWorkflowId: 'w-k-2' },
    ]);
  });

  it('xstate.stopChild cancels a pending activity and ignores one that is not pending', () => {
    const t = target();
    applyActions(
      sequenceWorkflow,
      [action('xstate.stopChild', { id: 'nope' }), action('xstate.stopChild', { id: 'a' })],
      t,
    );
    expect(t.events).toEqual([{ type: 'ActivityCancelled', at: 100, activitySeq: 1 }]);
    expect(t.commands).toEqual([{ kind: 'cancelActivity', activitySeq: 1, activity: 'stepA', reason: 'cancelled' }]);
    expect(t.state.activities).toEqual({});
    applyActions(sequenceWorkflow, [action('xstate.stopChild', undefined)], t);
    expect(t.events).toHaveLength(1);
  });

  it('xstate.raise with a delay → TimerScheduled at input time + delay; without a delay → nothing', () => {
    const t = target();
    applyActions(
      sequenceWorkflow,
      [
        action('xstate.raise', { event: { type: 'now' } }),
        action('xstate.raise', { event: { type: 'later' }, id: 'x', delay: 250 }),
        action('xstate.raise', { event: { type: 'anon' }, delay: -5 }),
      ],
      t,
    );
    expect(t.events).toEqual([
      { type: 'TimerScheduled', at: 100, timerSeq: 2, sendId: 'x', delayMs: 250, fireAt: 350 },
      { type: 'TimerScheduled', at: 100, timerSeq: 3, sendId: 'squall.timer.3', delayMs: 0, fireAt: 100 },
    ]);
    expect(t.commands).toEqual([
      { kind: 'scheduleTimer', timerSeq: 2, fireAt: 350 },
      { kind: 'scheduleTimer', timerSeq: 3, fireAt: 100 },
    ]);
    expect(t.state.timers.x).toEqual({ timerSeq: 2, sendId: 'x', fireAt: 350, event: { type: 'later' } });
  });

  it('re-scheduling a live sendId keeps the earlier timer live, as XState does; only the latest answers cancel', () => {
    const t = target();
    const later = action('xstate.raise', { event: { type: 'later' }, id: 'x', delay: 10 });
    applyActions(sequenceWorkflow, [later, later], t);
    expect(t.events.map((e) => e.type)).toEqual(['TimerScheduled', 'TimerScheduled']);
    expect(t.state.timers.x?.timerSeq).toBe(3);
    expect(Object.values(t.state.timers).map((x) => x.timerSeq)).toEqual([2, 3]);
    applyActions(sequenceWorkflow, [action('xstate.cancel', { sendId: 'x' })], t);
    expect(t.events.at(-1)).toEqual({ type: 'TimerCancelled', at: 100, timerSeq: 3 });
    expect(Object.values(t.state.timers).map((x) => x.timerSeq)).toEqual([2]);
  });

  it('runs of engine 2 replay as they ran: re-scheduling a live sendId cancels the earlier timer first', () => {
    const t = target({ engine: 2 });
    const later = action('xstate.raise', { event: { type: 'later' }, id: 'x', delay: 10 });
    applyActions(sequenceWorkflow, [later, later], t);
    expect(t.events.map((e) => e.type)).toEqual(['TimerScheduled', 'TimerCancelled', 'TimerScheduled']);
    expect(Object.values(t.state.timers).map((x) => x.timerSeq)).toEqual([3]);
  });

  it('xstate.cancel cancels the live timer of its sendId and ignores unknown ids', () => {
    const t = target();
    applyActions(sequenceWorkflow, [action('xstate.raise', { event: { type: 'e' }, id: 'x', delay: 10 })], t);
    applyActions(
      sequenceWorkflow,
      [action('xstate.cancel', { sendId: 'other' }), action('xstate.cancel', { sendId: 'x' })],
      t,
    );
    expect(t.events.at(-1)).toEqual({ type: 'TimerCancelled', at: 100, timerSeq: 2 });
    expect(t.commands.at(-1)).toEqual({ kind: 'cancelTimer', timerSeq: 2 });
    expect(t.events).toHaveLength(2);
  });

  it('xstate.emit → EventEmitted + emit', () => {
    const t = target();
    applyActions(sequenceWorkflow, [action('xstate.emit', { event: { type: 'hello', n: 1 } })], t);
    expect(t.events).toEqual([{ type: 'EventEmitted', at: 100, event: { type: 'hello', n: 1 } }]);
    expect(t.commands).toEqual([{ kind: 'emit', event: { type: 'hello', n: 1 } }]);
  });

  it('ignores what XState resolved itself, runs custom actions, refuses unknown built-ins', () => {
    const t = target();
    let ran = 0;
    applyActions(
      sequenceWorkflow,
      [action('xstate.assign', {}), action('xstate.log', { value: 'x' }), action('myAction', undefined, () => ran++)],
      t,
    );
    expect(ran).toBe(1);
    expect(t.events).toEqual([]);
    expect(() => applyActions(sequenceWorkflow, [action('xstate.teleport', {})], t)).toThrow(/cannot honour durably/);
  });

  it('refuses sendTo another actor', () => {
    expect(() =>
      applyActions(
        sequenceWorkflow,
        [action('xstate.sendTo', { to: { id: 'a', logic: {} }, event: { type: 'x' } })],
        target(),
      ),
    ).toThrow(/sendTo to actor "a" is not supported/);
  });
});

describe('actions through real machines', () => {
  const wf = defineWorkflow({
    name: 'kitchen',
    machine: setup({
      types: { context: {} as { n: number } },
      actors: { cook: activity(), clean: activity() },
    }).createMachine({
      id: 'kitchen',
      context: { n: 0 },
      initial: 'idle',
      states: {
        idle: {
          entry: [log('hi'), raise({ type: 'bump' })],
          on: {
            bump: { actions: assign({ n: ({ context }) => context.n + 1 }) },
            spawn: { actions: spawnChild('clean', { id: 'sweeper', input: { room: 1 } }) },
            stop: { actions: stopChild('sweeper') },
            self: { actions: sendTo(({ self }) => self, { type: 'bump' }) },
            selfLater: { actions: sendTo(({ self }) => self, { type: 'bump' }, { delay: 50, id: 'later' }) },
            shout: { actions: emit({ type: 'shouted' }) },
            go: 'cooking',
          },
        },
        cooking: { invoke: { id: 'pot', src: 'cook' } },
      },
    }),
  });

  it('applies a non-delayed raise inside XState and records nothing for it', async () => {
    const run = await createTestRun(wf);
    expect(run.context).toEqual({ n: 1 });
    expect(run.history[0]!.events.map((e) => e.type)).toEqual(['RunStarted']);
  });

  it('spawnChild and stopChild actions schedule and cancel activities', async () => {
    const run = await createTestRun(wf);
    await run.signal({ type: 'spawn' });
    expect(run.pendingActivities()).toMatchObject([{ activity: 'clean', invokeId: 'sweeper', input: { room: 1 } }]);
    await run.signal({ type: 'stop' });
    expect(run.history.at(-1)!.events.map((e) => e.type)).toEqual(['SignalReceived', 'ActivityCancelled']);
  });

  it('sendTo self: immediately as a follow-up event, with a delay as a timer', async () => {
    const run = await createTestRun(wf);
    await run.signal({ type: 'self' });
    expect(run.context).toEqual({ n: 2 });
    await run.signal({ type: 'selfLater' });
    expect(run.pendingTimers()).toMatchObject([{ sendId: 'later', event: { type: 'bump' } }]);
    await run.advanceBy(50);
    expect(run.context).toEqual({ n: 3 });
  });

  it('emit becomes an emit command', async () => {
    const run = await createTestRun(wf);
    await run.signal({ type: 'shout' });
    expect(run.emitted).toEqual([{ type: 'shouted' }]);
  });

  it('a delayed raise with an id can be re-armed (cancel, then raise) and cancelled by id', async () => {
    const run = await createTestRun(rearmedReminder);
    await run.advanceBy(200);
    expect(run.context).toEqual({ reminders: 1 });
    await run.signal({ type: 'snooze' });
    expect(run.pendingTimers()).toMatchObject([{ sendId: 'nag', fireAt: 1200 }]);
    await run.advanceTo(1199);
    expect(run.context).toEqual({ reminders: 1 });
    await run.advanceTo(1200);
    expect(run.context).toEqual({ reminders: 2 });
    await run.signal({ type: 'close' });
    expect(run.output).toEqual({ reminders: 2 });
    expect(run.history.at(-1)!.events.map((e) => e.type)).toEqual(['SignalReceived', 'TimerCancelled', 'RunCompleted']);
  });
});
