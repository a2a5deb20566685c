/**
 * A parent takes its child run's messages from the first (issue #16, found by the delivery-order
 * load test): with two routers, a child's msgSeq 2 can reach the parent before msgSeq 1. Under
 * CHILD_MESSAGE_ORDER_ENGINE it is held until 1 is in; earlier engines took it, then dropped 1 as
 * stale (lost), and replay as they ran.
 */
import { describe, expect, it } from 'vitest';
import { assign, sendParent, setup } from 'xstate';
import {
  CHILD_MESSAGE_ORDER_ENGINE,
  type DecisionInput,
  decide,
  defineWorkflow,
  type RunState,
  XSTATE_FIDELITY_ENGINE,
} from '../../../shared/engine/index.js';

const teller = setup({}).createMachine({
  initial: 'a',
  states: { a: { entry: [1, 2, 3].map((n) => sendParent({ type: 'item', n })) } },
});
const parent = defineWorkflow({
  name: 'listener',
  machine: setup({
    types: { context: {} as { items: number[] }, events: {} as { type: 'item'; n: number } },
    actors: { teller },
  }).createMachine({
    context: { items: [] },
    invoke: { id: 'kid', src: 'teller' },
    on: { item: { actions: assign({ items: ({ context, event }) => [...context.items, event.n] }) } },
  }),
});

/** The parent's items after its child's messages arrive in `order` (msgSeq), under `engine`. */
function itemsAfter(order: number[], engine: number): { items: unknown; marks: (string | undefined)[] } {
  let state: RunState = decide(parent, undefined, { kind: 'start', at: 0, workflowId: 'p', runId: 'rp', engine }).state;
  const childId = Object.values(state.children)[0]?.childWorkflowId as string;
  const marks: (string | undefined)[] = [];
  for (const msgSeq of order) {
    const input: DecisionInput = {
      kind: 'signal',
      at: msgSeq,
      event: { type: 'item', n: msgSeq },
      from: { workflowId: childId, runId: 'rc', msgSeq },
    };
    const d = decide(parent, state, input);
    const first = d.events[0] as { held?: boolean; ignored?: string };
    marks.push(first.held ? 'held' : first.ignored);
    state = d.state;
  }
  return { items: (state.snapshot as { context: { items: number[] } }).context.items, marks };
}

describe("a child's messages to its parent", () => {
  it('are taken in the order sent when the second arrives first', () => {
    expect(itemsAfter([2, 1, 3], CHILD_MESSAGE_ORDER_ENGINE)).toEqual({
      items: [1, 2, 3],
      marks: ['held', undefined, undefined],
    });
  });

  it('runs of earlier engines took the second and dropped the first, and replay so', () => {
    expect(itemsAfter([2, 1, 3], XSTATE_FIDELITY_ENGINE)).toEqual({
      items: [2, 3],
      marks: [undefined, 'stale', undefined],
    });
  });
});
