/**
 * checkDefinition (shared/engine/check.ts): each fixture in tests/fixtures/check has one defect
 * and exactly its findings come back; the shapes that must not be findings (parallel regions,
 * `#id` and deep targets, history, wildcards, named raises, continue-as-new, child workflows and
 * callbacks) stay clean; the repo's examples have none.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, raise, setup } from 'xstate';
import { loadActivities, loadWorkflows } from '../../../services/common/load-modules.js';
import { type CheckOptions, checkDefinition, formatFinding } from '../../../shared/engine/check.js';
import {
  activity,
  callback,
  childWorkflow,
  continueAsNew,
  defineWorkflow,
  type WorkflowDefinition,
} from '../../../shared/engine/index.js';
import { dynamicDelay } from '../../fixtures/check/dynamic-delay.js';
import { finalWithoutOutput } from '../../fixtures/check/final-without-output.js';
import { missingActivity } from '../../fixtures/check/missing-activity.js';
import { noWayOut } from '../../fixtures/check/no-way-out.js';
import { undefinedDelay } from '../../fixtures/check/undefined-delay.js';
import { unhandledEvent } from '../../fixtures/check/unhandled-event.js';
import { unreachable } from '../../fixtures/check/unreachable.js';

/** `state: kind` of every finding, the short form the cases compare. */
const found = (def: WorkflowDefinition, opts?: CheckOptions): string[] =>
  checkDefinition(def, opts).map((f) => `${f.state}: ${f.kind}`);

const wf = (machine: Parameters<typeof defineWorkflow>[0]['machine'], deferred: string[] = []): WorkflowDefinition =>
  defineWorkflow({ name: 'w', machine, deferred });

describe('checkDefinition on the one-defect fixtures', () => {
  it('finds exactly the defect of each fixture', () => {
    const all = { activities: new Set(['charge']), strictDelays: true };
    expect(found(unreachable, all)).toEqual(['orphan: unreachable']);
    expect(found(noWayOut, all)).toEqual(['stuck: no-way-out']);
    expect(found(unhandledEvent, all)).toEqual(['waiting: unhandled-event']);
    expect(found(missingActivity, all)).toEqual(['refunding: missing-activity']);
    expect(found(finalWithoutOutput, all)).toEqual(['approved: ignored-output', 'rejected: final-without-output']);
    expect(found(undefinedDelay, all)).toEqual(['waiting: undefined-delay']);
    expect(found(dynamicDelay, all)).toEqual(['waiting: dynamic-delay']);
  });

  it('reports missing activities only when given names, and run-time delays only when strict', () => {
    expect(found(missingActivity)).toEqual([]);
    expect(found(dynamicDelay)).toEqual([]);
    expect(found(undefinedDelay)).toEqual(['waiting: undefined-delay']);
  });

  it('formats a finding as <workflowType>@v<version> <state path>: <kind>: <message>', () => {
    expect(checkDefinition(unhandledEvent).map(formatFinding)).toEqual([
      'unhandledEvent@v1 waiting: unhandled-event: raised event "ping" is handled by no state',
    ]);
  });
});

describe('checkDefinition: reachability', () => {
  it('enters nested initial states, every parallel region, #id and deep targets, and history', () => {
    const machine = createMachine({
      id: 'm',
      initial: 'a',
      states: {
        a: {
          initial: 'a1',
          states: { a1: { on: { next: 'a2' } }, a2: { on: { jump: '#deep' } } },
        },
        p: {
          type: 'parallel',
          states: {
            left: { initial: 'l1', states: { l1: { id: 'deep', on: { back: '#m.h' } }, l2: { type: 'final' } } },
            right: { initial: 'r1', states: { r1: { always: '#m.done' } } },
          },
        },
        h: { type: 'history' },
        done: { type: 'final' },
      },
    });
    expect(found(wf(machine))).toEqual(['p.left.l2: unreachable']);
  });

  it("enters a history state's default target when it has one", () => {
    const machine = createMachine({
      initial: 'a',
      states: {
        a: { on: { resume: 'work.h' } },
        work: {
          initial: 'first',
          states: {
            h: { type: 'history', target: 'second' },
            first: { on: { next: 'second' } },
            second: { on: { done: '#end' } },
          },
        },
        end: { id: 'end', type: 'final' },
      },
    });
    // Only the history state leads into `work`; its default skips `first`.
    expect(found(wf(machine))).toEqual(['work.first: unreachable']);
  });

  it('follows after, always, invoke onDone/onError and a state onDone; reports only the top of an unreachable subtree', () => {
    const machine = setup({ actors: { work: activity() } }).createMachine({
      initial: 'a',
      states: {
        a: { after: { 1000: 'b' } },
        b: { always: 'c' },
        c: { invoke: { src: 'work', onDone: 'd', onError: 'e' } },
        d: { initial: 'd1', states: { d1: { type: 'final' } }, onDone: 'e' },
        e: { type: 'final' },
        island: { initial: 'i1', states: { i1: { on: { go: 'i2' } }, i2: { on: { go: 'i1' } } } },
      },
    });
    expect(found(wf(machine))).toEqual(['island: unreachable']);
  });
});

describe('checkDefinition: ways out', () => {
  it('counts an ancestor transition, but not the ancestor onDone the stuck state itself blocks', () => {
    const cancellable = createMachine({
      initial: 'outer',
      states: {
        outer: { initial: 'inner', states: { inner: {} }, on: { cancel: 'done' } },
        done: { type: 'final' },
      },
    });
    expect(found(wf(cancellable))).toEqual([]);
    const blocked = createMachine({
      initial: 'outer',
      states: { outer: { initial: 'inner', states: { inner: {} }, onDone: 'done' }, done: { type: 'final' } },
    });
    expect(found(wf(blocked))).toEqual(['outer.inner: no-way-out']);
  });

  it('takes continueAsNew() on entry, inline or named, as a way out', () => {
    const inline = createMachine({ initial: 'again', states: { again: { entry: continueAsNew() } } });
    expect(found(wf(inline))).toEqual([]);
    const named = setup({ actions: { next: continueAsNew() } }).createMachine({
      initial: 'again',
      states: { again: { entry: 'next' } },
    });
    expect(found(wf(named))).toEqual([]);
  });
});

describe('checkDefinition: events', () => {
  it('reports deferred signals no state handles, at the root', () => {
    const machine = createMachine({ initial: 'a', states: { a: { on: { approve: 'b' } }, b: { type: 'final' } } });
    expect(found(wf(machine, ['approve']))).toEqual([]);
    expect(checkDefinition(wf(machine, ['approve', 'reject'])).map(formatFinding)).toEqual([
      'w@v1 (root): unhandled-event: deferred signal "reject" is handled by no state',
    ]);
  });

  it('counts * and prefix.* handlers, and follows named raise actions', () => {
    const machine = setup({
      actions: { ping: raise({ type: 'ping' }), poke: raise({ type: 'order.poke' }) },
    }).createMachine({
      initial: 'a',
      states: {
        a: { entry: ['ping', 'poke'], on: { 'order.*': 'b' } },
        b: { entry: raise({ type: 'pong' }), on: { '*': 'c' } },
        c: { type: 'final' },
      },
    });
    expect(found(wf(machine))).toEqual([]);
    const unhandled = setup({ actions: { ping: raise({ type: 'ping' }) } }).createMachine({
      initial: 'a',
      states: { a: { on: { go: { target: 'b', actions: 'ping' } } }, b: { type: 'final' } },
    });
    expect(found(wf(unhandled))).toEqual(['a: unhandled-event']);
  });
});

describe('checkDefinition: activities and outputs', () => {
  it('never asks the activities module for child workflows or callbacks', () => {
    const machine = setup({
      actors: { work: activity(), child: childWorkflow(), approval: callback() },
    }).createMachine({
      initial: 'a',
      states: {
        a: { invoke: { src: 'work', onDone: 'b' } },
        b: { invoke: { src: 'child', onDone: 'c' } },
        c: { invoke: { src: 'approval', onDone: 'd' } },
        d: { type: 'final' },
      },
    });
    expect(found(wf(machine), { activities: new Set(['work']) })).toEqual([]);
    expect(found(wf(machine), { activities: new Set() })).toEqual(['a: missing-activity']);
  });

  it('is satisfied by a root output, and by no output at all', () => {
    const states = {
      a: { on: { ok: 'yes', no: 'no' } },
      yes: { type: 'final' as const, output: 1 },
      no: { type: 'final' as const },
    };
    expect(found(wf(createMachine({ initial: 'a', states, output: () => 2 })))).toEqual([]);
    const silent = createMachine({
      initial: 'a',
      states: { a: { on: { ok: 'yes' } }, yes: { type: 'final' } },
    });
    expect(found(wf(silent))).toEqual([]);
  });
});

describe("the repo's examples", () => {
  it('have no findings, with their activities and strict delays aside', async () => {
    const activities = new Set((await loadActivities('examples/order/activities.ts')).map((a) => a.name));
    for (const def of await loadWorkflows('examples/order/workflows.ts')) {
      expect(checkDefinition(def, { activities }), def.name).toEqual([]);
    }
    for (const def of await loadWorkflows('examples/patterns/workflows.ts')) {
      expect(checkDefinition(def), def.name).toEqual([]);
    }
  });
});
