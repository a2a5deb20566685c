/**
 * The run lifecycle in the pure core: terminate, child workflows under each parent close policy,
 * and continue-as-new. Every run is also replayed from the commits it produced.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import {
  type Command,
  childWorkflow,
  type Decision,
  type DecisionInput,
  decide,
  defineWorkflow,
  type RunState,
  replayCommits,
  type WorkflowDefinition,
} from '../../../shared/engine/index.js';
import { InvalidInputError } from '../../../shared/errors.js';
import type { Commit } from '../../../shared/history/events.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { counter, kid, parent, sleeper } from '../../fixtures/lifecycle/workflows.js';
import type { HistoryFixture } from '../../fixtures/save.js';

const types = (d: Decision) => d.events.map((e) => e.type);
const kinds = (cs: Command[]) => cs.map((c) => c.kind);

/** Folds inputs one by one, keeping the commits, and checks replay rebuilds the same state. */
function drive(def: WorkflowDefinition, inputs: DecisionInput[], runId = 'r1', workflowId = 'w1') {
  let state: RunState | undefined;
  const commits: Commit[] = [];
  const decisions: Decision[] = [];
  for (const input of inputs) {
    const d = decide(def, state, input);
    decisions.push(d);
    if (d.events.length > 0) commits.push({ runId, workflowId, seq: d.state.lastSeq, events: d.events });
    state = d.state;
  }
  const replayed = replayCommits(def, commits);
  expect(replayed.status).toBe(state?.status);
  expect(replayed.children).toEqual(state?.children);
  return { state: state as RunState, decisions, last: decisions.at(-1) as Decision };
}

const start = (input?: unknown, extra: Partial<Extract<DecisionInput, { kind: 'start' }>> = {}): DecisionInput => ({
  kind: 'start',
  at: 1000,
  workflowId: 'w1',
  runId: 'r1',
  ...(input === undefined ? {} : { input }),
  ...extra,
});

describe('terminate', () => {
  it('ends the run at once: cancels activities and timers, records RunTerminated with the reason', () => {
    const { state, last } = drive(sleeper, [start(), { kind: 'terminate', at: 2000, reason: 'ops' }]);
    expect(types(last)).toEqual(['TerminateRequested', 'ActivityCancelled', 'TimerCancelled', 'RunTerminated']);
    expect(last.events[0]).toEqual({ type: 'TerminateRequested', at: 2000, reason: 'ops' });
    expect(last.events.at(-1)).toEqual({ type: 'RunTerminated', at: 2000, reason: 'ops' });
    expect(kinds(last.commands)).toEqual(['cancelActivity', 'cancelTimer', 'runClosed']);
    expect(last.commands.at(-1)).toMatchObject({
      kind: 'runClosed',
      status: 'terminated',
      error: { name: 'TerminatedError', code: 'TERMINATED', message: 'run w1 was terminated: ops' },
    });
    expect(state).toMatchObject({ status: 'terminated', closedAt: 2000, activities: {}, timers: {} });
  });

  it('does not ask the machine, even one that handles squall.cancel', () => {
    const def = defineWorkflow({
      name: 'stubborn',
      machine: setup({}).createMachine({
        initial: 'a',
        states: { a: { on: { 'squall.cancel': 'a' } } },
      }),
    });
    const { state } = drive(def, [start(), { kind: 'terminate', at: 1500 }]);
    expect(state.status).toBe('terminated');
  });

  it('is a no-op on a closed run and refuses a malformed reason', () => {
    const { state } = drive(sleeper, [start(), { kind: 'terminate', at: 2000 }]);
    expect(decide(sleeper, state, { kind: 'terminate', at: 3000 }).events).toEqual([]);
    expect(() => decide(sleeper, state, { kind: 'terminate', at: 3000, reason: 5 } as never)).toThrow(
      InvalidInputError,
    );
  });
});

describe('child workflows', () => {
  it('an invoke of a childWorkflow() src records ChildStarted and a startChild command', () => {
    const { state, last } = drive(parent, [start({ policy: 'terminate', label: 'x' })]);
    expect(types(last)).toEqual(['RunStarted', 'ChildStarted']);
    expect(last.events[1]).toEqual({
      type: 'ChildStarted',
      at: 1000,
      childSeq: 1,
      workflowType: 'kid',
      invokeId: 'kid',
      childWorkflowId: 'w1-kid-1',
      input: { label: 'x' },
      parentClosePolicy: 'terminate',
    });
    expect(last.commands).toEqual([
      {
        kind: 'startChild',
        childSeq: 1,
        workflowType: 'kid',
        invokeId: 'kid',
        childWorkflowId: 'w1-kid-1',
        input: { label: 'x' },
      },
    ]);
    expect(state.children.kid).toMatchObject({ childSeq: 1, parentClosePolicy: 'terminate' });
    expect(parent.activities).toEqual([]);
  });

  it("the child's completion reaches onDone with its output; its failure reaches onError", () => {
    const ok = drive(parent, [
      start({ policy: 'terminate' }),
      { kind: 'childCompleted', at: 2000, childSeq: 1, output: 7 },
    ]);
    expect(ok.state).toMatchObject({ status: 'completed', output: { result: 7 } });
    const error = { name: 'WorkflowFailedError', message: 'boom', code: 'WORKFLOW_FAILED' };
    const bad = drive(parent, [start({ policy: 'terminate' }), { kind: 'childFailed', at: 2000, childSeq: 1, error }]);
    expect(bad.state).toMatchObject({ status: 'completed', output: { error } });
  });

  it.each([
    ['terminate', 'w1-kid-1'],
    ['requestCancel', 'w1-kid-1'],
    ['abandon', 'w1-abandoned'],
  ] as const)('leaving the invoking state applies the %s policy; a late result is stale', (policy, childId) => {
    const { state, last } = drive(parent, [start({ policy }), { kind: 'signal', at: 2000, event: { type: 'leave' } }]);
    expect(types(last)).toEqual(['SignalReceived', 'ChildDetached']);
    expect(last.events[1]).toEqual({ type: 'ChildDetached', at: 2000, childSeq: 1, childWorkflowId: childId, policy });
    expect(last.commands).toEqual([{ kind: 'detachChild', childSeq: 1, childWorkflowId: childId, policy }]);
    expect(state.children).toEqual({});
    const late = decide(parent, state, { kind: 'childCompleted', at: 3000, childSeq: 1 });
    expect(late.events).toEqual([{ type: 'ChildCompleted', at: 3000, childSeq: 1, ignored: 'stale' }]);
  });

  it('closing the parent (terminate) detaches every open child before RunTerminated', () => {
    const { last } = drive(parent, [start({ policy: 'requestCancel' }), { kind: 'terminate', at: 2000 }]);
    expect(types(last)).toEqual(['TerminateRequested', 'ChildDetached', 'RunTerminated']);
    expect(kinds(last.commands)).toEqual(['detachChild', 'runClosed']);
  });

  it('a child run that closes tells its parent, whatever the status', () => {
    const parentRef = { workflowId: 'p', runId: 'pr', invokeId: 'kid', childSeq: 4 };
    const done = drive(kid, [
      start({ label: 'a' }, { parent: parentRef }),
      { kind: 'signal', at: 2000, event: { type: 'finish', value: 9 } },
    ]);
    expect(done.last.commands.at(-1)).toEqual({
      kind: 'notifyParent',
      parent: parentRef,
      status: 'completed',
      output: { label: 'a', value: 9 },
    });
    const failed = drive(kid, [
      start(undefined, { parent: parentRef }),
      { kind: 'signal', at: 2000, event: { type: 'fail' } },
    ]);
    expect(failed.last.commands.at(-1)).toMatchObject({
      kind: 'notifyParent',
      status: 'failed',
      error: { message: 'kid was told to fail' },
    });
    const cancelled = drive(kid, [start(undefined, { parent: parentRef }), { kind: 'cancel', at: 2000 }]);
    expect(cancelled.last.commands.at(-1)).toEqual({ kind: 'notifyParent', parent: parentRef, status: 'cancelled' });
    const terminated = drive(kid, [
      start(undefined, { parent: parentRef }),
      { kind: 'terminate', at: 2000, byParent: 'pr' },
    ]);
    expect(terminated.last.events[0]).toEqual({ type: 'TerminateRequested', at: 2000, byParent: 'pr' });
    expect(terminated.last.commands.at(-1)).toMatchObject({ kind: 'notifyParent', status: 'terminated' });
  });

  it('refuses bad childWorkflow() options and a child id function that returns a bad id', () => {
    expect(() => childWorkflow({ parentClosePolicy: 'orphan' as never })).toThrow(/parentClosePolicy must be one of/);
    expect(() => childWorkflow({ workflowType: 'a.b' })).toThrow(InvalidInputError);
    expect(() => childWorkflow({ nope: 1 } as never)).toThrow(/unknown option "nope"/);
    const def = defineWorkflow({
      name: 'badkid',
      machine: setup({ actors: { k: childWorkflow({ workflowId: () => 'has space' }) } }).createMachine({
        initial: 'a',
        states: { a: { invoke: { src: 'k' } } },
      }),
    });
    const d = decide(def, undefined, start());
    expect(d.state.status).toBe('failed');
    expect(d.state.error?.message).toMatch(/child workflowId "has space" is not a valid workflowId/);
  });
});

describe('continue-as-new', () => {
  it('closes the run as continued with the next input, after cancelling what is pending', () => {
    const { state, last } = drive(counter, [
      start({ generation: 0, total: 0 }),
      { kind: 'activityCompleted', at: 2000, activitySeq: 1, output: { total: 1 }, attempt: 1 },
    ]);
    expect(types(last)).toEqual(['ActivityCompleted', 'RunContinuedAsNew']);
    expect(last.events[1]).toEqual({ type: 'RunContinuedAsNew', at: 2000, input: { generation: 1, total: 1 } });
    expect(last.commands).toEqual([
      { kind: 'continueAsNew', input: { generation: 1, total: 1 }, continuedCount: 1 },
      { kind: 'runClosed', status: 'continued' },
    ]);
    expect(state).toMatchObject({ status: 'continued', closedAt: 2000 });
  });

  it('completes in the last generation; a continued child hands its parent to the next run', () => {
    const parentRef = { workflowId: 'p', runId: 'pr', invokeId: 'count', childSeq: 1 };
    const first = drive(counter, [
      start({ generation: 0, total: 0 }, { parent: parentRef }),
      { kind: 'activityCompleted', at: 2000, activitySeq: 1, output: { total: 1 }, attempt: 1 },
    ]);
    expect(first.last.commands[0]).toEqual({
      kind: 'continueAsNew',
      input: { generation: 1, total: 1 },
      parent: parentRef,
      continuedCount: 1,
    });
    expect(kinds(first.last.commands)).not.toContain('notifyParent');
    const final = drive(counter, [
      start({ generation: 2, total: 2 }, { continuedFrom: 'r0', parent: parentRef }),
      { kind: 'activityCompleted', at: 2000, activitySeq: 1, output: { total: 3 }, attempt: 1 },
    ]);
    expect(final.state).toMatchObject({
      status: 'completed',
      output: { generation: 2, total: 3 },
      continuedFrom: 'r0',
    });
    expect(final.last.commands.at(-1)).toMatchObject({ kind: 'notifyParent', status: 'completed' });
  });
});

describe('squall/testing with the lifecycle', () => {
  it('stubs children by workflow type, and completes or fails them by hand', async () => {
    const stubbed = await createTestRun(parent, {
      input: { policy: 'terminate', label: 'q' },
      children: { kid: (input: { label: string }) => ({ label: input.label, value: 'stub' }) },
    });
    expect(stubbed.status).toBe('completed');
    expect(stubbed.output).toMatchObject({ result: { label: 'q', value: 'stub' } });

    const manual = await createTestRun(parent, { input: { policy: 'requestCancel' } });
    expect(manual.pendingChildren()).toMatchObject([
      { childSeq: 1, workflowType: 'kid', parentClosePolicy: 'requestCancel' },
    ]);
    await manual.failChild('kid', new Error('nope'));
    expect(manual.output).toMatchObject({ error: { message: 'nope' } });
    expect(() => manual.replay()).not.toThrow();
    await expect(manual.completeChild('kid')).rejects.toThrow(/no open child kid \(open: none\)/);
  });

  it('terminates, and shows a continue-as-new as a continued run with the next input', async () => {
    const t = await createTestRun(sleeper, {});
    await t.terminate('enough');
    expect(t.status).toBe('terminated');
    expect(t.error).toMatchObject({ code: 'TERMINATED' });

    const c = await createTestRun(counter, {
      input: { generation: 0, total: 5 },
      activities: { increment: { total: 6 } },
    });
    expect(c.status).toBe('continued');
    expect(c.commands).toContainEqual({ kind: 'continueAsNew', input: { generation: 1, total: 6 }, continuedCount: 1 });
  });
});

describe('recorded lifecycle histories replay under the current definitions', () => {
  const defs: Record<string, WorkflowDefinition> = { parent, kid, counter };
  it.each([
    ['parent-child-completed.json', 'completed'],
    ['parent-detached-terminated.json', 'terminated'],
    ['kid-terminated-by-parent.json', 'terminated'],
    ['counter-continued.json', 'continued'],
  ])('%s', (file, status) => {
    const fixture = JSON.parse(
      readFileSync(fileURLToPath(new URL(`../../fixtures/lifecycle/${file}`, import.meta.url)), 'utf8'),
    ) as HistoryFixture;
    const def = defs[fixture.workflowType] as WorkflowDefinition;
    expect(replayCommits(def, fixture.commits).status).toBe(status);
  });
});
