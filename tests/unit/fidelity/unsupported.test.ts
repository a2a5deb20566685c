/**
 * Issue #16 item 6: what XState would run but Squall cannot is refused when the workflow is
 * defined, naming the actor or action and what to use instead; a send only found while running
 * fails the run with a Squall error instead of XState's generic one.
 */
import { describe, expect, it } from 'vitest';
import {
  createMachine,
  enqueueActions,
  fromCallback,
  fromEventObservable,
  fromObservable,
  fromPromise,
  fromTransition,
  sendParent,
  sendTo,
  setup,
} from 'xstate';
import { activity, callback, childWorkflow, defineWorkflow } from '../../../shared/engine/index.js';
import { InvalidInputError } from '../../../shared/errors.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { runInXState } from './compare.js';

const child = createMachine({ id: 'child', initial: 'a', states: { a: {} } });
const noop = { subscribe: () => ({ unsubscribe: () => {} }) };

const LOGIC = [
  ['fromPromise', fromPromise(async () => 1), /"work" as actor logic with an implementation/],
  ['fromCallback', fromCallback(() => {}), /"work" as actor logic with an implementation/],
  ['fromObservable', fromObservable(() => noop), /"work" as actor logic with an implementation/],
  ['fromEventObservable', fromEventObservable(() => noop), /"work" as actor logic with an implementation/],
  ['fromTransition', fromTransition((s) => s, 0), /"work" as actor logic with an implementation/],
] as const;

describe('actor logic Squall cannot run is refused at definition time', () => {
  for (const [what, logic, message] of LOGIC) {
    it(`refuses ${what} in setup({ actors }), naming activity(), a machine and childWorkflow() instead`, () => {
      const machine = setup({ actors: { work: logic } }).createMachine({
        initial: 'a',
        states: { a: { invoke: { id: 'w', src: 'work' } } },
      });
      const refuse = () => defineWorkflow({ name: 'refused', machine });
      expect(refuse).toThrow(InvalidInputError);
      expect(refuse).toThrow(message);
      expect(refuse).toThrow(/work: activity\(\).*a state machine.*work: childWorkflow\(\{ workflowType \}\)/);
    });
  }

  it('accepts the markers Squall runs, and a machine that isWorkflowSrc names a child workflow', () => {
    const machine = setup({
      actors: {
        charge: activity(),
        retried: activity({ retry: { maximumAttempts: 2 } }),
        approval: callback(),
        ship: childWorkflow({ workflowType: 'ship' }),
        legacy: child,
      },
    }).createMachine({ initial: 'a', states: { a: {} } });
    const wf = defineWorkflow({ name: 'ok', machine, isWorkflowSrc: (src) => src === 'legacy' });
    expect(wf.activities).toEqual(['approval', 'charge', 'retried']);
    expect(wf.childFor('legacy')).toEqual({ workflowType: 'legacy', parentClosePolicy: 'terminate' });
    expect(wf.childDefinitions).toEqual([]);
  });

  it('accepts a machine in setup({ actors }) as a child workflow of type <parent>-<key> on the parent version', () => {
    const machine = setup({ actors: { work: child } }).createMachine({
      initial: 'a',
      states: { a: { invoke: { id: 'w', src: 'work' } } },
    });
    const wf = defineWorkflow({ name: 'accepted', version: 3, machine });
    expect(wf.activities).toEqual([]);
    expect(wf.childFor('work')).toEqual({ workflowType: 'accepted-work', version: 3, parentClosePolicy: 'terminate' });
    expect(wf.childDefinitions?.map((d) => [d.name, d.version])).toEqual([['accepted-work', 3]]);
  });

  it('refuses a machine child whose own actors Squall cannot run, naming the parent and the actor', () => {
    const inner = setup({ actors: { p: fromPromise(async () => 1) } }).createMachine({ id: 'inner' });
    const machine = setup({ actors: { work: inner } }).createMachine({});
    const refuse = () => defineWorkflow({ name: 'outer', machine });
    expect(refuse).toThrow(InvalidInputError);
    expect(refuse).toThrow(/^workflow outer: actor "work": workflow outer-work: setup\(\{ actors \}\) declares "p"/);
  });
});

describe('sends no actor can receive', () => {
  it('accepts sendParent at definition time; a run that is not a child fails with NO_PARENT when it runs it', async () => {
    const inState = createMachine({ initial: 'a', states: { a: { entry: sendParent({ type: 'hi' }) } } });
    const run = await createTestRun(defineWorkflow({ name: 'p1', machine: inState }));
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'NO_PARENT', name: 'NoParentError' });
    expect(run.error?.message).toMatch(/workflow p1: sendParent in a run that is not a child workflow/);
    const named = setup({ actions: { tell: sendParent({ type: 'hi' }) } }).createMachine({
      initial: 'a',
      states: { a: { on: { go: { actions: 'tell' } } } },
    });
    const child = await createTestRun(defineWorkflow({ name: 'p2', machine: named }), {
      parent: { workflowId: 'boss', runId: 'boss-run' },
    });
    await child.signal({ type: 'go' });
    expect(child.status).toBe('running');
    expect(child.messagesSent).toEqual([
      { target: { kind: 'parent', workflowId: 'boss' }, event: { type: 'hi' }, msgSeq: 1 },
    ]);
  });

  it('refuses sendTo an id no invoke creates, and keeps sends to the machine itself', () => {
    const nowhere = createMachine({
      initial: 'a',
      states: { a: { on: { go: { actions: sendTo('ghost', { type: 'boo' }) } } } },
    });
    expect(() => defineWorkflow({ name: 's1', machine: nowhere })).toThrow(
      /transition on go of state .* sends to actor "ghost", which no invoke or spawnChild of the machine creates/,
    );
  });

  it('refuses sendTo an invoke that is not a child workflow, naming the state and the target', () => {
    const toActivity = setup({ actors: { charge: activity() } }).createMachine({
      initial: 'a',
      states: { a: { invoke: { id: 'pay', src: 'charge' }, entry: sendTo('pay', { type: 'hurry' }) } },
    });
    expect(() => defineWorkflow({ name: 's2', machine: toActivity })).toThrow(
      /entry of state \(machine\)\.a sends to actor "pay", an invoke of "charge", which is not a child workflow/,
    );
    const toChild = setup({ actors: { ship: childWorkflow() } }).createMachine({
      initial: 'a',
      states: {
        a: { invoke: { id: 'ship', src: 'ship' }, on: { go: { actions: sendTo('ship', { type: 'hurry' }) } } },
      },
    });
    expect(defineWorkflow({ name: 's3', machine: toChild }).name).toBe('s3');
  });

  it('fails a run whose sendParent is only found while running with a Squall error, where XState fails too', async () => {
    const machine = setup({ types: { events: {} as { type: 'go' } } }).createMachine({
      initial: 'a',
      states: { a: { on: { go: { actions: enqueueActions(({ enqueue }) => enqueue.sendParent({ type: 'hi' })) } } } },
    });
    const xstate = runInXState(machine, [{ send: { type: 'go' } }]);
    expect(xstate.status).toBe('error');
    const run = await createTestRun(defineWorkflow({ name: 'late', machine }));
    await run.signal({ type: 'go' });
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'NO_PARENT' });
    expect(run.error?.message).toMatch(/workflow late: sendParent in a run that is not a child workflow/);
  });
});
