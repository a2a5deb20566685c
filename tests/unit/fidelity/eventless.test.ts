/**
 * Issue #16 item 3: XState (since 4.20.2) re-checks eventless (`always`) transitions after every
 * event, whether a transition took it or not. Squall must let the machine see an unhandled signal
 * too, while still recording it in history as unhandled.
 */
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { decide, defineWorkflow } from '../../../shared/engine/index.js';
import type { SignalEvent } from '../../../shared/history/events.js';
import { createTestRun, replayHistory } from '../../../shared/testing/index.js';
import { runInSquall, runInXState, type Step } from './compare.js';

type Ev = { type: 'add'; amount: number } | { type: 'poke' } | { type: 'nudge'; amount: number } | { type: 'ping' };

/** Waits until the total plus what an event carries reaches 10, or a poke; `ping` is a no-op transition. */
const gate = setup({
  types: { context: {} as { total: number }, events: {} as Ev },
}).createMachine({
  id: 'gate',
  context: { total: 0 },
  initial: 'waiting',
  states: {
    waiting: {
      always: [
        { guard: ({ event }) => event.type === 'poke', target: 'poked' },
        {
          guard: ({ context, event }) => event.type === 'nudge' && context.total + event.amount >= 10,
          target: 'open',
        },
      ],
      on: {
        add: { actions: assign({ total: ({ context, event }) => context.total + event.amount }) },
        ping: {},
      },
    },
    poked: { type: 'final', entry: assign({ total: -1 }) },
    open: { type: 'final' },
  },
  output: ({ context }) => context.total,
});

const SCENARIOS: { what: string; steps: Step[] }[] = [
  { what: 'an event no transition takes, read by an eventless guard', steps: [{ send: { type: 'poke' } }] },
  {
    what: 'an unhandled event whose payload and the context assigned before pass a guard',
    steps: [
      { send: { type: 'add', amount: 4 } },
      { send: { type: 'nudge', amount: 3 } },
      { send: { type: 'nudge', amount: 6 } },
    ],
  },
  {
    what: 'a transition with no target and no actions',
    steps: [{ send: { type: 'ping' } }, { send: { type: 'add', amount: 1 } }],
  },
  {
    what: 'unhandled events that pass no guard',
    steps: [{ send: { type: 'nudge', amount: 1 } }, { send: { type: 'ping' } }],
  },
];

describe('eventless transitions after an unhandled signal, as XState runs them', () => {
  for (const { what, steps } of SCENARIOS) {
    it(`reach what plain XState reaches: ${what}`, async () => {
      const xstate = runInXState(gate, steps);
      const { outcome, run } = await runInSquall(gate, steps);
      expect(outcome).toEqual(xstate);
      // History is the truth: replaying it rebuilds the same state.
      expect(replayHistory(run.definition, run.history).snapshot).toEqual(run.state.snapshot);
    });
  }

  it('still records a signal no transition takes as unhandled, even when an eventless transition then moves', async () => {
    const { run } = await runInSquall(gate, [{ send: { type: 'poke' } }]);
    const received = run.history.flatMap((c) => c.events).find((e) => e.type === 'SignalReceived');
    expect(received).toMatchObject({ signal: { type: 'poke' }, ignored: 'unhandled' });
    expect(run.status).toBe('completed');
  });

  it('lets a signal-with-start that the initial state does not take run the eventless transitions', async () => {
    const wf = defineWorkflow({ name: 'gate', machine: gate });
    const signal: SignalEvent = { type: 'poke' };
    const run = await createTestRun(wf, { signal });
    const started = run.history[0]?.events.find((e) => e.type === 'SignalReceived');
    expect(started).toMatchObject({ ignored: 'unhandled' });
    expect(run.status).toBe('completed');
    expect(run.output).toBe(-1);
  });

  it('runs started under engine 2 still drop it unseen, so their recorded histories replay', () => {
    const wf = defineWorkflow({ name: 'gate', machine: gate });
    const started = decide(wf, undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r', engine: 2 });
    const d = decide(wf, started.state, { kind: 'signal', at: 1, event: { type: 'poke' } });
    expect(d.events).toHaveLength(1);
    expect(d.events[0]).toMatchObject({ type: 'SignalReceived', ignored: 'unhandled' });
    expect(d.state.status).toBe('running');
  });

  it('keeps a deferred signal in the mailbox instead (it is seen when a state takes it)', () => {
    const wf = defineWorkflow({ name: 'gate', machine: gate, deferred: ['poke'] });
    const started = decide(wf, undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r' });
    const d = decide(wf, started.state, { kind: 'signal', at: 1, event: { type: 'poke' } });
    expect(d.events[0]).toMatchObject({ type: 'SignalReceived', deferred: true });
    expect(d.state.mailbox).toEqual([{ type: 'poke' }]);
    expect(d.state.status).toBe('running');
  });
});
