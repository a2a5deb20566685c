/**
 * Actions: entry/exit/transition order across nested and parallel states, `raise` (with its
 * order against external events), `emit`, `enqueueActions`, `assign` variants, `sendTo` self,
 * `log`, and an action that throws.
 */
import { assign, emit, enqueueActions, log, raise, sendTo, setup } from 'xstate';
import { type FidelityCase, send } from '../case.js';
import { note, type Trail } from './util.js';

type Ctx = Trail & { n: number; items: string[] };
type Ev = { type: string; n?: number; item?: string };
const base = setup({
  types: { context: {} as Ctx, events: {} as Ev, emitted: {} as { type: string; n?: number } },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
});
const fresh = (): Ctx => ({ log: [], n: 0, items: [] });

export const actions: FidelityCase[] = [
  {
    name: 'entry-exit-order-nested',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          entry: note('enter a'),
          exit: note('exit a'),
          initial: 'a1',
          states: { a1: { entry: note('enter a1'), exit: note('exit a1') } },
          on: { go: { target: 'b', actions: note('transition') } },
        },
        b: {
          entry: note('enter b'),
          exit: note('exit b'),
          initial: 'b1',
          states: { b1: { entry: note('enter b1'), exit: note('exit b1'), on: { up: '#root.c' } } },
        },
        c: { entry: note('enter c') },
      },
      id: 'root',
    }),
    events: [send({ type: 'go' }), send({ type: 'up' }, { b: 'b1' })],
  },
  {
    name: 'entry-exit-order-parallel',
    machine: base.createMachine({
      context: fresh(),
      initial: 'p',
      states: {
        p: {
          type: 'parallel',
          entry: note('enter p'),
          exit: note('exit p'),
          states: {
            r1: { initial: 'x', states: { x: { entry: note('enter r1.x'), exit: note('exit r1.x') } } },
            r2: { initial: 'y', states: { y: { entry: note('enter r2.y'), exit: note('exit r2.y') } } },
            r3: { initial: 'z', states: { z: { entry: note('enter r3.z'), exit: note('exit r3.z') } } },
          },
          on: { leave: { target: 'q', actions: note('transition') } },
        },
        q: { entry: note('enter q'), type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'leave' })],
  },
  {
    name: 'raise-internal-first',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          on: {
            start: { target: 'b', actions: [raise({ type: 'inner1' }), raise({ type: 'inner2' }), note('start')] },
          },
        },
        b: {
          entry: note('enter b'),
          on: {
            inner1: { actions: note('inner1') },
            inner2: { actions: note('inner2') },
            outer: { actions: note('outer'), target: 'c' },
          },
        },
        c: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'start' }), send({ type: 'outer' })],
  },
  {
    name: 'raise-in-entry-chain',
    machine: base.createMachine({
      context: fresh(),
      initial: 'one',
      states: {
        one: { entry: [note('one'), raise({ type: 'next' })], on: { next: 'two' } },
        two: { entry: [note('two'), raise({ type: 'next' })], on: { next: 'three' } },
        three: { entry: note('three'), type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
  },
  {
    name: 'emit-events',
    machine: base.createMachine({
      context: fresh(),
      initial: 'working',
      states: {
        working: {
          entry: emit({ type: 'started' }),
          on: {
            progress: {
              actions: [
                assign({ n: ({ event }) => event.n ?? 0 }),
                emit(({ context }) => ({ type: 'progress', n: context.n })),
              ],
            },
            finish: 'done',
          },
        },
        done: { type: 'final', entry: emit({ type: 'finished' }) },
      },
      output: ({ context }) => context.n,
    }),
    events: [send({ type: 'progress', n: 30 }), send({ type: 'progress', n: 70 }), send({ type: 'finish' })],
  },
  {
    name: 'enqueue-actions',
    machine: base.createMachine({
      context: fresh(),
      initial: 'active',
      states: {
        active: {
          on: {
            add: {
              actions: enqueueActions(({ context, event, enqueue, check }) => {
                enqueue.assign({ items: [...context.items, event.item ?? '?'] });
                if (context.items.length >= 1) enqueue({ type: 'note', params: 'second or later' });
                if (check(({ event: e }) => e.item === 'stop')) enqueue.raise({ type: 'halt' });
                enqueue.emit({ type: 'added', n: context.items.length + 1 });
              }),
            },
            halt: 'halted',
          },
        },
        halted: { type: 'final' },
      },
      output: ({ context }) => context.items,
    }),
    events: [send({ type: 'add', item: 'a' }), send({ type: 'add', item: 'b' }), send({ type: 'add', item: 'stop' })],
  },
  {
    name: 'assign-variants',
    machine: base.createMachine({
      context: fresh(),
      initial: 'on',
      states: {
        on: {
          on: {
            set: {
              actions: [
                assign({ n: ({ event }) => event.n ?? 0 }),
                assign(({ context }) => ({ items: [...context.items, `n=${context.n}`] })),
                assign({ log: ['replaced'] }),
                assign({ n: ({ context }) => context.n * 10 }),
              ],
            },
          },
        },
      },
    }),
    events: [send({ type: 'set', n: 4 }), send({ type: 'set', n: 5 })],
  },
  {
    name: 'assign-order-in-exit-entry',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          exit: assign({ n: ({ context }) => context.n + 1 }),
          on: { go: { target: 'b', actions: assign({ n: ({ context }) => context.n * 3 }) } },
        },
        b: { entry: [assign({ n: ({ context }) => context.n - 2 }), note('b')] },
      },
    }),
    events: [send({ type: 'go' })],
  },
  {
    name: 'send-to-self',
    machine: base.createMachine({
      context: fresh(),
      initial: 'idle',
      states: {
        idle: {
          on: {
            kick: { actions: [sendTo(({ self }) => self, { type: 'echo' }), note('kick')] },
            echo: { target: 'echoed', actions: note('echo') },
          },
        },
        echoed: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'kick' })],
  },
  {
    name: 'log-action-dropped',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          entry: log('entering a'),
          on: { go: { target: 'b', actions: [log(({ event }) => event.type), note('go')] } },
        },
        b: {},
      },
    }),
    events: [send({ type: 'go' })],
  },
  {
    name: 'action-throws',
    machine: base.createMachine({
      context: fresh(),
      initial: 'a',
      states: {
        a: {
          on: {
            boom: {
              target: 'b',
              actions: [
                note('before'),
                () => {
                  throw new Error('action failed');
                },
              ],
            },
          },
        },
        b: {},
      },
    }),
    events: [send({ type: 'boom' })],
  },
];
