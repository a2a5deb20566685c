/** Actors spawned at run time (spawnChild with a computed id, spawn inside assign) are durable activities. */
import { describe, expect, it } from 'vitest';
import { type ActorRefFrom, assign, enqueueActions, setup, spawnChild } from 'xstate';
import { activity, defineWorkflow } from '../../../shared/engine/index.js';
import { createTestRun } from '../../../shared/testing/index.js';

type Fetch = ReturnType<typeof activity<number, number>>;

const computedIds = defineWorkflow({
  name: 'computed-ids',
  machine: setup({
    types: { context: {} as { items: number[]; got: Record<string, number> } },
    actors: { fetch: activity<number, number>() },
  }).createMachine({
    context: { items: [3, 1, 2], got: {} },
    initial: 'fanOut',
    states: {
      fanOut: {
        entry: enqueueActions(({ context, enqueue }) => {
          for (const [i, n] of context.items.entries()) {
            enqueue.spawnChild('fetch', { id: ({ context: c }) => `item.${c.items.length}.${i}`, input: n });
          }
        }),
        on: {
          'xstate.done.actor.item.*': {
            actions: assign({
              got: ({ context, event }) => ({ ...context.got, [event.type.slice(18)]: event.output as number }),
            }),
          },
        },
        always: { guard: ({ context }) => Object.keys(context.got).length === 3, target: 'done' },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => context.got,
  }),
});

const assignSpawn = defineWorkflow({
  name: 'assign-spawn',
  machine: setup({
    types: { context: {} as { ref: ActorRefFrom<Fetch> | undefined; out: number | undefined } },
    actors: { fetch: activity<number, number>() },
  }).createMachine({
    context: { ref: undefined, out: undefined },
    initial: 'spawning',
    states: {
      spawning: {
        entry: assign({ ref: ({ spawn }) => spawn('fetch', { id: 'dyn', input: 21 }) }),
        on: { 'xstate.done.actor.dyn': { target: 'done', actions: assign({ out: ({ event }) => event.output }) } },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => context.out,
  }),
});

describe('dynamically spawned activities', () => {
  it('spawnChild with a function id schedules under the resolved id and routes each result back', async () => {
    const run = await createTestRun(computedIds, { activities: { fetch: (n: number) => n * 10 } });
    const scheduled = run.history.flatMap((c) => c.events).filter((e) => e.type === 'ActivityScheduled');
    expect(scheduled.map((e) => ('invokeId' in e ? e.invokeId : ''))).toEqual(['item.3.0', 'item.3.1', 'item.3.2']);
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ 'item.3.0': 30, 'item.3.1': 10, 'item.3.2': 20 });
    expect(run.replay()).toEqual(run.state);
  });

  it('spawn inside assign schedules the activity with its input and routes the result back', async () => {
    const run = await createTestRun(assignSpawn, { autoRun: false });
    expect(run.pendingActivities()).toMatchObject([{ activity: 'fetch', invokeId: 'dyn', input: 21 }]);
    await run.complete('fetch', 42);
    expect(run.output).toBe(42);
    expect(run.replay()).toEqual(run.state);
  });

  it('fails the run with a clear error for a spawn without an id or of an unknown actor', async () => {
    const noId = defineWorkflow({
      name: 'no-id',
      machine: setup({ actors: { fetch: activity() } }).createMachine({ entry: spawnChild('fetch') }),
    });
    const run = await createTestRun(noId);
    expect(run.status).toBe('failed');
    expect(run.error?.message).toMatch(/needs an explicit id/);

    const unknown = defineWorkflow({
      name: 'unknown-src',
      machine: setup({ actors: { fetch: activity() } }).createMachine({
        entry: enqueueActions(({ enqueue }) => enqueue.spawnChild('fetch', { id: 'ok' })),
        on: { go: { actions: spawnChild('nope' as 'fetch', { id: 'x' }) } },
      }),
    });
    const other = await createTestRun(unknown, { autoRun: false });
    await other.signal({ type: 'go' });
    expect(other.status).toBe('failed');
    expect(other.error).toMatchObject({ code: 'CONFIG', message: expect.stringMatching(/names no actor/) });
  });
});
