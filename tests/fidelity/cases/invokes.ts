/**
 * Invoked activities (`activity()`, run by the executor process; promise actors over the same
 * functions in plain XState): `onDone` / `onError`, sequences, parallel invokes, an invoke with no
 * input, `spawnChild`, guarded `onDone`, and invokes stopped by leaving their state.
 */
import { assign, setup, spawnChild } from 'xstate';
import { activity } from '../../../shared/engine/index.js';
import { type FidelityCase, send } from '../case.js';
import { note, type Trail } from './util.js';

type Ctx = Trail & { results: Record<string, unknown>; n: number; name: string; error: string };
type Ev = { type: string; n?: number; name?: string; output?: unknown };
const base = setup({
  types: { context: {} as Ctx, events: {} as Ev, input: {} as { n?: number; name?: string } | undefined },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
  actors: {
    double: activity<{ n: number }, number>(),
    greet: activity<{ name: string }, string>(),
    echo: activity<unknown, unknown>(),
    sum: activity<number[], number>(),
    reject: activity<unknown, never>(),
    hang: activity<unknown, never>(),
  },
});
const fresh = ({ input }: { input: { n?: number; name?: string } | undefined }): Ctx => ({
  log: [],
  results: {},
  n: input?.n ?? 0,
  name: input?.name ?? 'nobody',
  error: '',
});
const keep = (key: string) =>
  assign<Ctx, Ev & { output: unknown }, undefined, Ev, never>({
    results: ({ context, event }) => ({ ...context.results, [key]: event.output }),
  });

/** keep() for a done event taken in `on` (typed as the machine's events). */
const keepOn = (key: string) =>
  assign<Ctx, Ev, undefined, Ev, never>({
    results: ({ context, event }) => ({ ...context.results, [key]: event.output }),
  });

export const invokes: FidelityCase[] = [
  {
    name: 'invoke-done',
    input: { n: 21 },
    machine: base.createMachine({
      context: fresh,
      initial: 'working',
      states: {
        working: {
          invoke: {
            src: 'double',
            input: ({ context }) => ({ n: context.n }),
            onDone: { target: 'done', actions: keep('double') },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'invoke-sequence',
    input: { n: 5, name: 'ada' },
    machine: base.createMachine({
      context: fresh,
      initial: 'greeting',
      states: {
        greeting: {
          invoke: {
            src: 'greet',
            input: ({ context }) => ({ name: context.name }),
            onDone: { target: 'doubling', actions: keep('greet') },
          },
        },
        doubling: {
          invoke: {
            src: 'double',
            input: ({ context }) => ({ n: context.n }),
            onDone: { target: 'summing', actions: keep('double') },
          },
        },
        summing: {
          invoke: {
            src: 'sum',
            input: ({ context }) => [context.n, context.results.double as number, 1],
            onDone: { target: 'done', actions: keep('sum') },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'invoke-error',
    machine: base.createMachine({
      context: fresh,
      initial: 'trying',
      states: {
        trying: {
          invoke: {
            src: 'reject',
            input: { why: 'test' },
            onDone: 'unexpected',
            onError: { target: 'failed', actions: assign({ error: ({ event }) => (event.error as Error).message }) },
          },
        },
        unexpected: { type: 'final' },
        failed: { type: 'final' },
      },
      output: ({ context }) => context.error,
    }),
  },
  {
    name: 'invoke-without-input',
    machine: base.createMachine({
      context: fresh,
      initial: 'asking',
      states: {
        asking: { invoke: { src: 'echo', onDone: { target: 'done', actions: keep('echo') } } },
        done: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'invoke-parallel',
    input: { n: 4, name: 'grace' },
    machine: base.createMachine({
      context: fresh,
      initial: 'both',
      states: {
        both: {
          type: 'parallel',
          states: {
            left: {
              initial: 'run',
              states: {
                run: {
                  invoke: {
                    src: 'double',
                    input: ({ context }) => ({ n: context.n }),
                    onDone: { target: 'ok', actions: keep('left') },
                  },
                },
                ok: { type: 'final' },
              },
            },
            right: {
              initial: 'run',
              states: {
                run: {
                  invoke: {
                    src: 'greet',
                    input: ({ context }) => ({ name: context.name }),
                    onDone: { target: 'ok', actions: keep('right') },
                  },
                },
                ok: { type: 'final' },
              },
            },
          },
          onDone: 'done',
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'invoke-guarded-done',
    input: { n: 7 },
    machine: base.createMachine({
      context: fresh,
      initial: 'work',
      states: {
        work: {
          invoke: {
            src: 'double',
            input: ({ context }) => ({ n: context.n }),
            onDone: [
              { guard: ({ event }) => (event.output as number) > 100, target: 'big' },
              { guard: ({ event }) => (event.output as number) > 10, target: 'medium', actions: keep('double') },
              { target: 'small' },
            ],
          },
        },
        big: { type: 'final' },
        medium: { type: 'final' },
        small: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'invoke-stopped-by-leaving',
    machine: base.createMachine({
      context: fresh,
      initial: 'waiting',
      states: {
        waiting: {
          invoke: { src: 'hang', input: { forever: true }, onDone: 'unexpected', onError: 'unexpected' },
          on: { skip: { target: 'skipped', actions: note('skipped') } },
        },
        skipped: { invoke: { src: 'double', input: { n: 1 }, onDone: { target: 'done', actions: keep('after') } } },
        unexpected: { type: 'final' },
        done: { type: 'final' },
      },
      output: ({ context }) => context,
    }),
    events: [send({ type: 'skip' })],
  },
  {
    name: 'invoke-timeout-by-after',
    machine: base.createMachine({
      context: fresh,
      initial: 'calling',
      states: {
        calling: {
          invoke: { src: 'hang', input: { n: 1 }, onDone: 'unexpected' },
          after: { 30: { target: 'timedOut', actions: note('timed out') } },
        },
        unexpected: { type: 'final' },
        timedOut: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
  },
  {
    name: 'spawn-child-activity',
    input: { n: 8 },
    machine: base.createMachine({
      context: fresh,
      initial: 'spawning',
      states: {
        spawning: {
          entry: [
            spawnChild('double', { id: 'twice', input: ({ context }) => ({ n: context.n }) }),
            spawnChild('greet', { id: 'hi', input: { name: 'spawned' } }),
          ],
          on: {
            'xstate.done.actor.twice': { actions: keepOn('twice') },
            'xstate.done.actor.hi': { actions: keepOn('hi') },
          },
          always: { guard: ({ context }) => Object.keys(context.results).length === 2, target: 'done' },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
  },
  {
    name: 'invoke-on-signal-input',
    machine: base.createMachine({
      context: fresh,
      initial: 'idle',
      states: {
        idle: { on: { go: { target: 'working', actions: assign({ n: ({ event }) => event.n ?? 0 }) } } },
        working: {
          entry: note('working'),
          exit: note('exit working'),
          invoke: {
            src: 'double',
            input: ({ context }) => ({ n: context.n }),
            onDone: { target: 'idle', actions: [keep('last'), note('done')] },
          },
        },
      },
    }),
    events: [
      send({ type: 'go', n: 2 }),
      send({ type: 'go', n: 30 }, ({ context }) => (context as Ctx).log.length === 3),
    ],
  },
];
