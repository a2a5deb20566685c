import { describe, expect, it } from 'vitest';
import { createMachine, fromPromise, setup } from 'xstate';
import { activity, defineWorkflow, isWorkflowDefinition, WorkflowRegistry } from '../../../shared/engine/index.js';
import { ConfigError, InvalidInputError, NotFoundError } from '../../../shared/errors.js';
import { orderWorkflow } from '../../fixtures/workflows.js';

const tiny = createMachine({ id: 't', initial: 'a', states: { a: { invoke: { id: 'x', src: 'doThing' } } } });

describe('defineWorkflow', () => {
  it('collects invoked and declared activities and freezes the definition', () => {
    expect(orderWorkflow.activities).toEqual(['chargeCard', 'sendEmail', 'shipOrder']);
    expect(Object.isFrozen(orderWorkflow)).toBe(true);
    expect(orderWorkflow.version).toBe(1);
    expect(isWorkflowDefinition(orderWorkflow)).toBe(true);
    expect(isWorkflowDefinition({ name: 'x' })).toBe(false);
    const wf = defineWorkflow({ name: 't', machine: tiny });
    expect(wf.activities).toEqual(['doThing']);
    expect(wf.deferred).toEqual([]);
  });

  it('refuses actor logic with an implementation in setup, naming the actor and what to use instead', () => {
    let ran = false;
    const m = setup({
      actors: {
        doThing: fromPromise(async () => {
          ran = true;
        }),
      },
    }).createMachine({ initial: 'a', states: { a: { invoke: { src: 'doThing' } } } });
    expect(() => defineWorkflow({ name: 'real', machine: m })).toThrow(
      /"doThing" as actor logic with an implementation .*doThing: activity\(\).*childWorkflow/,
    );
    expect(ran).toBe(false);
  });

  it.each([
    [{ name: 'has.dot', machine: tiny }, /workflowType "has.dot" contains "."/],
    [{ name: '', machine: tiny }, /workflowType must not be empty/],
    [{ name: 'ok', version: 0, machine: tiny }, /version must be a positive integer, got 0/],
    [{ name: 'ok', version: 1.5, machine: tiny }, /positive integer/],
    [{ name: 'ok', machine: {} }, /machine must be an XState machine/],
    [{ name: 'ok', machine: tiny, deferred: ['xstate.done'] }, /reserved/],
    [{ name: 'ok', machine: tiny, deferred: [''] }, /non-empty strings/],
  ])('refuses %j', (opts, message) => {
    expect(() => defineWorkflow(opts as never)).toThrow(InvalidInputError);
    expect(() => defineWorkflow(opts as never)).toThrow(message);
  });

  it('refuses inline actor logic and activity names that are not tokens', () => {
    const inline = createMachine({
      initial: 'a',
      states: { a: { invoke: { id: 'i', src: fromPromise(async () => 1) } } },
    });
    expect(() => defineWorkflow({ name: 'inline', machine: inline })).toThrow(/inline actor logic/);
    const bad = createMachine({ initial: 'a', states: { a: { invoke: { src: 'charge card' } } } });
    expect(() => defineWorkflow({ name: 'bad', machine: bad })).toThrow(/activity name "charge card"/);
  });

  it('activity() declares typed activities for setup()', () => {
    const m = setup({ actors: { charge: activity<{ amount: number }, { id: string }>() } }).createMachine({
      initial: 'a',
      states: { a: { invoke: { src: 'charge', input: { amount: 1 } } } },
    });
    expect(defineWorkflow({ name: 'typed', machine: m }).activities).toEqual(['charge']);
  });
});

describe('WorkflowRegistry', () => {
  const v1 = defineWorkflow({ name: 'flow', machine: tiny });
  const v2 = defineWorkflow({ name: 'flow', version: 2, machine: createMachine({ id: 'two' }) });

  it('keeps every version and finds the latest', () => {
    const r = new WorkflowRegistry([v2, v1]);
    expect(r.get('flow', 1)).toBe(v1);
    expect(r.get('flow', 3)).toBeUndefined();
    expect(r.latest('flow')).toBe(v2);
    expect(r.latest('nope')).toBeUndefined();
    expect(r.names()).toEqual(['flow']);
    expect(r.versions('flow')).toEqual([1, 2]);
    expect(r.has('flow')).toBe(true);
    expect(r.has('flow', 3)).toBe(false);
  });

  it('require() throws NotFoundError naming what is registered', () => {
    const r = new WorkflowRegistry([v1]);
    expect(r.require('flow')).toBe(v1);
    expect(() => r.require('flow', 9)).toThrow(NotFoundError);
    expect(() => r.require('flow', 9)).toThrow(/registered: 1/);
    expect(() => r.require('other')).toThrow(/unknown workflow type "other"/);
  });

  it('accepts the same machine twice and refuses another machine under a taken version', () => {
    const r = new WorkflowRegistry([v1]);
    r.register(v1, defineWorkflow({ name: 'flow', machine: tiny }));
    expect(r.get('flow', 1)).toBe(v1);
    expect(() => r.register(defineWorkflow({ name: 'flow', machine: createMachine({ id: 'other' }) }))).toThrow(
      ConfigError,
    );
    expect(() => r.register({} as never)).toThrow(/defineWorkflow/);
  });
});
