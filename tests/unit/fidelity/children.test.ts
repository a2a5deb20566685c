/**
 * Issue #16 item 2: a state machine in `setup({ actors })` is a durable child run. Each machine
 * runs in plain XState (`createActor`) and through Squall's test kit, where every child is a run of
 * its own (type `<parent>-<actor key>`); what the parent reached must be the same.
 */
import { describe, expect, it } from 'vitest';
import { type AnyActorRef, assign, sendParent, sendTo, setup, spawnChild, stopChild } from 'xstate';
import { defineWorkflow } from '../../../shared/engine/index.js';
import { runInSquall, runInXState, type Step } from './compare.js';

/** A child that doubles its input's n after a delay, or fails when n is negative. */
const doubler = setup({
  types: { input: {} as { n: number }, context: {} as { n: number } },
  actions: {
    refuseNegative: ({ context }) => {
      if (context.n < 0) throw new Error(`negative: ${context.n}`);
    },
  },
}).createMachine({
  id: 'doubler',
  context: ({ input }) => ({ n: input.n }),
  initial: 'thinking',
  states: {
    thinking: { entry: 'refuseNegative', after: { 100: 'done' } },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ doubled: context.n * 2 }),
});

/** Invokes the doubler with input from context; keeps its output or its error's message. */
const invoker = setup({
  types: { input: {} as { n: number }, context: {} as { n: number; result?: unknown; error?: string } },
  actors: { doubler },
}).createMachine({
  id: 'invoker',
  context: ({ input }) => ({ n: input.n }),
  initial: 'waiting',
  states: {
    waiting: {
      invoke: {
        id: 'calc',
        src: 'doubler',
        input: ({ context }) => ({ n: context.n }),
        onDone: { target: 'ok', actions: assign({ result: ({ event }) => event.output }) },
        onError: {
          target: 'failed',
          actions: assign({
            error: ({ event }) => String((event.error as Error).message).match(/negative: -?\d+/)?.[0],
          }),
        },
      },
    },
    ok: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }) => context,
});

/** A child that counts the pings it takes and answers each with sendParent; stops when told. */
const counter = setup({ types: { context: {} as { pings: number } } }).createMachine({
  id: 'counter',
  context: { pings: 0 },
  initial: 'on',
  states: {
    on: {
      on: {
        ping: {
          actions: [assign({ pings: ({ context }) => context.pings + 1 }), sendParent({ type: 'pong' })],
        },
        stop: 'off',
      },
    },
    off: { type: 'final' },
  },
  output: ({ context }) => ({ pings: context.pings }),
});

async function same(machine: Parameters<typeof runInXState>[0], steps: Step[], input?: unknown) {
  const expected = runInXState(machine, steps, input);
  const { outcome, run } = await runInSquall(machine, steps, input);
  expect(outcome).toEqual(expected);
  return { outcome, run };
}

describe('a machine in setup({ actors }) runs as a child run, as under createActor', () => {
  it('invoke with input: the child output arrives as xstate.done.actor.<id>', async () => {
    const { outcome, run } = await same(invoker, [{ wait: 100 }], { n: 21 });
    expect(outcome.output).toEqual({ n: 21, result: { doubled: 42 } });
    const started = run.history.flatMap((c) => c.events).find((e) => e.type === 'ChildStarted');
    expect(started).toMatchObject({ workflowType: 'fidelity-doubler', invokeId: 'calc', input: { n: 21 } });
    const child = run.runOf('test-workflow-calc-1');
    expect(child?.status).toBe('completed');
    expect(child?.output).toEqual({ doubled: 42 });
  });

  it('a child that fails: its error arrives as xstate.error.actor.<id>', async () => {
    const { outcome, run } = await same(invoker, [], { n: -1 });
    expect(outcome).toMatchObject({ value: 'failed', output: { error: 'negative: -1' } });
    expect(run.runOf('test-workflow-calc-1')?.status).toBe('failed');
  });

  it('spawnChild then sendTo its ref: messages in order, replies by sendParent, output on done', async () => {
    const machine = setup({
      types: { context: {} as { pongs: number; child?: unknown } },
      actors: { counter },
    }).createMachine({
      id: 'spawner',
      context: { pongs: 0 },
      initial: 'idle',
      states: {
        idle: { on: { go: { target: 'talking', actions: spawnChild('counter', { id: 'c1' }) } } },
        talking: {
          on: {
            ping: { actions: sendTo('c1', { type: 'ping' }) },
            pong: { actions: assign({ pongs: ({ context }) => context.pongs + 1 }) },
            enough: { actions: sendTo('c1', { type: 'stop' }) },
            'xstate.done.actor.c1': { target: 'over', actions: assign({ child: ({ event }) => event.output }) },
          },
        },
        over: { type: 'final' },
      },
      output: ({ context }) => context,
    });
    const ping: Step = { send: { type: 'ping' } };
    const { outcome } = await same(machine, [{ send: { type: 'go' } }, ping, ping, ping, { send: { type: 'enough' } }]);
    expect(outcome.output).toEqual({ pongs: 3, child: { pings: 3 } });
  });

  it('spawn in assign, sendTo the ref kept in context', async () => {
    const machine = setup({
      types: { context: {} as { ref?: AnyActorRef; pongs: number } },
      actors: { counter },
    }).createMachine({
      id: 'keeper',
      context: { pongs: 0 },
      initial: 'on',
      states: {
        on: {
          entry: assign({ ref: ({ spawn }) => spawn('counter', { id: 'kept' }) }),
          on: {
            ping: { actions: sendTo(({ context }) => context.ref as AnyActorRef, { type: 'ping' }) },
            pong: { actions: assign({ pongs: ({ context }) => context.pongs + 1 }) },
          },
        },
      },
    });
    const ping: Step = { send: { type: 'ping' } };
    const expected = runInXState(machine, [ping, ping]);
    const { outcome } = await runInSquall(machine, [ping, ping]);
    expect(outcome.value).toEqual(expected.value);
    expect((outcome.context as { pongs: number }).pongs).toBe(2);
    expect((expected.context as { pongs: number }).pongs).toBe(2);
  });

  it('sendTo a systemId (system.get) reaches the child run', async () => {
    const machine = setup({ types: { context: {} as { pongs: number } }, actors: { counter } }).createMachine({
      id: 'sys',
      context: { pongs: 0 },
      initial: 'on',
      states: {
        on: {
          invoke: { id: 'inv', src: 'counter', systemId: 'pinger' },
          on: {
            ping: { actions: sendTo(({ system }) => system.get('pinger'), { type: 'ping' }) },
            pong: { actions: assign({ pongs: ({ context }) => context.pongs + 1 }) },
          },
        },
      },
    });
    const ping: Step = { send: { type: 'ping' } };
    const { outcome } = await same(machine, [ping, ping]);
    expect(outcome.context).toEqual({ pongs: 2 });
  });

  it('sendTo a systemId of a spawned child (spawnChild and spawn in assign) reaches its run', async () => {
    const machine = setup({
      types: { context: {} as { pongs: number; kept?: AnyActorRef } },
      actors: { counter },
    }).createMachine({
      id: 'sysSpawn',
      context: { pongs: 0 },
      initial: 'on',
      states: {
        on: {
          entry: [
            spawnChild('counter', { id: 'one', systemId: 'first' }),
            assign({ kept: ({ spawn }) => spawn('counter', { id: 'two', systemId: 'second' }) }),
          ],
          on: {
            ping: {
              actions: [
                sendTo(({ system }) => system.get('first'), { type: 'ping' }),
                sendTo(({ system }) => system.get('second'), { type: 'ping' }),
              ],
            },
            pong: { actions: assign({ pongs: ({ context }) => context.pongs + 1 }) },
          },
        },
      },
    });
    const ping: Step = { send: { type: 'ping' } };
    const expected = runInXState(machine, [ping, ping, ping]);
    const { outcome, run } = await runInSquall(machine, [ping, ping, ping]);
    expect(outcome.value).toEqual(expected.value);
    expect((outcome.context as { pongs: number }).pongs).toBe(6);
    expect((expected.context as { pongs: number }).pongs).toBe(6);
    const sent = run.messagesSent.map((m) => m.target.workflowId);
    const round = ['test-workflow-one-1', 'test-workflow-two-2'];
    expect(sent).toEqual([...round, ...round, ...round]);
  });

  it('a send to a stopped child fails the parent, as XState errors the actor', async () => {
    const machine = setup({ actors: { counter } }).createMachine({
      id: 'late',
      initial: 'on',
      states: {
        on: {
          entry: spawnChild('counter', { id: 'sp' }),
          on: { drop: { actions: stopChild('sp') }, ping: { actions: sendTo('sp', { type: 'ping' }) } },
        },
      },
    });
    const { outcome, run } = await same(machine, [{ send: { type: 'drop' } }, { send: { type: 'ping' } }]);
    expect(outcome.status).toBe('error');
    expect(run.error).toMatchObject({ code: 'CONFIG' });
    expect(run.error?.message).toMatch(/sendTo "sp": no actor of that id is running/);
  });

  it('a send to the ref of a stopped child kept in context is dropped, as XState drops it', async () => {
    const machine = setup({
      types: { context: {} as { ref?: AnyActorRef; sent: number } },
      actors: { counter },
    }).createMachine({
      id: 'lateRef',
      context: { sent: 0 },
      initial: 'on',
      states: {
        on: {
          entry: assign({ ref: ({ spawn }) => spawn('counter', { id: 'kept' }) }),
          on: {
            drop: { actions: stopChild('kept') },
            ping: {
              actions: [
                sendTo(({ context }) => context.ref as AnyActorRef, { type: 'ping' }),
                assign({ sent: ({ context }) => context.sent + 1 }),
              ],
            },
          },
        },
      },
    });
    const steps: Step[] = [{ send: { type: 'drop' } }, { send: { type: 'ping' } }];
    const expected = runInXState(machine, steps);
    const { outcome, run } = await runInSquall(machine, steps);
    expect(outcome.status).toBe(expected.status);
    expect(outcome.status).toBe('active');
    expect((outcome.context as { sent: number }).sent).toBe(1);
    expect(run.messagesSent).toEqual([]);
    expect(run.runOf('test-workflow-kept-1')?.status).toBe('terminated');
  });

  it('leaving the invoking state, or stopChild, stops the child run', async () => {
    const machine = setup({ types: { context: {} as { pongs: number } }, actors: { counter } }).createMachine({
      id: 'leaver',
      context: { pongs: 0 },
      initial: 'on',
      states: {
        on: {
          invoke: { id: 'inv', src: 'counter' },
          entry: spawnChild('counter', { id: 'sp' }),
          on: {
            drop: { actions: stopChild('sp') },
            ping: { actions: [sendTo('inv', { type: 'ping' }), sendTo('sp', { type: 'ping' })] },
            pingInv: { actions: sendTo('inv', { type: 'ping' }) },
            pong: { actions: assign({ pongs: ({ context }) => context.pongs + 1 }) },
            leave: 'off',
          },
        },
        off: {},
      },
    });
    const ping: Step = { send: { type: 'ping' } };
    const steps: Step[] = [
      ping,
      { send: { type: 'drop' } },
      { send: { type: 'pingInv' } },
      { send: { type: 'leave' } },
    ];
    const { outcome, run } = await same(machine, steps);
    expect(outcome.context).toEqual({ pongs: 3 });
    const children = run.history.flatMap((c) => c.events).filter((e) => e.type === 'ChildStarted');
    expect(children.map((e) => (e as { childWorkflowId: string }).childWorkflowId)).toEqual([
      'test-workflow-sp-1',
      'test-workflow-inv-2',
    ]);
    expect(run.runOf('test-workflow-sp-1')?.status).toBe('terminated');
    expect(run.runOf('test-workflow-inv-2')?.status).toBe('terminated');
  });

  it('nested: a grandchild machine runs as a child run of the child', async () => {
    const middle = setup({
      types: { input: {} as { n: number }, context: {} as { n: number } },
      actors: { doubler },
    }).createMachine({
      id: 'middle',
      initial: 'asking',
      states: {
        asking: {
          invoke: {
            id: 'deep',
            src: 'doubler',
            input: ({ context }) => ({ n: context.n }),
            onDone: { target: 'done', actions: sendParent(({ event }) => ({ type: 'heard', output: event.output })) },
          },
        },
        done: { type: 'final' },
      },
      context: ({ input }) => ({ n: input.n }),
      output: () => ({ middle: 'done' }),
    });
    const top = setup({
      types: { context: {} as { heard?: unknown; out?: unknown } },
      actors: { middle },
    }).createMachine({
      id: 'top',
      context: {},
      initial: 'waiting',
      states: {
        waiting: {
          invoke: {
            id: 'mid',
            src: 'middle',
            input: { n: 5 },
            onDone: { target: 'done', actions: assign({ out: ({ event }) => event.output }) },
          },
          on: {
            heard: { actions: assign({ heard: ({ event }) => (event as unknown as { output: unknown }).output }) },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context,
    });
    const { outcome, run } = await same(top, [{ wait: 100 }]);
    expect(outcome.output).toEqual({ heard: { doubled: 10 }, out: { middle: 'done' } });
    const wf = defineWorkflow({ name: 'fidelity', machine: top });
    expect(wf.childDefinitions?.map((d) => d.name)).toEqual(['fidelity-middle']);
    expect(wf.childDefinitions?.[0]?.childDefinitions?.map((d) => d.name)).toEqual(['fidelity-middle-doubler']);
    expect(run.runOf('test-workflow-mid-1-deep-0')?.status ?? run.runOf('test-workflow-mid-1-deep-1')?.status).toBe(
      'completed',
    );
  });
});
