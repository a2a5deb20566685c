/**
 * invocation(): a run reads its identity deterministically in guards, actions and output, through
 * the test kit and decide(); continue-as-new counts up along the chain; replay answers the same.
 */
import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { continueAsNew, decide, defineWorkflow, type Invocation, invocation } from '../../../shared/engine/index.js';
import type { Command } from '../../../shared/engine/types.js';
import { OutsideDecisionError } from '../../../shared/errors.js';
import { createTestRun } from '../../../shared/testing/index.js';

const machine = setup({
  types: {
    input: {} as { again: boolean },
    context: {} as { seen?: Invocation; again: boolean },
  },
}).createMachine({
  id: 'who',
  context: ({ input }) => ({ again: input.again }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        go: [
          { guard: ({ context }) => context.again && invocation().continuedAsNew < 2, target: 'next' },
          { target: 'done', actions: assign({ seen: () => invocation() }) },
        ],
      },
    },
    next: { entry: continueAsNew(() => ({ again: true })) },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ seen: context.seen, atOutput: invocation() }),
});
const who = defineWorkflow({ name: 'who', version: 3, machine });

describe('invocation()', () => {
  it('answers the run identity in actions and output, and replay answers the same', async () => {
    const run = await createTestRun(who, { workflowId: 'w-1', runId: 'r-1', start: 1_000, input: { again: false } });
    await run.advanceBy(50);
    await run.signal({ type: 'go' });
    const expected: Invocation = {
      workflowId: 'w-1',
      runId: 'r-1',
      workflowType: 'who',
      version: 3,
      startedAt: 1_000,
      continuedAsNew: 0,
      resets: 0,
      branches: 0,
    };
    expect(run.output).toEqual({ seen: expected, atOutput: expected });
    expect(run.replay()).toEqual(run.state);
  });

  it('counts continue-as-new along the chain: each next run gets one more, recorded in its RunStarted', async () => {
    let count = 0;
    for (;;) {
      const run = await createTestRun(who, { input: { again: true }, continuedCount: count });
      await run.signal({ type: 'go' });
      const next = run.commands.find(
        (c): c is Extract<Command, { kind: 'continueAsNew' }> => c.kind === 'continueAsNew',
      );
      if (!next) {
        expect((run.output as { seen: Invocation }).seen.continuedAsNew).toBe(2);
        break;
      }
      expect(next.continuedCount).toBe(count + 1);
      count = next.continuedCount as number;
    }
    const started = decide(who, undefined, {
      kind: 'start',
      at: 5,
      workflowId: 'w',
      runId: 'r',
      input: { again: true },
      continuedCount: 2,
    });
    expect(started.events[0]).toMatchObject({ type: 'RunStarted', continuedCount: 2 });
    expect(started.state.continuedCount).toBe(2);
  });

  it('refuses a bad count and a call outside a decision', () => {
    expect(() =>
      decide(who, undefined, { kind: 'start', at: 5, workflowId: 'w', runId: 'r', continuedCount: -1 }),
    ).toThrow(/continuedCount must be a non-negative integer/);
    expect(() => invocation()).toThrow(OutsideDecisionError);
  });
});
