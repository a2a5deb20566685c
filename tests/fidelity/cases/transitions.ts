/**
 * Transitions: `always` with guards, eventless chains, self transitions with and without
 * `reenter`, wildcard and partial event descriptors, targets by id, event order in one step.
 */
import { assign, setup } from 'xstate';
import { type FidelityCase, send } from '../case.js';
import { note, type Trail } from './util.js';

type Counter = Trail & { n: number };
type CounterEvent = { type: string; by?: number };
const counter = setup({
  types: { context: {} as Counter, events: {} as CounterEvent },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
});
const add = assign<Counter, CounterEvent, undefined, CounterEvent, never>({
  n: ({ context, event }) => context.n + (event.by ?? 1),
});

export const transitions: FidelityCase[] = [
  {
    name: 'always-guarded',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'counting',
      states: {
        counting: {
          on: { inc: { actions: add } },
          always: [
            { guard: ({ context }) => context.n >= 5, target: 'big' },
            { guard: ({ context }) => context.n >= 3, target: 'medium' },
          ],
        },
        medium: {
          entry: note('medium'),
          on: { inc: { actions: add } },
          always: { guard: ({ context }) => context.n >= 5, target: 'big' },
        },
        big: { entry: note('big'), type: 'final' },
      },
      output: ({ context }) => context,
    }),
    events: [send({ type: 'inc' }), send({ type: 'inc', by: 2 }), send({ type: 'inc' }), send({ type: 'inc', by: 3 })],
  },
  {
    name: 'eventless-chain',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'a',
      states: {
        a: { entry: note('a'), exit: note('exit a'), always: 'b' },
        b: { entry: note('b'), exit: note('exit b'), always: { target: 'c', actions: note('b->c') } },
        c: {
          entry: note('c'),
          always: { guard: ({ context }) => context.n > 0, target: 'd' },
          on: { go: { actions: add } },
        },
        d: { entry: note('d'), type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'go' }, 'c')],
  },
  {
    name: 'always-after-unhandled',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'waiting',
      states: {
        waiting: { always: { guard: ({ event }) => event.type === 'nudge', target: 'nudged' }, on: { other: {} } },
        nudged: { type: 'final' },
      },
    }),
    events: [send({ type: 'nudge' })],
  },
  {
    name: 'self-internal',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'on',
      states: {
        on: {
          entry: note('entry'),
          exit: note('exit'),
          initial: 'inner',
          states: { inner: { on: { deeper: 'other' } }, other: {} },
          on: { tick: { target: 'on', actions: [add, note('tick')] } },
        },
      },
    }),
    events: [send({ type: 'deeper' }), send({ type: 'tick' })],
  },
  {
    name: 'self-reenter',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'on',
      states: {
        on: {
          entry: note('entry'),
          exit: note('exit'),
          initial: 'inner',
          states: { inner: { entry: note('inner'), on: { deeper: 'other' } }, other: { entry: note('other') } },
          on: { tick: { target: 'on', reenter: true, actions: [add, note('tick')] } },
        },
      },
    }),
    events: [send({ type: 'deeper' }), send({ type: 'tick' })],
  },
  {
    name: 'targetless-actions',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'idle',
      states: { idle: { entry: note('idle'), exit: note('never'), on: { inc: { actions: add } } } },
    }),
    events: [send({ type: 'inc' }), send({ type: 'inc', by: 10 })],
  },
  {
    name: 'wildcard',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'listening',
      states: {
        listening: {
          on: {
            stop: 'stopped',
            '*': { actions: assign({ log: ({ context, event }) => [...context.log, `any:${event.type}`] }) },
          },
        },
        stopped: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'foo' }), send({ type: 'bar.baz' }), send({ type: 'stop' })],
  },
  {
    name: 'partial-descriptor',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'shop',
      states: {
        shop: {
          on: {
            'order.paid': { actions: note('exact paid') },
            'order.*': { actions: assign({ log: ({ context, event }) => [...context.log, `order:${event.type}`] }) },
            'order.ship.*': { actions: note('order.ship.* is more specific than order.*') },
            close: 'closed',
          },
        },
        closed: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [
      send({ type: 'order.paid' }),
      send({ type: 'order.cancelled' }),
      send({ type: 'order.ship.now' }),
      send({ type: 'orders' }),
      send({ type: 'close' }),
    ],
  },
  {
    name: 'target-by-id',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'form',
      states: {
        form: {
          initial: 'name',
          states: {
            name: { on: { next: 'address' } },
            address: { on: { next: 'review' } },
            review: { on: { submit: '#form.sent', edit: '#form.form.name' } },
          },
        },
        sent: { entry: note('sent'), type: 'final' },
      },
      id: 'form',
      output: ({ context }) => context.log,
    }),
    events: [
      send({ type: 'next' }),
      send({ type: 'next' }),
      send({ type: 'edit' }, { form: 'review' }),
      send({ type: 'next' }, { form: 'name' }),
      send({ type: 'next' }),
      send({ type: 'submit' }, { form: 'review' }),
    ],
  },
  {
    name: 'guarded-array-first-wins',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'route',
      states: {
        route: {
          on: {
            go: [
              { guard: ({ event }) => (event.by ?? 0) > 10, target: 'large' },
              { guard: ({ event }) => (event.by ?? 0) > 5, target: 'mid' },
              { target: 'small', actions: add },
            ],
          },
        },
        large: { type: 'final' },
        mid: { type: 'final' },
        small: { on: { go: 'route' } },
      },
      output: ({ context }) => context.n,
    }),
    events: [send({ type: 'go', by: 3 }), send({ type: 'go' }, 'small'), send({ type: 'go', by: 7 }, 'route')],
  },
  {
    name: 'unhandled-signals-ignored',
    machine: counter.createMachine({
      context: { log: [], n: 0 },
      initial: 'a',
      states: { a: { on: { go: 'b' } }, b: { on: { inc: { actions: add } } } },
    }),
    events: [send({ type: 'inc' }), send({ type: 'unknown' }), send({ type: 'go' }), send({ type: 'inc' }, 'b')],
  },
];
