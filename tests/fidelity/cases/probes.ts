/**
 * Corners where an engine that maps actions to durable effects could drift from XState: delayed
 * events outliving the state that raised them, exit actions when the root finishes, `stopChild`
 * of a spawned activity, history inside parallel states, `stateIn` by id, and delayed sends from
 * exit actions.
 */
import { assign, emit, enqueueActions, raise, setup, spawnChild, stateIn, stopChild } from 'xstate';
import { activity } from '../../../shared/engine/index.js';
import { type FidelityCase, send } from '../case.js';
import { note, type Trail } from './util.js';

type Ev = { type: string; n?: number; output?: unknown };
const base = setup({
  types: { context: {} as Trail, events: {} as Ev },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
  actors: { hang: activity<{ n: number }, never>(), double: activity<{ n: number }, number>() },
  guards: { powered: stateIn('#powered') },
});
const fresh = (): Trail => ({ log: [] });

type Stored = { tally: Map<string, number>; seen: Set<string>; at: Date };
/** Context that is not plain JSON data: what the store's MessagePack keeps and what it changes. */
const storedContext = setup({
  types: { context: {} as Stored, events: {} as { type: 'count'; key: string } },
}).createMachine({
  context: { tally: new Map([['start', 1]]), seen: new Set(['start']), at: new Date(Date.UTC(2026, 0, 2)) },
  initial: 'counting',
  states: {
    counting: {
      on: {
        count: {
          actions: assign({
            tally: ({ context, event }) =>
              new Map([...context.tally, [event.key, (context.tally.get(event.key) ?? 0) + 1]]),
            seen: ({ context, event }) => new Set([...context.seen, event.key]),
          }),
        },
      },
    },
  },
});

export const probes: FidelityCase[] = [
  {
    name: 'context-map-set-date',
    machine: storedContext,
    events: [send({ type: 'count', key: 'a' }), send({ type: 'count', key: 'a' })],
    differences: [
      {
        documented:
          'docs/xstate.md, context: kept as MessagePack gives it back, a Map as an object, a Set as an array; a Date stays a Date',
        squall: (plain) => {
          const c = plain.context as Stored;
          return { ...plain, context: { tally: Object.fromEntries(c.tally), seen: [...c.seen], at: c.at } };
        },
      },
    ],
  },
  {
    name: 'delayed-raise-outlives-state',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        // The process run must take `go` before the ping is due: seconds of margin on a loaded machine.
        a: { entry: raise({ type: 'ping' }, { delay: 2_000 }), on: { go: 'b' } },
        b: { entry: note('b'), on: { ping: { target: 'c', actions: note('ping in b') } } },
        c: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'go' })],
  },
  {
    name: 'root-final-runs-exits',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          exit: [note('exit a'), emit({ type: 'leaving a' })],
          initial: 'inner',
          states: { inner: { exit: note('exit inner'), on: { finish: '#probe.done' } } },
        },
        done: { id: 'probe.done', entry: note('enter done'), exit: note('exit done'), type: 'final' },
      },
      id: 'probe',
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'finish' })],
  },
  {
    name: 'final-state-output',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: { on: { finish: 'done' } },
        done: { type: 'final', output: { from: 'final state' } },
      },
      output: ({ event }) => ({ root: true, eventType: event.type }),
    }),
    events: [send({ type: 'finish' })],
  },
  {
    name: 'stop-spawned-activity',
    machine: base.createMachine({
      context: fresh(),
      initial: 'running',
      states: {
        running: {
          entry: [spawnChild('hang', { id: 'h', input: { n: 1 } }), spawnChild('double', { id: 'd', input: { n: 2 } })],
          on: {
            stop: { actions: [stopChild('h'), note('stopped h')], target: 'after' },
            'xstate.done.actor.d': { actions: note('d done') },
          },
        },
        after: { on: { 'xstate.done.actor.d': { actions: note('d done after') } } },
      },
    }),
    events: [send({ type: 'stop' }, ({ context }) => (context as Trail).log.includes('d done'))],
  },
  {
    name: 'history-inside-parallel',
    machine: base.createMachine({
      context: fresh(),
      initial: 'editor',
      states: {
        editor: {
          type: 'parallel',
          states: {
            font: {
              initial: 'plain',
              states: { plain: { on: { bold: 'bold' } }, bold: { on: { plain: 'plain' } }, hist: { type: 'history' } },
            },
            view: {
              initial: 'page',
              states: { page: { on: { outline: 'outline' } }, outline: {}, hist: { type: 'history' } },
            },
          },
          on: { settings: 'settings' },
        },
        settings: { entry: note('settings'), on: { back: ['editor.font.hist', 'editor.view.hist'] } },
      },
    }),
    events: [
      send({ type: 'bold' }),
      send({ type: 'outline' }),
      send({ type: 'settings' }),
      send({ type: 'back' }, 'settings'),
    ],
  },
  {
    name: 'state-in-by-id',
    machine: base.createMachine({
      context: fresh(),
      type: 'parallel',
      states: {
        power: { initial: 'off', states: { off: { on: { power: 'on' } }, on: { id: 'powered' } } },
        job: {
          initial: 'idle',
          states: {
            idle: {
              on: { print: [{ guard: 'powered', target: 'printing' }, { actions: note('no power') }] },
            },
            printing: { entry: note('printing') },
          },
        },
      },
    }),
    events: [send({ type: 'print' }), send({ type: 'power' }), send({ type: 'print' })],
  },
  {
    name: 'delayed-raise-from-exit',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: { exit: raise({ type: 'late' }, { delay: 20 }), on: { go: 'b' } },
        b: { on: { late: { target: 'c', actions: note('late in b') } } },
        c: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'go' })],
  },
  {
    name: 'enqueue-conditional-timers',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          on: {
            plan: {
              actions: enqueueActions(({ event, enqueue }) => {
                for (let i = 1; i <= (event.n ?? 0); i++)
                  enqueue.raise({ type: 'step', n: i }, { delay: 10 * i, id: `s${i}` });
                enqueue.cancel('s2');
              }),
            },
            step: { actions: assign({ log: ({ context, event }) => [...context.log, `step ${event.n}`] }) },
            end: 'done',
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'plan', n: 4 }), send({ type: 'end' }, ({ context }) => (context as Trail).log.length === 3)],
  },
  {
    name: 'root-invoke-and-after',
    machine: base.createMachine({
      context: fresh(),
      invoke: {
        src: 'double',
        input: { n: 50 },
        onDone: { actions: assign({ log: ({ context, event }) => [...context.log, `root got ${event.output}`] }) },
      },
      after: { 500: { actions: note('root timer') } },
      initial: 'a',
      states: {
        a: { on: { go: 'b' } },
        b: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'go' }, ({ context }) => (context as Trail).log.length === 2)],
  },
  {
    name: 'guard-throws',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          entry: note('a'),
          on: {
            check: {
              guard: () => {
                throw new Error('guard failed');
              },
              target: 'b',
            },
          },
        },
        b: {},
      },
    }),
    events: [send({ type: 'check' })],
  },
  {
    name: 'always-raise-loop',
    machine: base.createMachine({
      context: fresh(),
      initial: 'loop',
      states: {
        loop: {
          always: { guard: ({ context }) => context.log.length < 3, actions: [note('tick'), raise({ type: 'count' })] },
          on: { count: { actions: note('counted') } },
        },
      },
    }),
  },
];
