import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import {
  activity,
  branchDecisions,
  decide,
  defineWorkflow,
  invocation,
  replayCommits,
  resumeSeq,
} from '../../../shared/engine/index.js';
import type { Decision, DecisionInput, RunState } from '../../../shared/engine/types.js';
import { InvalidInputError, NondeterminismError } from '../../../shared/errors.js';
import type { Commit, RunOrigin } from '../../../shared/history/events.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { parent } from '../../fixtures/lifecycle/workflows.js';
import { changedOrderWorkflow, orderWorkflow } from '../../fixtures/workflows.js';

const NEW = { workflowId: 'order-b', runId: 'run-b', at: 1_000_000 };
const origin = (atSeq: number, kind: RunOrigin['kind'] = 'branch'): RunOrigin => ({
  kind,
  workflowId: 'test-workflow',
  runId: 'test-workflow-run-1',
  atSeq,
});

async function approvedOrder(): Promise<Commit[]> {
  const run = await createTestRun(orderWorkflow, {
    input: { orderId: 'o', amount: 1 },
    activities: { chargeCard: 'ok', shipOrder: 'shipped', sendEmail: 'sent' },
  });
  await run.signal({ type: 'approve' });
  expect(run.state.status).toBe('completed');
  return [...run.history];
}

/** The commits a run's decisions are stored as (the router's toCommit, less the commands). */
function commitsOf(decisions: Decision[]): Commit[] {
  return decisions.map((d) => ({
    runId: d.state.runId,
    workflowId: d.state.workflowId,
    seq: d.state.lastSeq,
    events: d.events,
  }));
}

describe('branchDecisions', () => {
  it('repeats the source up to atSeq, issues again what was pending, then goes on live as the source did', async () => {
    const source = await approvedOrder();
    // Commit 2: charged, waiting for approval with its timer armed.
    const decisions = branchDecisions(orderWorkflow, source.slice(0, 2), { ...NEW, origin: origin(2) });
    expect(decisions).toHaveLength(3);
    const [start, charged, branched] = decisions as [Decision, Decision, Decision];
    expect(start.events[0]).toMatchObject({
      type: 'RunStarted',
      workflowId: 'order-b',
      runId: 'run-b',
      origin: origin(2),
    });
    expect(charged.events).toEqual(source[1]?.events);
    expect(start.commands).toEqual([]);
    expect(charged.commands).toEqual([]);
    const timer = Object.values(charged.state.timers)[0];
    expect(branched.events).toEqual([{ type: 'RunBranched', at: NEW.at, origin: origin(2) }]);
    expect(branched.commands).toEqual([{ kind: 'scheduleTimer', timerSeq: timer?.timerSeq, fireAt: timer?.fireAt }]);
    expect(branched.state).toMatchObject({ workflowId: 'order-b', runId: 'run-b', lastSeq: 3, branches: 1 });
    expect(branched.state.origin).toEqual(origin(2));

    // Live from here: the same signal gives the same commands the source's commit 3 gave.
    const sourceAt2 = replayCommits(orderWorkflow, source.slice(0, 2));
    const approve: DecisionInput = { kind: 'signal', at: NEW.at + 1, event: { type: 'approve' } };
    expect(decide(orderWorkflow, branched.state, approve).commands).toEqual(
      decide(orderWorkflow, sourceAt2, approve).commands,
    );
    // And the new run's history replays by itself.
    expect(replayCommits(orderWorkflow, commitsOf(decisions)).lastSeq).toBe(3);
  });

  it('issues pending activities again as attempt 1, for the new run', async () => {
    const source = await approvedOrder();
    const approvedAt = source.findIndex((c) => c.events[0]?.type === 'SignalReceived') + 1;
    const decisions = branchDecisions(orderWorkflow, source.slice(0, approvedAt), {
      ...NEW,
      origin: origin(approvedAt, 'reset'),
    });
    const branched = decisions.at(-1) as Decision;
    const scheduled = branched.commands.filter((c) => c.kind === 'scheduleActivity');
    expect(scheduled.map((c) => [c.activity, c.attempt])).toEqual([
      ['shipOrder', 1],
      ['sendEmail', 1],
    ]);
    expect(branched.state).toMatchObject({ resets: 1 });
    expect(branched.state.branches).toBeUndefined();
  });

  it('starts the children pending at atSeq again, as children of the new run', async () => {
    const source = await createTestRun(parent, { input: { policy: 'terminate', label: 'x' }, workflowId: 'par' });
    expect(source.pendingChildren()).toHaveLength(1);
    const decisions = branchDecisions(parent, source.history, {
      ...NEW,
      origin: { kind: 'branch', workflowId: 'par', runId: 'par-run-1', atSeq: 1 },
    });
    const branched = decisions.at(-1) as Decision;
    expect(branched.commands).toEqual([
      {
        kind: 'startChild',
        childSeq: 1,
        workflowType: 'kid',
        childWorkflowId: 'order-b-kid-1',
        invokeId: 'kid',
        input: { label: 'x' },
      },
    ]);
    expect(source.pendingChildren()[0]?.childWorkflowId).toBe('par-kid-1');
  });

  it('refuses a point where the source is closed, and changed definitions with the event named', async () => {
    const source = await approvedOrder();
    const last = source.length;
    expect(() => branchDecisions(orderWorkflow, source, { ...NEW, origin: origin(last) })).toThrow(InvalidInputError);
    let caught: unknown;
    try {
      branchDecisions(changedOrderWorkflow, source.slice(0, 2), { ...NEW, origin: origin(2) });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NondeterminismError);
    expect((caught as Error).message).toContain('commit 1');
    expect((caught as Error).message).toContain('"activity":"reserveStock"');
  });
});

const flaky = defineWorkflow({
  name: 'flaky',
  activities: { work: { retry: { maximumAttempts: 1 } } },
  machine: setup({
    types: { context: {} as { seen: unknown[] } },
    actors: { work: activity<unknown, string>() },
  }).createMachine({
    id: 'flaky',
    context: { seen: [] },
    initial: 'working',
    states: {
      working: {
        entry: assign({ seen: ({ context }) => [...context.seen, invocation()] }),
        invoke: { src: 'work', onDone: 'done' },
      },
      done: { type: 'final', entry: assign({ seen: ({ context }) => [...context.seen, invocation()] }) },
    },
  }),
});

describe('resumeSeq', () => {
  it('is the commit before the failure; a run that did not fail is refused', async () => {
    const failed = await createTestRun(flaky, { activities: { work: new Error('down') } });
    expect(failed.state.status).toBe('failed');
    const seq = resumeSeq(failed.history);
    expect(seq).toBe(failed.history.length - 1);
    const decisions = branchDecisions(flaky, failed.history.slice(0, seq), {
      ...NEW,
      origin: { ...origin(seq, 'resume'), workflowId: 'test-workflow' },
    });
    const resumed = decisions.at(-1) as Decision;
    expect(resumed.commands).toMatchObject([{ kind: 'scheduleActivity', activity: 'work', attempt: 1 }]);
    // invocation() counts the reset from the RunBranched commit on.
    const done = decide(flaky, resumed.state, {
      kind: 'activityCompleted',
      at: NEW.at + 1,
      activitySeq: 1,
      output: 'ok',
    });
    expect((done.state as RunState).status).toBe('completed');
    const seen = (done.state.snapshot as { context: { seen: { resets: number; runId: string }[] } }).context.seen;
    expect(seen.map((i) => [i.runId, i.resets])).toEqual([
      ['run-b', 0],
      ['run-b', 1],
    ]);

    const ok = await createTestRun(flaky, { activities: { work: 'ok' } });
    expect(() => resumeSeq(ok.history)).toThrow(/did not fail/);
  });
});
