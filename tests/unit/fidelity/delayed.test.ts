/**
 * Issue #16 item 4: delayed events as XState runs them. A delayed event sent again with a live id
 * does not replace the earlier one (both fire; cancel(id) reaches the latest only), and timers due
 * at the same instant fire in the order they were scheduled.
 */
import { describe, expect, it } from 'vitest';
import { assign, cancel, createActor, raise, setup, toPromise } from 'xstate';
import { decide, defineWorkflow, type RunState } from '../../../shared/engine/index.js';
import { createTestRun, replayHistory } from '../../../shared/testing/index.js';
import { runInSquall, runInXState, type Step } from './compare.js';

type BellEvent = { type: 'arm' } | { type: 'disarm' } | { type: 'ring'; n: number };

/** Each `arm` sends a delayed `ring` with the same id; `disarm` cancels that id. */
const bell = setup({
  types: { context: {} as { armed: number; rang: number[] }, events: {} as BellEvent },
}).createMachine({
  id: 'bell',
  context: { armed: 0, rang: [] },
  on: {
    arm: {
      actions: [
        assign({ armed: ({ context }) => context.armed + 1 }),
        raise(({ context }) => ({ type: 'ring' as const, n: context.armed }), { id: 'bell', delay: 100 }),
      ],
    },
    disarm: { actions: cancel('bell') },
    ring: { actions: assign({ rang: ({ context, event }) => [...context.rang, event.n] }) },
  },
});

const SCENARIOS: { what: string; steps: Step[] }[] = [
  {
    what: 'sent again while live: both fire',
    steps: [{ send: { type: 'arm' } }, { wait: 50 }, { send: { type: 'arm' } }, { wait: 200 }],
  },
  {
    what: 'sent again, then cancelled: the earlier one still fires',
    steps: [
      { send: { type: 'arm' } },
      { wait: 50 },
      { send: { type: 'arm' } },
      { send: { type: 'disarm' } },
      { wait: 200 },
    ],
  },
  {
    what: 'sent again after the earlier fired',
    steps: [{ send: { type: 'arm' } }, { wait: 150 }, { send: { type: 'arm' } }, { wait: 150 }],
  },
];

describe('a delayed event sent again with the same id, as XState runs it', () => {
  for (const { what, steps } of SCENARIOS) {
    it(`reaches what plain XState reaches: ${what}`, async () => {
      const xstate = runInXState(bell, steps);
      const { outcome, run } = await runInSquall(bell, steps);
      expect(outcome).toEqual(xstate);
      expect(run.pendingTimers()).toEqual([]);
      expect(replayHistory(run.definition, run.history).snapshot).toEqual(run.state.snapshot);
    });
  }

  it('runs started under engine 2 keep replacing the earlier timer, so their histories replay', () => {
    const wf = defineWorkflow({ name: 'bell', machine: bell });
    let state: RunState = decide(wf, undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r', engine: 2 }).state;
    state = decide(wf, state, { kind: 'signal', at: 1, event: { type: 'arm' } }).state;
    const again = decide(wf, state, { kind: 'signal', at: 2, event: { type: 'arm' } });
    expect(again.events.map((e) => e.type)).toEqual(['SignalReceived', 'TimerCancelled', 'TimerScheduled']);
    expect(Object.keys(again.state.timers)).toEqual(['bell']);
  });
});

type StepEvent = { type: 'first' } | { type: 'second' } | { type: 'third' } | { type: 'go' };

/** Sends three zero-delay events in one transition, and logs the order they arrive in. */
const zeroDelays = setup({
  types: { context: {} as { seen: string[] }, events: {} as StepEvent },
}).createMachine({
  id: 'zero',
  context: { seen: [] },
  initial: 'sending',
  states: {
    sending: {
      entry: [
        raise({ type: 'first' }, { delay: 0 }),
        raise({ type: 'second' }, { delay: 0 }),
        raise({ type: 'third' }, { delay: 0 }),
      ],
      on: {
        first: { actions: assign({ seen: ({ context }) => [...context.seen, 'first'] }) },
        second: { actions: assign({ seen: ({ context }) => [...context.seen, 'second'] }) },
        third: { target: 'done', actions: assign({ seen: ({ context }) => [...context.seen, 'third'] }) },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => context.seen,
});

describe('timers due at the same instant fire in schedule order', () => {
  it('zero-delay sends arrive in the order sent, as under a plain XState actor with real timers', async () => {
    const xstate = await toPromise(createActor(zeroDelays).start());
    const run = await createTestRun(defineWorkflow({ name: 'zero', machine: zeroDelays }));
    await run.advanceBy(0);
    expect(run.output).toEqual(xstate);
    expect(xstate).toEqual(['first', 'second', 'third']);
  });

  it('timers of different decisions due at the same instant fire in schedule order (timerSeq)', async () => {
    const later = setup({
      types: { context: {} as { seen: string[] }, events: {} as StepEvent },
    }).createMachine({
      context: { seen: [] },
      on: {
        go: { actions: raise({ type: 'first' }, { delay: 100 }) },
        second: { actions: assign({ seen: ({ context }) => [...context.seen, 'second'] }) },
        first: {
          actions: [assign({ seen: ({ context }) => [...context.seen, 'first'] })],
        },
        third: { actions: raise({ type: 'second' }, { delay: 50 }) },
      },
    });
    const run = await createTestRun(defineWorkflow({ name: 'later', machine: later }));
    await run.signal({ type: 'go' });
    await run.advanceBy(50);
    await run.signal({ type: 'third' });
    expect(run.pendingTimers().map((t) => t.fireAt)).toEqual([100, 100]);
    await run.advanceBy(50);
    expect(run.context).toEqual({ seen: ['first', 'second'] });
  });
});

describe('the router applies firings in timer order, whatever order they arrive in', () => {
  const wf = defineWorkflow({ name: 'zero', machine: zeroDelays });
  const seqs = (state: RunState) => Object.values(state.timers).map((t) => t.timerSeq);

  it('a firing that overtook earlier ones fires those first, and theirs are then stale', () => {
    const started = decide(wf, undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r' });
    const [first, second, third] = seqs(started.state);
    if (first === undefined || second === undefined || third === undefined) throw new Error('three timers expected');
    const d = decide(wf, started.state, { kind: 'timerFired', at: 5, timerSeq: third });
    expect(d.events.filter((e) => e.type === 'TimerFired').map((e) => (e as { timerSeq: number }).timerSeq)).toEqual([
      third,
      first,
      second,
    ]);
    expect(d.state.status).toBe('completed');
    expect(d.state.output).toEqual(['first', 'second', 'third']);
    const stale = decide(wf, { ...d.state, status: 'running' }, { kind: 'timerFired', at: 6, timerSeq: first });
    expect(stale.events[0]).toMatchObject({ type: 'TimerFired', ignored: 'stale' });
  });

  it('replays a history whose firings arrived reversed', async () => {
    const run = await createTestRun(wf);
    const [, , third] = seqs(run.state);
    if (third === undefined) throw new Error('three timers expected');
    const d = decide(wf, run.state, { kind: 'timerFired', at: 1, timerSeq: third });
    const commits = [...run.history, { ...run.history[0]!, seq: 2, events: d.events }];
    expect(replayHistory(wf, commits).output).toEqual(['first', 'second', 'third']);
  });

  it('runs started under engine 2 keep taking firings in arrival order', () => {
    const started = decide(wf, undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r', engine: 2 });
    const third = seqs(started.state)[2] as number;
    const d = decide(wf, started.state, { kind: 'timerFired', at: 5, timerSeq: third });
    expect(d.state.status).toBe('completed');
    expect(d.state.output).toEqual(['third']);
  });
});
