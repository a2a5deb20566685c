/**
 * Machines from the XState v5 documentation (stately.ai/docs), adapted only where Squall needs it:
 * activities in place of promise actors, child workflows in place of child machines, delays in ms.
 */
import { assign, raise, setup, spawnChild } from 'xstate';
import { activity, childWorkflow } from '../../../shared/engine/index.js';
import { type ExtraWorkflow, type FidelityCase, send } from '../case.js';

/** "Toggle" (Quick start): a context count of activations. */
const toggle = setup({ types: { context: {} as { count: number }, events: {} as { type: 'toggle' } } }).createMachine({
  id: 'toggle',
  context: { count: 0 },
  initial: 'Inactive',
  states: {
    Inactive: { on: { toggle: 'Active' } },
    Active: {
      entry: assign({ count: ({ context }) => context.count + 1 }),
      on: { toggle: 'Inactive' },
      after: { 5000: 'Inactive' },
    },
  },
});

/** "Delayed transitions" + "Parallel states": a traffic light with a pedestrian crossing. */
const trafficLight = setup({ types: { events: {} as { type: 'PED_REQUEST' } } }).createMachine({
  id: 'light',
  initial: 'green',
  states: {
    green: { after: { 30: 'yellow' }, tags: ['go'] },
    yellow: { after: { 20: 'red' }, tags: ['caution'] },
    red: {
      tags: ['stop'],
      initial: 'walk',
      states: {
        walk: { on: { PED_REQUEST: 'wait' } },
        wait: { after: { 20: 'stop' } },
        stop: { type: 'final' },
      },
      onDone: 'done',
    },
    done: { type: 'final', tags: ['off'] },
  },
});

/** "Invoke" / "Promise actors": fetch a user, retry on failure, with a final output. */
type FetchCtx = { userId: number; attempts: number; user: unknown; error: string };
const fetchUser = setup({
  types: { context: {} as FetchCtx, input: {} as { userId: number }, events: {} as { type: 'RETRY' } },
  actors: { double: activity<{ n: number }, number>(), failFetch: activity<{ userId: number }, never>() },
}).createMachine({
  id: 'user',
  context: ({ input }) => ({ userId: input.userId, attempts: 0, user: null, error: '' }),
  initial: 'failing',
  states: {
    failing: {
      entry: assign({ attempts: ({ context }) => context.attempts + 1 }),
      invoke: {
        src: 'failFetch',
        input: ({ context }) => ({ userId: context.userId }),
        onError: { target: 'failure', actions: assign({ error: ({ event }) => (event.error as Error).message }) },
      },
    },
    failure: { on: { RETRY: 'loading' } },
    loading: {
      entry: assign({ attempts: ({ context }) => context.attempts + 1 }),
      invoke: {
        src: 'double',
        input: ({ context }) => ({ n: context.userId }),
        onDone: { target: 'success', actions: assign({ user: ({ event }) => ({ id: event.output }) }) },
      },
    },
    success: { type: 'final' },
  },
  output: ({ context }) => ({ user: context.user, attempts: context.attempts }),
});

/** "Guards": the feedback form. */
type FeedbackEvent =
  | { type: 'feedback.good' }
  | { type: 'feedback.bad' }
  | { type: 'feedback.update'; value: string }
  | { type: 'submit' }
  | { type: 'close' };
const feedback = setup({
  types: { context: {} as { feedback: string }, events: {} as FeedbackEvent },
  guards: { feedbackValid: ({ context }) => context.feedback.length > 0 },
}).createMachine({
  id: 'feedback',
  context: { feedback: '' },
  initial: 'prompt',
  states: {
    prompt: { on: { 'feedback.good': 'thanks', 'feedback.bad': 'form' } },
    form: {
      on: {
        'feedback.update': { actions: assign({ feedback: ({ event }) => event.value }) },
        submit: [
          { guard: 'feedbackValid', target: 'thanks' },
          { target: 'form', reenter: true },
        ],
      },
    },
    thanks: { on: { close: 'closed' } },
    closed: { type: 'final' },
  },
  on: { close: '.closed' },
  output: ({ context }) => ({ feedback: context.feedback }),
});

/** "Eventless transitions": a game that ends when the score is high enough. */
const game = setup({
  types: { context: {} as { points: number }, events: {} as { type: 'play'; points: number } },
}).createMachine({
  context: { points: 0 },
  initial: 'playing',
  states: {
    playing: {
      always: { guard: ({ context }) => context.points > 99, target: 'win' },
      on: { play: { actions: assign({ points: ({ context, event }) => context.points + event.points }) } },
    },
    win: { type: 'final' },
  },
  output: ({ context }) => context.points,
});

/** "Raise": an internal event in the same macrostep. */
const raiser = setup({ types: { context: {} as { seen: string[] } } }).createMachine({
  context: { seen: [] },
  initial: 'first',
  states: {
    first: { entry: raise({ type: 'nextState' }), on: { nextState: 'second' } },
    second: { entry: assign({ seen: ({ context }) => [...context.seen, 'second'] }), type: 'final' },
  },
  output: ({ context }) => context.seen,
});

/** "Spawning actors": a parent spawns a child by id and takes its done event. */
const counterChild = setup({ types: { input: {} as { start: number } } }).createMachine({
  context: ({ input }) => ({ value: input.start * 10 }),
  initial: 'counting',
  states: { counting: { after: { 10: 'done' } }, done: { type: 'final' } },
  output: ({ context }) => context.value,
});
const COUNTER: ExtraWorkflow = { name: 'fid-child-counter', machine: counterChild };
const spawner = setup({
  types: { context: {} as { total: number } },
  actors: { counter: childWorkflow<{ start: number }, number>({ workflowType: COUNTER.name }) },
}).createMachine({
  context: { total: 0 },
  initial: 'spawning',
  states: {
    spawning: {
      entry: spawnChild('counter', { id: 'c1', input: { start: 4 } }),
      on: {
        'xstate.done.actor.c1': { target: 'done', actions: assign({ total: ({ event }) => event.output as number }) },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => context.total,
});

export const docsExamples: FidelityCase[] = [
  {
    name: 'docs-toggle',
    machine: toggle,
    events: [send({ type: 'toggle' }), send({ type: 'toggle' }, 'Active'), send({ type: 'toggle' }, 'Inactive')],
  },
  { name: 'docs-traffic-light', machine: trafficLight, events: [send({ type: 'PED_REQUEST' }, { red: 'walk' })] },
  {
    name: 'docs-fetch-retry',
    machine: fetchUser,
    input: { userId: 7 },
    events: [send({ type: 'RETRY' }, 'failure')],
  },
  {
    name: 'docs-feedback-form',
    machine: feedback,
    events: [
      send({ type: 'feedback.bad' }),
      send({ type: 'submit' }),
      send({ type: 'feedback.update', value: 'too slow' }),
      send({ type: 'submit' }),
      send({ type: 'close' }, 'thanks'),
    ],
  },
  {
    name: 'docs-game-eventless',
    machine: game,
    events: [
      send({ type: 'play', points: 50 }),
      send({ type: 'play', points: 30 }),
      send({ type: 'play', points: 30 }),
    ],
  },
  { name: 'docs-raise', machine: raiser },
  { name: 'docs-spawn-child', machine: spawner, plainActors: { counter: counterChild }, workflows: [COUNTER] },
];
