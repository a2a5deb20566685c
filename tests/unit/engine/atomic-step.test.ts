/**
 * A step whose action throws (issue #16): an XState actor defers a transition's sends, emits,
 * delayed events and spawns until the transition is over and drops them when one of its actions
 * throws. Under ATOMIC_STEP_ENGINE Squall does the same: the failing step leaves only the run's
 * failure (and the cancels of what was pending before it); runs of earlier engines replay as they
 * ran, their failing step's effects kept.
 */
import { describe, expect, it } from 'vitest';
import { assign, createActor, emit, fromPromise, raise, sendParent, setup } from 'xstate';
import {
  ATOMIC_STEP_ENGINE,
  activity,
  type Command,
  CURRENT_ENGINE,
  decide,
  defineWorkflow,
  replayCommits,
  sendToWorkflow,
  XSTATE_FIDELITY_ENGINE,
} from '../../../shared/engine/index.js';
import type { Commit, HistoryEvent } from '../../../shared/history/events.js';
import { createTestRun } from '../../../shared/testing/index.js';

const boom = () => {
  throw new Error('step failed');
};

/** Waits on a timer, then on `go` asks for every kind of effect and throws in its last action. */
const machine = setup({ actors: { work: activity() } }).createMachine({
  id: 'thrower',
  initial: 'waiting',
  states: {
    waiting: {
      after: { 60000: 'late' },
      on: {
        go: {
          actions: [
            emit({ type: 'seen' }),
            sendToWorkflow('peer', { type: 'hello' }),
            raise({ type: 'later' }, { delay: 1_000 }),
            boom,
          ],
          target: 'working',
        },
      },
    },
    working: { invoke: { src: 'work' } },
    late: {},
  },
});
const thrower = defineWorkflow({ name: 'thrower', machine });

/** Starts the run under `engine`, sends `go`, and returns that decision with the commits so far. */
function failGo(engine: number) {
  const start = decide(thrower, undefined, { kind: 'start', at: 0, workflowId: 'w1', runId: 'r1', engine });
  const go = decide(thrower, start.state, { kind: 'signal', at: 10, event: { type: 'go' } });
  const commits: Commit[] = [start, go].map((d, i) => ({
    runId: 'r1',
    workflowId: 'w1',
    seq: i + 1,
    events: d.events,
  }));
  return { go, commits };
}

const types = (events: HistoryEvent[]) => events.map((e) => e.type);
const kinds = (commands: Command[]) => commands.map((c) => c.kind);

describe('a step whose action throws', () => {
  it('plain XState drops what the step asked for before the throw', () => {
    const emitted: unknown[] = [];
    const actor = createActor(machine.provide({ actors: { work: fromPromise(async () => 'done') as never } }));
    actor.on('*', (e) => emitted.push(e));
    actor.subscribe({ error: () => {} });
    actor.start();
    actor.send({ type: 'go' });
    expect(actor.getSnapshot().status).toBe('error');
    expect(emitted).toEqual([]);
  });

  it('records only the failure and cancels what was pending before it', () => {
    expect(CURRENT_ENGINE).toBeGreaterThanOrEqual(ATOMIC_STEP_ENGINE);
    const { go, commits } = failGo(CURRENT_ENGINE);
    expect(types(go.events)).toEqual(['SignalReceived', 'TimerCancelled', 'RunFailed']);
    expect(go.events[2]).toMatchObject({ error: { message: 'step failed' } });
    expect(kinds(go.commands)).toEqual(['cancelTimer', 'runClosed']);
    expect(go.state).toMatchObject({ status: 'failed', timers: {}, activities: {}, nextSeq: 2 });
    expect(go.state.sent).toBeUndefined();
    expect(replayCommits(thrower, commits)).toMatchObject({ status: 'failed', nextSeq: 2 });
  });

  it('runs of earlier engines keep the failing step’s effects, and replay as they ran', () => {
    const { go, commits } = failGo(XSTATE_FIDELITY_ENGINE);
    expect(types(go.events)).toEqual([
      'SignalReceived',
      'TimerCancelled', // leaving `waiting` disarms its `after`
      'EventEmitted',
      'MessageSent',
      'TimerScheduled',
      'TimerCancelled', // the failure cancels the raise the step armed
      'RunFailed',
    ]);
    expect(replayCommits(thrower, commits).sent).toEqual({ peer: 1 });
  });

  it('a child run whose first step sends to its parent and throws sends nothing: the parent hears only the failure', async () => {
    const child = setup({}).createMachine({
      initial: 'a',
      states: { a: { entry: [sendParent({ type: 'early' }), boom] } },
    });
    const parent = setup({ types: { context: {} as { log: string[] } }, actors: { child } }).createMachine({
      context: { log: [] },
      initial: 'waiting',
      states: {
        waiting: {
          invoke: {
            id: 'kid',
            src: 'child',
            onError: { target: 'done', actions: assign({ log: ({ context }) => [...context.log, 'child failed'] }) },
          },
          on: { early: { actions: assign({ log: ({ context }) => [...context.log, 'early'] }) } },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.log,
    });
    const plain = createActor(parent).start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(plain.getSnapshot().output).toEqual(['child failed']);

    const run = await createTestRun(defineWorkflow({ name: 'early-parent', machine: parent }));
    expect(run.status).toBe('completed');
    expect(run.output).toEqual(plain.getSnapshot().output);

    const started = decide(defineWorkflow({ name: 'early-child', machine: child }), undefined, {
      kind: 'start',
      at: 0,
      workflowId: 'c1',
      runId: 'rc',
      parent: { workflowId: 'p1', runId: 'rp', invokeId: 'kid', childSeq: 1 },
    });
    expect(types(started.events)).toEqual(['RunStarted', 'RunFailed']);
    const notify = started.commands.find((c) => c.kind === 'notifyParent');
    expect(notify).toMatchObject({ status: 'failed' });
    expect(notify).not.toHaveProperty('lastMsgSeq');
  });
});
