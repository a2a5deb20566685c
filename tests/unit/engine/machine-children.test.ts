/**
 * A state machine in `setup({ actors })` as a durable child run (definition.ts, registry.ts,
 * actions.ts): the child workflow type it is registered as, the version its runs start on, the
 * start message the router sends for it, and replay of both runs.
 */
import { describe, expect, it } from 'vitest';
import { assign, createMachine, sendParent, setup } from 'xstate';
import { parseInbound } from '../../../services/router/inputs.js';
import { commitMessages } from '../../../services/router/outbox.js';
import { decide } from '../../../shared/engine/index.js';
import { ConfigError } from '../../../shared/errors.js';
import { checkDefinition, defineWorkflow, machineChildType, WorkflowRegistry } from '../../../shared/index.js';
import { subjects } from '../../../shared/names.js';
import { createTestRun } from '../../../shared/testing/index.js';

const leaf = createMachine({ id: 'leaf', initial: 'a', states: { a: { after: { 50: 'b' } }, b: { type: 'final' } } });
const middle = setup({ actors: { leaf } }).createMachine({
  id: 'middle',
  initial: 'a',
  states: { a: { invoke: { id: 'l', src: 'leaf', onDone: 'b' } }, b: { type: 'final' } },
  output: () => 'middle done',
});
const top = (version: number) =>
  defineWorkflow({
    name: 'top',
    version,
    machine: setup({ actors: { middle } }).createMachine({
      id: 'top',
      context: { got: '' },
      initial: 'a',
      states: {
        a: {
          invoke: {
            id: 'm',
            src: 'middle',
            input: { from: 'top' },
            onDone: { target: 'b', actions: assign({ got: ({ event }) => String(event.output) }) },
          },
        },
        b: { type: 'final' },
      },
      output: ({ context }) => context.got,
    }),
  });

describe('registering a workflow with machine children', () => {
  it('registers every child and grandchild type on the parent version, next to other versions', () => {
    const r = new WorkflowRegistry([top(1), top(2)]);
    expect(r.names()).toEqual(['top', 'top-middle', 'top-middle-leaf']);
    expect(r.versions('top-middle')).toEqual([1, 2]);
    expect(r.versions('top-middle-leaf')).toEqual([1, 2]);
    expect(r.get('top-middle', 1)?.machine.config).toBe(middle.config);
    expect(machineChildType('top', 'middle')).toBe('top-middle');
  });

  it('refuses another workflow registered under a child type and version already taken', () => {
    const other = defineWorkflow({ name: 'top-middle', machine: createMachine({ id: 'mine' }) });
    expect(() => new WorkflowRegistry([other, top(1)])).toThrow(ConfigError);
    expect(() => new WorkflowRegistry([other, top(1)])).toThrow(/workflow top-middle version 1 is already registered/);
  });
});

describe('starting a machine child', () => {
  it('records ChildStarted as for any child; the start command names the parent version', () => {
    const d = decide(top(2), undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r' });
    expect(d.events.find((e) => e.type === 'ChildStarted')).toEqual({
      type: 'ChildStarted',
      at: 0,
      childSeq: 1,
      workflowType: 'top-middle',
      invokeId: 'm',
      childWorkflowId: 'w-m-1',
      input: { from: 'top' },
      parentClosePolicy: 'terminate',
    });
    const cmd = d.commands.find((c) => c.kind === 'startChild');
    expect(cmd).toMatchObject({ workflowType: 'top-middle', version: 2 });
    const s = subjects('squall');
    const ctx = { runId: 'r', workflowId: 'w', workflowType: 'top', seq: 1, at: 0 };
    const [out] = commitMessages(s, ctx, cmd ? [cmd] : []);
    expect(out?.body).toMatchObject({ workflowId: 'w-m-1', version: 2 });
    expect(parseInbound(s, out?.subject as string, out?.body)).toMatchObject({
      kind: 'start',
      workflowType: 'top-middle',
      version: 2,
      parent: { workflowId: 'w', runId: 'r', invokeId: 'm', childSeq: 1 },
    });
  });

  it('refuses a start body whose version is not a positive integer, naming the field', () => {
    const s = subjects('squall');
    for (const version of [0, 1.5, '2', null]) {
      expect(() => parseInbound(s, s.start('top'), { workflowId: 'w', version })).toThrow(
        /start.version must be a positive integer/,
      );
    }
  });

  it('the test kit runs parent, child and grandchild on one clock; each replays', async () => {
    const run = await createTestRun(top(1), { workflowId: 'w' });
    expect(run.status).toBe('running');
    await run.advanceBy(50);
    expect(run.status).toBe('completed');
    expect(run.output).toBe('middle done');
    for (const id of ['w', 'w-m-1', 'w-m-1-l-1']) {
      const r = run.runOf(id);
      expect(r?.status).toBe('completed');
      expect(r?.replay().status).toBe('completed');
    }
  });

  it('a machine child that sends to its parent before the parent waits on anything else', async () => {
    const kid = createMachine({ id: 'kid', entry: sendParent({ type: 'hello' }) });
    const wf = defineWorkflow({
      name: 'hi',
      machine: setup({ actors: { kid } }).createMachine({
        initial: 'a',
        states: { a: { invoke: { id: 'k', src: 'kid' }, on: { hello: 'b' } }, b: { type: 'final' } },
      }),
    });
    const run = await createTestRun(wf, { workflowId: 'p' });
    expect(run.status).toBe('completed');
    expect(run.runOf('p-k-1')?.status).toBe('terminated');
  });
});

describe('squall check', () => {
  it('checks the child machines with their parent, naming the child type', () => {
    const stuck = createMachine({ id: 'stuck', initial: 'a', states: { a: {} } });
    const wf = defineWorkflow({
      name: 'checked',
      machine: setup({ actors: { stuck } }).createMachine({
        initial: 'a',
        states: { a: { invoke: { id: 's', src: 'stuck', onDone: 'b' } }, b: { type: 'final' } },
      }),
    });
    expect(checkDefinition(wf).map((f) => [f.workflowType, f.state, f.kind])).toEqual([
      ['checked-stuck', 'a', 'no-way-out'],
    ]);
  });
});
