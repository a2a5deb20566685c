/**
 * Workflows the benchmarks run: `noop3`, three no-op activities in sequence, `inline3`, the same
 * as inline steps, `sleep1`, one durable timer, and `awaitEvent`, one wait on the user event
 * `bench-go` (docs/events.md). Loadable by `squall router --workflows bench/workflows.ts`.
 */
import { setup } from 'xstate';
import { activity, defineWorkflow, waitForEvent } from '../shared/engine/index.js';

/** Three sequential activity steps, then done: the engine's cost of one short workflow. */
export const noop3 = defineWorkflow({
  name: 'noop3',
  version: 1,
  machine: setup({
    types: { input: {} as { n?: number } },
    actors: {
      stepA: activity<{ n: number }, { ok: boolean }>(),
      stepB: activity<{ n: number }, { ok: boolean }>(),
      stepC: activity<{ n: number }, { ok: boolean }>(),
    },
  }).createMachine({
    id: 'noop3',
    context: ({ input }) => ({ n: input?.n ?? 0 }),
    initial: 'a',
    states: {
      a: { invoke: { src: 'stepA', input: ({ context }) => ({ n: context.n }), onDone: 'b', onError: 'failed' } },
      b: { invoke: { src: 'stepB', input: ({ context }) => ({ n: context.n }), onDone: 'c', onError: 'failed' } },
      c: { invoke: { src: 'stepC', input: ({ context }) => ({ n: context.n }), onDone: 'done', onError: 'failed' } },
      done: { type: 'final' },
      failed: { type: 'final' },
    },
    output: ({ context }) => ({ n: context.n }),
  }),
});

/**
 * noop3 with inline steps: the router runs the three steps in its own process (no executor, no
 * queue hop) and stores the four decisions in one ordered insert. The like-for-like comparison
 * with DBOS and Restate, which run their steps in process too.
 */
export const inline3 = defineWorkflow({
  name: 'inline3',
  version: 1,
  machine: setup({
    types: { input: {} as { n?: number } },
    actors: {
      inlineStepA: activity<{ n: number }, { ok: boolean }>({ inline: true }),
      inlineStepB: activity<{ n: number }, { ok: boolean }>({ inline: true }),
      inlineStepC: activity<{ n: number }, { ok: boolean }>({ inline: true }),
    },
  }).createMachine({
    id: 'inline3',
    context: ({ input }) => ({ n: input?.n ?? 0 }),
    initial: 'a',
    states: {
      a: { invoke: { src: 'inlineStepA', input: ({ context }) => ({ n: context.n }), onDone: 'b', onError: 'failed' } },
      b: { invoke: { src: 'inlineStepB', input: ({ context }) => ({ n: context.n }), onDone: 'c', onError: 'failed' } },
      c: {
        invoke: { src: 'inlineStepC', input: ({ context }) => ({ n: context.n }), onDone: 'done', onError: 'failed' },
      },
      done: { type: 'final' },
      failed: { type: 'final' },
    },
    output: ({ context }) => ({ n: context.n }),
  }),
});

/** One durable timer of `delayMs` (from the input), then done. */
export const sleep1 = defineWorkflow({
  name: 'sleep1',
  version: 1,
  machine: setup({
    types: { input: {} as { delayMs: number }, context: {} as { delayMs: number } },
    delays: { wait: ({ context }) => context.delayMs },
  }).createMachine({
    id: 'sleep1',
    context: ({ input }) => ({ delayMs: input.delayMs }),
    initial: 'waiting',
    states: {
      waiting: { after: { wait: 'done' } },
      done: { type: 'final' },
    },
  }),
});

/** Waits on the user event `bench-go` (filter `{ go: true }`), then done: the fan-out's reach. */
export const awaitEvent = defineWorkflow({
  name: 'awaitEvent',
  version: 1,
  machine: setup({ types: { events: {} as { type: `squall.event.${string}`; payload?: unknown } } }).createMachine({
    id: 'awaitEvent',
    initial: 'waiting',
    states: {
      waiting: { on: { ...waitForEvent({ key: 'bench-go', filter: { go: true }, target: 'done' }) } },
      done: { type: 'final' },
    },
  }),
});
