/** Guards: inline and named (with params), `and` / `or` / `not`, `stateIn`, guards on `always`. */
import { and, assign, not, or, setup, stateIn } from 'xstate';
import { type FidelityCase, send } from '../case.js';
import { note, type Trail } from './util.js';

type Ctx = Trail & { amount: number; verified: boolean };
type Ev = { type: string; amount?: number };
const base = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
  guards: {
    isVerified: ({ context }) => context.verified,
    above: ({ context }, params: { min: number }) => context.amount > params.min,
    eventAbove: ({ event }, params: { min: number }) => (event.amount ?? 0) > params.min,
  },
});
const fresh = (): Ctx => ({ log: [], amount: 0, verified: false });
const setAmount = assign<Ctx, Ev, undefined, Ev, never>({ amount: ({ event }) => event.amount ?? 0 });
const verify = assign<Ctx, Ev, undefined, Ev, never>({ verified: true });

export const guards: FidelityCase[] = [
  {
    name: 'guard-named-params',
    machine: base.createMachine({
      context: fresh(),
      initial: 'open',
      states: {
        open: {
          on: {
            pay: [
              { guard: { type: 'eventAbove', params: { min: 100 } }, target: 'review', actions: setAmount },
              { actions: [setAmount, note('small')] },
            ],
          },
        },
        review: { entry: note('review'), type: 'final' },
      },
      output: ({ context }) => context,
    }),
    events: [send({ type: 'pay', amount: 50 }), send({ type: 'pay', amount: 150 })],
  },
  {
    name: 'guard-and',
    machine: base.createMachine({
      context: fresh(),
      initial: 'open',
      states: {
        open: {
          on: {
            amount: { actions: setAmount },
            verify: { actions: verify },
            submit: [
              { guard: and(['isVerified', { type: 'above', params: { min: 10 } }]), target: 'accepted' },
              { actions: note('refused') },
            ],
          },
        },
        accepted: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [
      send({ type: 'amount', amount: 20 }),
      send({ type: 'submit' }),
      send({ type: 'verify' }),
      send({ type: 'submit' }),
    ],
  },
  {
    name: 'guard-or-not',
    machine: base.createMachine({
      context: fresh(),
      initial: 'open',
      states: {
        open: {
          on: {
            amount: { actions: setAmount },
            check: [
              {
                guard: or([not('isVerified'), { type: 'above', params: { min: 1000 } }]),
                actions: note('needs review'),
              },
              { guard: not(or(['isVerified', 'isVerified'])), actions: note('unreachable') },
              { actions: note('fine') },
            ],
            verify: { actions: verify },
          },
        },
      },
    }),
    events: [
      send({ type: 'check' }),
      send({ type: 'verify' }),
      send({ type: 'check' }),
      send({ type: 'amount', amount: 5000 }),
      send({ type: 'check' }),
    ],
  },
  {
    name: 'guard-state-in',
    machine: base.createMachine({
      context: fresh(),
      type: 'parallel',
      states: {
        light: { initial: 'off', states: { off: { on: { flip: 'on' } }, on: { on: { flip: 'off' } } } },
        door: {
          initial: 'closed',
          states: {
            closed: {
              on: {
                open: [{ guard: stateIn({ light: 'on' }), target: 'open' }, { actions: note('too dark') }],
              },
            },
            open: { entry: note('opened'), on: { close: 'closed' } },
          },
        },
      },
    }),
    events: [send({ type: 'open' }), send({ type: 'flip' }), send({ type: 'open' })],
  },
  {
    name: 'guard-state-in-always',
    machine: base.createMachine({
      context: fresh(),
      type: 'parallel',
      states: {
        a: { initial: 'off', states: { off: { on: { a: 'on' } }, on: {} } },
        b: { initial: 'off', states: { off: { on: { b: 'on' } }, on: {} } },
        result: {
          initial: 'waiting',
          states: {
            waiting: { always: { guard: and([stateIn({ a: 'on' }), stateIn({ b: 'on' })]), target: 'both' } },
            both: { entry: note('both on') },
          },
        },
      },
    }),
    events: [send({ type: 'b' }), send({ type: 'a' })],
  },
  {
    name: 'guard-inline-event',
    machine: base.createMachine({
      context: fresh(),
      initial: 'counting',
      states: {
        counting: {
          on: {
            add: [
              { guard: ({ context, event }) => context.amount + (event.amount ?? 0) > 10, target: 'full' },
              { actions: assign({ amount: ({ context, event }) => context.amount + (event.amount ?? 0) }) },
            ],
          },
        },
        full: { type: 'final' },
      },
      output: ({ context }) => context.amount,
    }),
    events: [send({ type: 'add', amount: 4 }), send({ type: 'add', amount: 4 }), send({ type: 'add', amount: 4 })],
  },
];
