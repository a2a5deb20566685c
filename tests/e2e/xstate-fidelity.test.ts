/**
 * Issue #16 end to end: the same machines run by a plain XState actor and by Squall's router and
 * timer services over real NATS and FerretDB reach the same outcome: zero-delay sends arrive in
 * the order sent, a delayed event sent again with a live id fires twice, and an unhandled signal
 * still lets eventless transitions run.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { assign, createActor, raise, setup, toPromise } from 'xstate';
import { startRouter } from '../../services/router/index.js';
import { startTimer } from '../../services/timer/index.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { defineWorkflow } from '../../shared/engine/index.js';
import { createLogger } from '../../shared/log.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { runInXState } from '../unit/fidelity/compare.js';

/** More sends than nine, so a text order of timer ids (`run:10` before `run:9`) would show. */
const SENDS = 12;

const burst = setup({
  types: { context: {} as { seen: number[] }, events: {} as { type: 'tick'; n: number } },
}).createMachine({
  id: 'burst',
  context: { seen: [] },
  initial: 'sending',
  states: {
    sending: {
      entry: Array.from({ length: SENDS }, (_, n) => raise({ type: 'tick' as const, n }, { delay: 0 })),
      on: { tick: { actions: assign({ seen: ({ context, event }) => [...context.seen, event.n] }) } },
      always: { guard: ({ context }) => context.seen.length === SENDS, target: 'done' },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => context.seen,
});

type BellEvent = { type: 'arm' } | { type: 'ring'; n: number };
const bell = setup({
  types: { context: {} as { armed: number; rang: number[] }, events: {} as BellEvent },
}).createMachine({
  id: 'bell',
  context: { armed: 0, rang: [] },
  initial: 'ringing',
  states: {
    ringing: {
      on: {
        arm: {
          actions: [
            assign({ armed: ({ context }) => context.armed + 1 }),
            raise(({ context }) => ({ type: 'ring' as const, n: context.armed }), { id: 'bell', delay: 300 }),
          ],
        },
        ring: { actions: assign({ rang: ({ context, event }) => [...context.rang, event.n] }) },
      },
      always: { guard: ({ context }) => context.rang.length === 2, target: 'done' },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => context.rang,
});

const gate = setup({ types: { events: {} as { type: 'poke' } | { type: 'open' } } }).createMachine({
  id: 'gate',
  initial: 'waiting',
  states: {
    waiting: {
      always: { guard: ({ event }) => event.type === 'poke', target: 'poked' },
      on: { open: 'poked' },
    },
    poked: { type: 'final' },
  },
  output: () => 'poked',
});

let client: SquallClient;

beforeAll(async () => {
  const env = {
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    prefix: freshPrefix(),
    dbName: freshDbName(),
    log: createLogger({ level: 'error' }),
  };
  const workflows = [
    defineWorkflow({ name: 'burst', machine: burst }),
    defineWorkflow({ name: 'bell', machine: bell }),
    defineWorkflow({ name: 'gate', machine: gate }),
  ];
  const router = await startRouter({ ...env, workflows });
  const timer = await startTimer(env);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
    await timer.stop();
    await router.stop();
  };
});

describe('XState fidelity over real services', () => {
  it('zero-delay sends reach the machine in the order sent, as under a plain XState actor', async () => {
    const xstate = await toPromise(createActor(burst).start());
    expect(xstate).toEqual(Array.from({ length: SENDS }, (_, n) => n));
    await client.start('burst', undefined, { workflowId: 'burst-1' });
    expect(await client.result('burst-1', { timeoutMs: 30_000 })).toEqual(xstate);
  });

  it('a delayed event sent again with a live id fires twice, as in XState', async () => {
    const xstate = runInXState(bell, [
      { send: { type: 'arm' } },
      { wait: 10 },
      { send: { type: 'arm' } },
      { wait: 400 },
    ]);
    expect(xstate.output).toEqual([1, 2]);
    await client.start('bell', undefined, { workflowId: 'bell-1' });
    await client.signal('bell-1', { type: 'arm' });
    await waitFor('the first timer to be scheduled', async () =>
      (await client.query('bell-1')).pendingTimers.length === 1 ? true : undefined,
    );
    await client.signal('bell-1', { type: 'arm' });
    expect(await client.result('bell-1', { timeoutMs: 30_000 })).toEqual(xstate.output);
  });

  it('an unhandled signal still runs the eventless transitions, and is recorded as unhandled', async () => {
    const xstate = runInXState(gate, [{ send: { type: 'poke' } }]);
    await client.start('gate', undefined, { workflowId: 'gate-1' });
    await client.signal('gate-1', { type: 'poke' });
    expect(await client.result('gate-1', { timeoutMs: 30_000 })).toEqual(xstate.output);
    const events = (await client.history('gate-1')).commits.flatMap((c) => c.events);
    expect(events.find((e) => e.type === 'SignalReceived')).toMatchObject({ ignored: 'unhandled' });
  });
});
