import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { definitionGraph, definitionGraphs, formatDelay } from '../../../services/router/definitions-feed.js';
import { activity, callback, childWorkflow, defineWorkflow, WorkflowRegistry } from '../../../shared/engine/index.js';
import { orderWorkflow } from '../../fixtures/workflows.js';

const machine = setup({
  actors: { charge: activity(), review: childWorkflow(), webhook: callback() },
  delays: { grace: 5000 },
}).createMachine({
  id: 'shape',
  initial: 'paying',
  states: {
    paying: {
      invoke: { id: 'pay', src: 'charge', onDone: 'working', onError: 'failed' },
      after: { 90000: 'failed' },
    },
    working: {
      type: 'parallel',
      states: {
        review: {
          initial: 'pending',
          states: {
            pending: { invoke: { id: 'rev', src: 'review', onDone: 'reviewed' }, on: { skip: 'reviewed' } },
            reviewed: { type: 'final' },
          },
        },
        hook: {
          initial: 'waiting',
          states: {
            waiting: { invoke: { id: 'hook', src: 'webhook', onDone: 'called' }, after: { grace: 'called' } },
            called: { type: 'final' },
          },
        },
      },
      onDone: 'done',
      on: { abort: { target: 'failed', guard: () => true } },
    },
    done: { type: 'final' },
    failed: { type: 'final' },
  },
});
const shape = defineWorkflow({ name: 'shape', version: 2, machine });

describe('definitionGraph', () => {
  const g = definitionGraph(shape);
  const state = (id: string) => {
    const walk = (s: typeof g.root): typeof g.root | undefined =>
      s.id === id ? s : s.children.map(walk).find((x) => x !== undefined);
    const found = walk(g.root);
    if (!found) throw new Error(`no state ${id}`);
    return found;
  };
  const from = (source: string) => g.transitions.filter((t) => t.source === source);

  it('names the definition and nests compound and parallel states with their initial child', () => {
    expect(g).toMatchObject({ workflowType: 'shape', version: 2 });
    expect(g.root).toMatchObject({ id: 'shape', type: 'compound', initial: 'shape.paying', path: '' });
    expect(g.root.children.map((c) => c.key)).toEqual(['paying', 'working', 'done', 'failed']);
    expect(state('shape.working').type).toBe('parallel');
    expect(state('shape.working').children.map((c) => [c.key, c.type])).toEqual([
      ['review', 'compound'],
      ['hook', 'compound'],
    ]);
    expect(state('shape.working.review')).toMatchObject({ initial: 'shape.working.review.pending' });
    expect(state('shape.working.review.reviewed').path).toBe('working.review.reviewed');
  });

  it('marks final states', () => {
    expect(['shape.done', 'shape.failed', 'shape.working.hook.called'].map((id) => state(id).type)).toEqual([
      'final',
      'final',
      'final',
    ]);
  });

  it('lists invokes with what they start: activity, child workflow, callback', () => {
    expect(state('shape.paying').invokes).toEqual([{ id: 'pay', src: 'charge', kind: 'activity' }]);
    expect(state('shape.working.review.pending').invokes).toEqual([{ id: 'rev', src: 'review', kind: 'child' }]);
    expect(state('shape.working.hook.waiting').invokes).toEqual([{ id: 'hook', src: 'webhook', kind: 'callback' }]);
  });

  it('labels invoke outcomes by the invoked source', () => {
    expect(from('shape.paying').filter((t) => t.kind !== 'after')).toEqual([
      expect.objectContaining({ kind: 'done', label: 'done: charge', targets: ['shape.working'] }),
      expect.objectContaining({ kind: 'error', label: 'error: charge', targets: ['shape.failed'] }),
    ]);
  });

  it('gives `after` transitions their delay, constant or named', () => {
    expect(from('shape.paying').find((t) => t.kind === 'after')).toMatchObject({
      delay: 90_000,
      label: 'after 1m 30s',
      targets: ['shape.failed'],
    });
    expect(from('shape.working.hook.waiting').find((t) => t.kind === 'after')).toMatchObject({
      delay: 'grace',
      label: 'after grace',
    });
  });

  it('keeps signal events, guards and a parallel state’s onDone; accepts lists only signals', () => {
    expect(from('shape.working')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'event', event: 'abort', label: 'abort', guarded: true }),
        expect.objectContaining({ kind: 'done', label: 'done', targets: ['shape.done'] }),
      ]),
    );
    expect(state('shape.working').accepts).toEqual(['abort']);
    expect(state('shape.working.review.pending').accepts).toEqual(['skip']);
    expect(state('shape.paying').accepts).toEqual([]);
  });

  it('reads the README order workflow: a named delay given by a function', () => {
    const order = definitionGraph(orderWorkflow);
    const waiting = order.root.children.find((c) => c.key === 'awaitingApproval');
    expect(waiting?.accepts).toEqual(['approve', 'reject']);
    const after = order.transitions.find((t) => t.source === waiting?.id && t.kind === 'after');
    expect(after?.label).toBe('after approvalTimeout');
  });

  it('covers every version of every registered definition', () => {
    const reg = new WorkflowRegistry([shape, orderWorkflow]);
    expect(definitionGraphs(reg).map((d) => `${d.workflowType}@${d.version}`)).toEqual(['order@1', 'shape@2']);
  });
});

describe('formatDelay', () => {
  it('prints short human durations', () => {
    expect([250, 1000, 1500, 60_000, 90_000, 3_600_000, 86_400_000 + 3_600_000].map(formatDelay)).toEqual([
      '250ms',
      '1s',
      '1.5s',
      '1m',
      '1m 30s',
      '1h',
      '1d 1h',
    ]);
  });
});
