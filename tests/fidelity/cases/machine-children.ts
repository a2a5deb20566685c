/**
 * State machines in `setup({ actors })` as durable child runs (issue #16): an invoked machine
 * child's input, output and failure; children in parallel regions; a grandchild; a `spawnChild`ed
 * machine taking `sendTo` by id and answering with `sendParent`, ended by its done event; `sendTo` a
 * `systemId` and a spawned ref kept in context; `stopChild` and leaving the invoking state; a
 * ping-pong; and a child whose step throws after a `sendParent` (XState drops that step's sends, and
 * so does Squall). Plain XState runs the same machines as its own child actors: no `plainActors`.
 */
import {
  type AnyActorRef,
  type AnyStateMachine,
  assign,
  sendParent,
  sendTo,
  setup,
  spawnChild,
  stopChild,
} from 'xstate';
import { pingerMachine, pongerMachine } from '../../fixtures/messages/workflows.js';
import { type FidelityCase, send } from '../case.js';
import { note, type Trail } from './util.js';

type Ev = { type: string; text?: string };
type Ctx = Trail & { results: Record<string, unknown> };
const fresh = (): Ctx => ({ log: [], results: {} });

const boom = () => {
  throw new Error('child step failed');
};

/** Doubles its input's number after a short timer. */
const doubler = setup({ types: { input: {} as { n: number }, context: {} as { n: number } } }).createMachine({
  context: ({ input }) => ({ n: input.n }),
  initial: 'thinking',
  states: { thinking: { after: { 20: 'done' } }, done: { type: 'final' } },
  output: ({ context }) => ({ doubled: context.n * 2 }),
});

/** Says `ready` to its parent, echoes every `say`, and completes with what it heard on `stop`. */
const echoer = setup({ types: { context: {} as { said: string[] }, events: {} as Ev } }).createMachine({
  context: { said: [] },
  initial: 'listening',
  states: {
    listening: {
      entry: sendParent({ type: 'ready' }),
      on: {
        say: {
          actions: [
            assign({ said: ({ context, event }) => [...context.said, event.text ?? ''] }),
            sendParent(({ event }) => ({ type: 'echo', text: event.text })),
          ],
        },
        stop: 'done',
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ said: context.said }),
});

/** Never finishes on its own and sends nothing. */
const sleeper = setup({}).createMachine({ initial: 'sleeping', states: { sleeping: {} } });

/** Says hello on entry; on `go` sends `early` and throws in the same step. */
const lateThrower = setup({ types: { events: {} as Ev } }).createMachine({
  initial: 'a',
  states: {
    a: { entry: sendParent({ type: 'hello' }), on: { go: { actions: [sendParent({ type: 'early' }), boom] } } },
  },
});

/** Sends `early` and throws in its very first step. */
const firstThrower = setup({}).createMachine({
  initial: 'a',
  states: { a: { entry: [sendParent({ type: 'early' }), boom] } },
});

/** Invokes its own child (a doubler) and completes with its output plus one. */
const middle = setup({
  types: { input: {} as { n: number }, context: {} as { n: number; got?: number } },
  actors: { doubler },
}).createMachine({
  context: ({ input }) => ({ n: input.n }),
  initial: 'asking',
  states: {
    asking: {
      invoke: {
        id: 'leaf',
        src: 'doubler',
        input: ({ context }) => ({ n: context.n }),
        onDone: {
          target: 'done',
          actions: assign({ got: ({ event }) => (event.output as { doubled: number }).doubled }),
        },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ plusOne: (context.got ?? 0) + 1 }),
});

const parent = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
  actors: { doubler, echoer, sleeper, lateThrower, firstThrower, middle },
});
const keep = (key: string) =>
  assign<Ctx, Ev & { output?: unknown }, undefined, Ev, never>({
    results: ({ context, event }) => ({ ...context.results, [key]: event.output }),
  });
const logEcho = assign<Ctx, Ev, undefined, Ev, never>({
  log: ({ context, event }) => [...context.log, `echo ${event.text}`],
});

/** A parent that invokes `src` (with `id`), notes every event of `listens`, and ends on its done or error. */
function invoking(src: 'lateThrower' | 'firstThrower', listens: Record<string, object>): AnyStateMachine {
  return parent.createMachine({
    context: fresh(),
    initial: 'waiting',
    states: {
      waiting: {
        invoke: { id: 'kid', src, onDone: 'unexpected', onError: { target: 'done', actions: note('child failed') } },
        on: listens,
      },
      unexpected: { type: 'final' },
      done: { type: 'final' },
    },
    output: ({ context }) => context.log,
  });
}

type RefCtx = Ctx & { ref?: AnyActorRef };

export const machineChildren: FidelityCase[] = [
  {
    name: 'machine-invoke-input-output',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'asking',
      states: {
        asking: {
          tags: ['busy'],
          invoke: { id: 'dbl', src: 'doubler', input: { n: 21 }, onDone: { target: 'done', actions: keep('dbl') } },
        },
        done: { type: 'final', tags: ['finished'] },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'machine-children-parallel',
    machine: parent.createMachine({
      context: fresh(),
      type: 'parallel',
      states: {
        one: {
          initial: 'run',
          states: {
            run: {
              invoke: { id: 'one', src: 'doubler', input: { n: 1 }, onDone: { target: 'ok', actions: keep('one') } },
            },
            ok: { type: 'final' },
          },
        },
        two: {
          initial: 'run',
          states: {
            run: {
              invoke: { id: 'two', src: 'doubler', input: { n: 5 }, onDone: { target: 'ok', actions: keep('two') } },
            },
            ok: { type: 'final' },
          },
        },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'machine-grandchild',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'asking',
      states: {
        asking: {
          invoke: { id: 'mid', src: 'middle', input: { n: 4 }, onDone: { target: 'done', actions: keep('mid') } },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    // The sends in the spawning entry wait for the child, as XState delivers them once it starts.
    name: 'machine-spawn-send-to-and-done',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'talking',
      states: {
        talking: {
          entry: [
            spawnChild('echoer', { id: 'e1' }),
            sendTo('e1', { type: 'say', text: 'a' }),
            sendTo('e1', { type: 'say', text: 'b' }),
          ],
          on: {
            ready: { actions: note('ready') },
            echo: [
              { guard: ({ event }) => event.text === 'b', actions: [logEcho, sendTo('e1', { type: 'stop' })] },
              { actions: logEcho },
            ],
            'xstate.done.actor.e1': { target: 'done', actions: keep('e1') },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context,
    }),
  },
  {
    name: 'machine-send-to-system-id',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'talking',
      states: {
        talking: {
          invoke: { id: 'inv', src: 'echoer', systemId: 'worker', onDone: { target: 'done', actions: keep('inv') } },
          on: {
            ready: {
              actions: [
                note('ready'),
                sendTo(({ system }) => system.get('worker') as AnyActorRef, { type: 'say', text: 'sys' }),
              ],
            },
            echo: { actions: [logEcho, sendTo(({ system }) => system.get('worker') as AnyActorRef, { type: 'stop' })] },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context,
    }),
  },
  {
    name: 'machine-spawned-ref-in-context',
    machine: setup({
      types: { context: {} as RefCtx, events: {} as Ev },
      actors: { echoer },
    }).createMachine({
      context: fresh(),
      initial: 'talking',
      states: {
        talking: {
          entry: assign({ ref: ({ spawn }) => spawn('echoer', { id: 'r1' }) }),
          on: {
            ready: { actions: sendTo(({ context }) => context.ref as AnyActorRef, { type: 'say', text: 'via ref' }) },
            echo: {
              actions: [
                assign({ log: ({ context, event }) => [...context.log, `echo ${event.text}`] }),
                sendTo(({ context }) => context.ref as AnyActorRef, { type: 'stop' }),
              ],
            },
            'xstate.done.actor.r1': {
              target: 'done',
              // The ref is dropped so the outcome compares plain data (a ref is kept as its id).
              actions: assign({
                ref: undefined,
                results: ({ event }) => ({ r1: (event as Ev & { output?: unknown }).output }),
              }),
            },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'machine-stop-spawned-child',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'running',
      states: {
        running: {
          entry: spawnChild('sleeper', { id: 's1' }),
          on: {
            halt: { target: 'halted', actions: [stopChild('s1'), note('stopped')] },
            'xstate.done.actor.s1': 'unexpected',
          },
        },
        halted: { after: { 30: 'done' }, on: { 'xstate.done.actor.s1': 'unexpected' } },
        unexpected: { type: 'final' },
        done: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'halt' }, 'running')],
  },
  {
    name: 'machine-child-left-by-parent',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'waiting',
      states: {
        waiting: {
          invoke: { id: 'nap', src: 'sleeper', onDone: 'unexpected', onError: 'unexpected' },
          on: { wake: { target: 'awake', actions: note('left the child') } },
        },
        unexpected: { type: 'final' },
        awake: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'wake' }, 'waiting')],
  },
  {
    name: 'machine-child-ping-pong',
    input: { rounds: 5 },
    machine: pingerMachine(pongerMachine),
  },
  {
    // The child's `hello` (an earlier step) reaches the parent; its `early` (the step that throws) does not.
    name: 'machine-child-throws-after-send',
    machine: invoking('lateThrower', {
      hello: { actions: [note('hello'), sendTo('kid', { type: 'go' })] },
      early: { actions: note('early') },
    }),
  },
  {
    name: 'machine-child-throws-in-first-step',
    machine: invoking('firstThrower', { early: { actions: note('early') } }),
  },
];
