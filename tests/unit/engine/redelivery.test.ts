/**
 * Outside inputs (signals, cancels, terminates) name the message they came in (`inputId`): the
 * same message delivered again, after a router died between storing its decision and acking it,
 * changes nothing, and replay rebuilds what the run remembers of them.
 */
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import {
  type DecisionInput,
  decide,
  defineWorkflow,
  RECENT_INPUTS,
  type RunState,
  replayCommits,
} from '../../../shared/engine/index.js';
import type { Commit } from '../../../shared/history/events.js';

const tally = defineWorkflow({
  name: 'tally',
  machine: setup({ types: { context: {} as { n: number } } }).createMachine({
    id: 'tally',
    context: { n: 0 },
    initial: 'counting',
    states: {
      counting: {
        on: {
          add: { actions: assign({ n: ({ context }) => context.n + 1 }) },
          stop: 'done',
          'squall.cancel': 'cleanup',
        },
      },
      cleanup: { on: { cleaned: 'done' } },
      done: { type: 'final' },
    },
    output: ({ context }) => ({ n: context.n }),
  }),
});

const started = (): RunState => decide(tally, undefined, { kind: 'start', at: 1, workflowId: 'w', runId: 'r' }).state;

/** Folds inputs, keeping the commits like a router would. */
function fold(state: RunState, inputs: DecisionInput[], commits: Commit[] = []) {
  let s = state;
  const counts: number[] = [];
  for (const input of inputs) {
    const d = decide(tally, s, input);
    counts.push(d.events.length);
    if (d.events.length > 0) commits.push({ runId: 'r', workflowId: 'w', seq: d.state.lastSeq, events: d.events });
    s = d.state;
  }
  return { state: s, counts, commits };
}

describe('redelivered outside inputs', () => {
  it('a signal taken before is dropped: no event, no change, and the counter moved once', () => {
    const first = decide(tally, started(), { kind: 'signal', at: 2, event: { type: 'add' }, inputId: 'e/7' });
    expect(first.events).toEqual([{ type: 'SignalReceived', at: 2, signal: { type: 'add' }, inputId: 'e/7' }]);
    expect(first.state.recentInputs).toEqual(['e/7']);
    const again = decide(tally, first.state, { kind: 'signal', at: 3, event: { type: 'add' }, inputId: 'e/7' });
    expect(again.events).toEqual([]);
    expect(again.commands).toEqual([]);
    expect(again.state).toBe(first.state);
    const other = decide(tally, first.state, { kind: 'signal', at: 3, event: { type: 'add' }, inputId: 'e/8' });
    expect((other.state.snapshot as { context: { n: number } }).context.n).toBe(2);
  });

  it('an unhandled signal and a cancel are remembered the same way', () => {
    const s = started();
    const { state, counts } = fold(s, [
      { kind: 'signal', at: 2, event: { type: 'cleaned' }, inputId: 'e/1' },
      { kind: 'signal', at: 3, event: { type: 'cleaned' }, inputId: 'e/1' },
      { kind: 'cancel', at: 4, reason: 'ops', inputId: 'e/2' },
      { kind: 'cancel', at: 5, reason: 'ops', inputId: 'e/2' },
    ]);
    expect(counts).toEqual([1, 0, 1, 0]);
    expect(state.recentInputs).toEqual(['e/1', 'e/2']);
  });

  it('inputs without an id are never taken for redeliveries', () => {
    const { counts, state } = fold(started(), [
      { kind: 'signal', at: 2, event: { type: 'add' } },
      { kind: 'signal', at: 3, event: { type: 'add' } },
    ]);
    expect(counts).toEqual([1, 1]);
    expect(state.recentInputs).toBeUndefined();
  });

  it(`remembers the latest ${RECENT_INPUTS} ids, and replay rebuilds them from history`, () => {
    const inputs: DecisionInput[] = Array.from({ length: RECENT_INPUTS + 5 }, (_, i) => ({
      kind: 'signal',
      at: 10 + i,
      event: { type: 'add' },
      inputId: `e/${i}`,
    }));
    const commits: Commit[] = [];
    const first = decide(tally, undefined, { kind: 'start', at: 1, workflowId: 'w', runId: 'r' });
    commits.push({ runId: 'r', workflowId: 'w', seq: 1, events: first.events });
    const { state } = fold(first.state, inputs, commits);
    expect(state.recentInputs).toHaveLength(RECENT_INPUTS);
    expect(state.recentInputs?.[0]).toBe('e/5');
    expect(replayCommits(tally, commits).recentInputs).toEqual(state.recentInputs);
    // The oldest ids are forgotten: that message again would count. A redelivery comes one ack
    // wait after its first delivery, long before a run usually takes that many more inputs.
    expect(decide(tally, state, { ...(inputs[0] as DecisionInput), at: 99 }).events).toHaveLength(1);
  });

  it('rejects an inputId that is not a string', () => {
    expect(() =>
      decide(tally, started(), { kind: 'signal', at: 2, event: { type: 'add' }, inputId: 7 as unknown as string }),
    ).toThrow(/inputId/);
  });
});
