/**
 * The files of the temp project the installed-package test creates: a workflow and an activity
 * module written as the README says (`import ... from 'squall'`), and a module that type-checks
 * the three entry points against the shipped declarations. Kept as text, not as .ts files in the
 * repo, because `squall` resolves only once the package is built and installed.
 */

/** Workflow `stamped`: records `now()` at start and after its activity, and a `sideEffect` token. */
export const WORKFLOWS_TS = `import { assign, setup } from 'xstate';
import { activity, defineWorkflow, now, type SideEffectEvent, sideEffect } from 'squall';

interface Stamped { openedAt: number; token?: string; echoed?: string; stampedAt?: number }

const machine = setup({
  types: { context: {} as Stamped, events: {} as SideEffectEvent<'token', string>, output: {} as Stamped },
  actors: { echo: activity<{ text: string }, { text: string }>() },
}).createMachine({
  id: 'stamped',
  context: () => ({ openedAt: now() }),
  initial: 'minting',
  states: {
    minting: {
      entry: sideEffect('token', () => 'tok-' + Math.random().toString(36).slice(2)),
      on: { 'squall.sideEffect.token': { target: 'echoing', actions: assign({ token: ({ event }) => event.value }) } },
    },
    echoing: {
      invoke: {
        src: 'echo',
        input: ({ context }) => ({ text: context.token ?? '' }),
        onDone: { target: 'done', actions: assign({ echoed: ({ event }) => event.output.text, stampedAt: () => now() }) },
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => context,
});

export const stamped = defineWorkflow({ name: 'stamped', machine });
`;

/** Activity `echo`: the text, upper-cased. */
export const ACTIVITIES_TS = `import { defineActivity } from 'squall';

export const echo = defineActivity('echo', async (input: { text: string }) => ({ text: input.text.toUpperCase() }));
`;

/** Uses each entry point's exports with their types; a name the package lacks must not type-check. */
export const CHECK_TYPES_TS = `import { connect, defineWorkflow, now, type SquallClient, type WorkflowDefinition } from 'squall';
import { createTestRun } from 'squall/testing';
import { loadActivities, loadWorkflows, type RouterOptions, startExecutor, startRouter, startTimer } from 'squall/services';
// @ts-expect-error: the package exports no such name, so its declarations are really read
import { noSuchExport } from 'squall';

export const time: () => number = now;
export const entryPoints = [connect, defineWorkflow, createTestRun, loadActivities, loadWorkflows, startExecutor, startRouter, startTimer, noSuchExport];
export type Used = [SquallClient, WorkflowDefinition, RouterOptions];
`;

/** A strict NodeNext tsconfig over the project's modules; @types/node comes from the repo. */
export function tsconfigJson(typeRoots: string): string {
  const compilerOptions = {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [typeRoots],
  };
  return `${JSON.stringify({ compilerOptions, files: ['check-types.ts', 'workflows.ts', 'activities.ts'] }, null, 2)}\n`;
}
