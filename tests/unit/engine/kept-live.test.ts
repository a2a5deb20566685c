/**
 * A decision on a hot run's state transitions the live snapshot its previous decision left
 * (draft.ts keepLive) instead of restoring an actor from the persisted snapshot. The two must
 * decide alike: every step here is decided both ways, on the state as returned (kept) and on a
 * copy read back as the store would give it (restored), and the decisions compared.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ActorRefFrom, assign, sendTo, setup } from 'xstate';
import { holdsKeptLive } from '../../../shared/engine/draft.js';
import {
  activity,
  type DecisionInput,
  decide,
  defineWorkflow,
  type RunState,
  type WorkflowDefinition,
} from '../../../shared/engine/index.js';
import type { SignalEvent } from '../../../shared/history/events.js';
import { kid } from '../../fixtures/lifecycle/workflows.js';
import { fanoutWorkflow, mailboxWorkflow, orderWorkflow, reminderWorkflow } from '../../fixtures/workflows.js';

type Fetch = ReturnType<typeof activity<number, number>>;

/** A ref to a spawned activity in context: such a run is never kept (a restore revives the ref). */
const refInContext = defineWorkflow({
  name: 'ref-in-context',
  machine: setup({
    types: { context: {} as { ref: ActorRefFrom<Fetch> | undefined } },
    actors: { fetch: activity<number, number>() },
  }).createMachine({
    context: { ref: undefined },
    initial: 'spawning',
    states: {
      spawning: {
        entry: assign({ ref: ({ spawn }) => spawn('fetch', { id: 'dyn', input: 1 }) }),
        on: { 'xstate.done.actor.dyn': 'done' },
      },
      done: { type: 'final' },
    },
  }),
});

/** A child under a systemId: never kept (a kept actor's system still holds the id). */
const withSystemId = defineWorkflow({
  name: 'with-system-id',
  machine: setup({ actors: { work: activity<number, number>() } }).createMachine({
    initial: 'working',
    states: {
      working: {
        invoke: { id: 'w', systemId: 'worker', src: 'work', input: 1, onDone: 'again' },
      },
      again: { invoke: { id: 'w2', src: 'work', input: 2, onDone: 'done' } },
      done: { type: 'final' },
    },
  }),
});

/** A send to the machine itself from its initial entry: the start's own actor must be the machine. */
const selfSend = defineWorkflow({
  name: 'self-send',
  machine: setup({ actors: { work: activity<number, number>() } }).createMachine({
    initial: 'a',
    entry: sendTo(({ self }) => self, { type: 'go' }),
    states: {
      a: { on: { go: 'b' } },
      b: { invoke: { src: 'work', input: 3, onDone: 'done' } },
      done: { type: 'final' },
    },
  }),
});

const SAMPLES: [WorkflowDefinition, unknown, SignalEvent[]][] = [
  [orderWorkflow, { orderId: 'o', amount: 5, approvalTimeoutMs: 300 }, [{ type: 'approve' }, { type: 'reject' }]],
  [mailboxWorkflow, undefined, [{ type: 'note', text: 'a' }, { type: 'work' }, { type: 'finish' }]],
  [reminderWorkflow, undefined, [{ type: 'snooze' }, { type: 'close' }, { type: 'remind' }]],
  [fanoutWorkflow, undefined, []],
  [kid, { label: 'k' }, [{ type: 'finish', value: 1 }]],
  [refInContext, undefined, []],
  [withSystemId, undefined, []],
  [selfSend, undefined, []],
];

/** The state as the store gives it back: a new snapshot object, so the decision restores. */
const readBack = (s: RunState): RunState => JSON.parse(JSON.stringify(s)) as RunState;

/** An input for the current state from a pick, or undefined when nothing is pending to pick. */
function inputFor(pick: number, state: RunState, at: number, signals: SignalEvent[]): DecisionInput | undefined {
  const activities = Object.values(state.activities).sort((a, b) => a.activitySeq - b.activitySeq);
  const timers = Object.values(state.timers).sort((a, b) => a.timerSeq - b.timerSeq);
  const choices: DecisionInput[] = [
    ...activities.map((a): DecisionInput => ({ kind: 'activityCompleted', at, activitySeq: a.activitySeq, output: 7 })),
    ...timers.map((t): DecisionInput => ({ kind: 'timerFired', at: Math.max(at, t.fireAt), timerSeq: t.timerSeq })),
    ...signals.map((event): DecisionInput => ({ kind: 'signal', at, event })),
  ];
  return choices[pick % Math.max(1, choices.length)];
}

describe('kept live snapshots', () => {
  it('decide exactly as a restored actor does, at every step of random runs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: SAMPLES.length - 1 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (sample, picks) => {
          const [def, input, signals] = SAMPLES[sample]!;
          let at = 1_000;
          let kept = decide(def, undefined, { kind: 'start', at, workflowId: 'w', runId: 'r', input });
          for (const pick of picks) {
            if (kept.state.status !== 'running') break;
            at += 10;
            const next = inputFor(pick, kept.state, at, signals);
            if (!next) break;
            const restored = decide(def, readBack(kept.state), next);
            kept = decide(def, kept.state, next);
            expect(readBack(kept.state)).toEqual(readBack(restored.state));
            expect(kept.events).toEqual(restored.events);
            expect(kept.commands).toEqual(restored.commands);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('are kept for a plain run from its start on, and taken once', () => {
    const start = decide(orderWorkflow, undefined, {
      kind: 'start',
      at: 1,
      workflowId: 'w',
      runId: 'r',
      input: { orderId: 'o', amount: 5, approvalTimeoutMs: 300 },
    });
    expect(holdsKeptLive(start.state.snapshot)).toBe(true);
    const first = decide(orderWorkflow, start.state, { kind: 'signal', at: 2, event: { type: 'approve' } });
    expect(holdsKeptLive(start.state.snapshot)).toBe(false);
    expect(holdsKeptLive(first.state.snapshot)).toBe(first.state.status === 'running');
    // The same state decided again (a lost append race, redecided) restores, and agrees.
    const again = decide(orderWorkflow, start.state, { kind: 'signal', at: 2, event: { type: 'approve' } });
    expect(again.events).toEqual(first.events);
    expect(readBack(again.state)).toEqual(readBack(first.state));
  });

  it('are not kept for a run with an actor ref in context or a child under a systemId', () => {
    const withRef = decide(refInContext, undefined, { kind: 'start', at: 1, workflowId: 'a', runId: 'a1' });
    expect(withRef.state.status).toBe('running');
    expect(holdsKeptLive(withRef.state.snapshot)).toBe(false);
    const keyed = decide(withSystemId, undefined, { kind: 'start', at: 1, workflowId: 'b', runId: 'b1' });
    expect(keyed.state.status).toBe('running');
    expect(holdsKeptLive(keyed.state.snapshot)).toBe(false);
  });

  it('are bounded in number: the oldest go first, and their runs restore', () => {
    const start = (i: number) =>
      decide(selfSend, undefined, { kind: 'start', at: 1, workflowId: `b${i}`, runId: `b${i}` }).state;
    const first = start(0);
    const rest = Array.from({ length: 2_048 }, (_, i) => start(i + 1));
    expect(holdsKeptLive(first.snapshot)).toBe(false);
    expect(holdsKeptLive(rest.at(-1)?.snapshot)).toBe(true);
    const restored = decide(selfSend, first, { kind: 'activityCompleted', at: 2, activitySeq: 1, output: 1 });
    expect(restored.state.status).toBe('completed');
  });

  it("take a send to the machine itself in the start's entry as its own event", () => {
    const d = decide(selfSend, undefined, { kind: 'start', at: 1, workflowId: 's', runId: 's1' });
    expect(d.events.map((e) => e.type)).toContain('ActivityScheduled');
  });
});
