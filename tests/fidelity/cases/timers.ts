/**
 * Time: `after` in nested and parallel states, guarded and zero delays, named and computed
 * delays, delayed `raise` / `sendTo` self with `cancel`, timers cancelled by leaving their state,
 * and the documented difference of `cancel(id)` after a re-sent id's first timer fired. Delays
 * are short (ms): plain XState runs them on a SimulatedClock, so orders are compared, not times.
 */
import { assign, cancel, raise, sendTo, setup } from 'xstate';
import { type FidelityCase, send } from '../case.js';
import { note, type Trail } from './util.js';

type Ctx = Trail & { n: number; armed: number; rang: number[] };
type Ev = { type: string; n?: number };
const base = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
  delays: { short: 20, computed: ({ context }) => 10 + context.n * 10 },
});
const fresh = (): Ctx => ({ log: [], n: 0, armed: 0, rang: [] });

export const timers: FidelityCase[] = [
  {
    name: 'after-nested',
    machine: base.createMachine({
      context: fresh(),
      initial: 'outer',
      states: {
        outer: {
          entry: note('outer'),
          after: { 3000: { target: 'late', actions: note('outer timer') } },
          initial: 'one',
          states: {
            one: { entry: note('one'), after: { 20: 'two' } },
            two: { entry: note('two'), after: { 20: { target: '#tdone', actions: note('inner timer') } } },
          },
        },
        late: { entry: note('late') },
        done: { id: 'tdone', entry: note('done'), type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
  },
  {
    name: 'after-parallel-order',
    machine: base.createMachine({
      context: fresh(),
      type: 'parallel',
      states: {
        slow: {
          initial: 'wait',
          states: { wait: { after: { 150: { target: 'done', actions: note('slow') } } }, done: { type: 'final' } },
        },
        fast: {
          initial: 'wait',
          states: { wait: { after: { 20: { target: 'done', actions: note('fast') } } }, done: { type: 'final' } },
        },
        mid: {
          initial: 'wait',
          states: { wait: { after: { 80: { target: 'done', actions: note('mid') } } }, done: { type: 'final' } },
        },
      },
      output: ({ context }) => context.log,
    }),
  },
  {
    name: 'after-cancelled-by-leaving',
    machine: base.createMachine({
      context: fresh(),
      initial: 'asking',
      states: {
        asking: { after: { 60000: { target: 'timedOut', actions: note('timeout') } }, on: { answer: 'answered' } },
        answered: { entry: note('answered'), after: { 30: 'closed' } },
        timedOut: { type: 'final' },
        closed: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'answer' })],
  },
  {
    name: 'after-guarded',
    machine: base.createMachine({
      context: { ...fresh(), n: 2 },
      initial: 'checking',
      states: {
        checking: {
          after: {
            20: [
              { guard: ({ context }) => context.n > 5, target: 'high' },
              {
                actions: [assign({ n: ({ context }) => context.n + 2 }), note('again')],
                target: 'checking',
                reenter: true,
              },
            ],
          },
        },
        high: { type: 'final' },
      },
      output: ({ context }) => context,
    }),
  },
  {
    name: 'after-zero',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          entry: [note('a'), raise({ type: 'now' })],
          after: { 0: 'b' },
          on: { now: { actions: note('raised first') } },
        },
        b: { entry: note('b'), after: { 0: 'c' } },
        c: { entry: note('c'), type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
  },
  {
    name: 'named-and-computed-delays',
    machine: base.createMachine({
      context: { ...fresh(), n: 3 },
      initial: 'a',
      states: {
        a: { after: { short: { target: 'b', actions: note('short') } } },
        b: { after: { computed: { target: 'c', actions: note('computed') } } },
        c: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
  },
  {
    name: 'delayed-raise-order',
    machine: base.createMachine({
      context: fresh(),
      initial: 'running',
      states: {
        running: {
          entry: [
            raise({ type: 'tick', n: 3 }, { delay: 90 }),
            raise({ type: 'tick', n: 1 }, { delay: 10 }),
            raise({ type: 'tick', n: 2 }, { delay: 50 }),
          ],
          on: { tick: { actions: assign({ rang: ({ context, event }) => [...context.rang, event.n ?? -1] }) } },
          always: { guard: ({ context }) => context.rang.length === 3, target: 'done' },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.rang,
    }),
  },
  {
    name: 'zero-delay-burst-order',
    machine: base.createMachine({
      context: fresh(),
      initial: 'sending',
      states: {
        sending: {
          entry: Array.from({ length: 12 }, (_, n) => raise({ type: 'tick', n }, { delay: 0 })),
          on: { tick: { actions: assign({ rang: ({ context, event }) => [...context.rang, event.n ?? -1] }) } },
          always: { guard: ({ context }) => context.rang.length === 12, target: 'done' },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.rang,
    }),
  },
  {
    name: 'delayed-raise-cancel',
    machine: base.createMachine({
      context: fresh(),
      initial: 'armed',
      states: {
        armed: {
          entry: raise({ type: 'alarm' }, { id: 'alarm', delay: 60_000 }),
          on: {
            disarm: {
              actions: [cancel('alarm'), note('disarmed'), raise({ type: 'soon' }, { id: 'soon', delay: 30 })],
            },
            alarm: 'ringing',
            soon: { actions: note('soon'), target: 'quiet' },
          },
        },
        ringing: { type: 'final' },
        quiet: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'disarm' })],
  },
  {
    name: 'delayed-send-to-self',
    machine: base.createMachine({
      context: fresh(),
      initial: 'idle',
      states: {
        idle: {
          on: {
            schedule: {
              actions: [
                sendTo(({ self }) => self, { type: 'later', n: 1 }, { delay: 40, id: 'l1' }),
                sendTo(({ self }) => self, { type: 'later', n: 2 }, { delay: 60_000, id: 'l2' }),
                note('scheduled'),
              ],
            },
            drop: { actions: cancel('l2') },
            later: {
              actions: assign({ rang: ({ context, event }) => [...context.rang, event.n ?? -1] }),
              target: 'got',
            },
          },
        },
        got: { type: 'final' },
      },
      output: ({ context }) => context,
    }),
    events: [send({ type: 'schedule' }), send({ type: 'drop' })],
  },
  {
    name: 'timeout-vs-signal',
    machine: base.createMachine({
      context: fresh(),
      initial: 'first',
      states: {
        first: { after: { 30: { target: 'second', actions: note('first timed out') } }, on: { skip: 'never' } },
        second: { after: { 60000: 'never' }, on: { reply: { target: 'replied', actions: note('replied') } } },
        replied: { type: 'final' },
        never: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'reply' }, 'second')],
  },
  {
    name: 'timer-tags',
    machine: base.createMachine({
      context: fresh(),
      initial: 'pending',
      states: {
        pending: { tags: ['waiting'], after: { 25: 'active' } },
        active: { tags: ['live', 'billing'], on: { stop: 'stopped' } },
        stopped: { tags: ['ended'] },
      },
    }),
    events: [send({ type: 'stop' }, 'active')],
  },
  {
    name: 'resent-id-cancel-after-first-fired',
    machine: base.createMachine({
      context: fresh(),
      initial: 'ringing',
      states: {
        ringing: {
          on: {
            cancelBell: { target: 'grace', actions: cancel('bell') },
          },
        },
        grace: { after: { 6000: 'done' } },
        done: { type: 'final' },
      },
      on: {
        arm: {
          actions: [
            assign({ armed: ({ context }) => context.armed + 1 }),
            raise(({ context }) => ({ type: 'ring', n: context.armed }), {
              id: 'bell',
              delay: ({ context }) => (context.armed === 1 ? 50 : 5000),
            }),
          ],
        },
        ring: { actions: assign({ rang: ({ context, event }) => [...context.rang, event.n ?? -1] }) },
      },
      output: ({ context }) => context.rang,
    }),
    events: [
      send({ type: 'arm' }),
      send({ type: 'arm' }, ({ context }) => (context as Ctx).armed === 1),
      send({ type: 'cancelBell' }, ({ context }) => (context as Ctx).rang.length === 1),
    ],
    differences: [
      {
        documented:
          'docs/xstate.md, raise(event, { delay, id }): once the earlier of two timers with one id fired, Squall cancel(id) still reaches the later one',
        squall: (plain) => {
          const context = plain.context as Ctx;
          const rang = context.rang.slice(0, 1);
          return { ...plain, context: { ...context, rang }, output: rang };
        },
      },
    ],
  },
];
