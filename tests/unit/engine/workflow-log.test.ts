/**
 * Workflow-side logging: workflowLog lines are collected by the decision that logs them (with the
 * run's ids and the commit's seq), once; replays, redelivered inputs and guard probes collect
 * none; bad calls fail clearly. The router's writing of the lines is covered at the end.
 */
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { writeWorkflowLogs } from '../../../services/router/chain.js';
import {
  type Decision,
  decide,
  defineWorkflow,
  inputFromEvent,
  replayCommits,
  workflowLog,
} from '../../../shared/engine/index.js';
import { ConfigError, OutsideDecisionError } from '../../../shared/errors.js';
import type { Commit, HistoryEvent } from '../../../shared/history/events.js';
import { createLogger } from '../../../shared/log.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { auditedWorkflow } from '../../fixtures/workflow-log/workflows.js';

const T0 = Date.UTC(2026, 0, 1);
const ids = { runId: 'a-1-run-1', workflowId: 'a-1', workflowType: 'audited' };

function startAudited(): Decision {
  return decide(auditedWorkflow, undefined, {
    kind: 'start',
    at: T0,
    workflowId: ids.workflowId,
    runId: ids.runId,
    input: { orderId: 'o-1' },
  });
}

/** A workflow whose `go` runs `act` as its action, or `guard` as its guard, then moves to `b`. */
function onGo(t: { act?: () => void; guard?: () => boolean }) {
  const machine = setup({ types: {} as { events: { type: 'go' } } }).createMachine({
    initial: 'a',
    states: {
      a: { on: { go: { target: 'b', ...(t.act ? { actions: t.act } : {}), ...(t.guard ? { guard: t.guard } : {}) } } },
      b: {},
    },
  });
  return defineWorkflow({ name: 'on-go', machine });
}

describe('workflowLog', () => {
  it('collects lines from context factories, assign and actions with the run ids and the commit seq', async () => {
    const run = await createTestRun(auditedWorkflow, { input: { orderId: 'o-1' }, workflowId: 'a-1', start: T0 });
    await run.signal({ type: 'go' });
    await run.advanceBy(1_000);
    await run.signal({ type: 'go' });
    await run.signal({ type: 'finish' });
    expect(run.status).toBe('completed');
    expect(run.logs).toEqual([
      { level: 'info', msg: 'order opened', fields: { orderId: 'o-1' }, ...ids, seq: 1, at: T0 },
      { level: 'info', msg: 'order went', fields: { orderId: 'o-1', n: 1 }, ...ids, seq: 2, at: T0 },
      { level: 'info', msg: 'order went', fields: { orderId: 'o-1', n: 2 }, ...ids, seq: 3, at: T0 + 1_000 },
      { level: 'warn', msg: 'order finishing', fields: { gone: 2 }, ...ids, seq: 4, at: T0 + 1_000 },
    ]);
    // Each line's seq is the commit that holds the decision which logged it.
    expect(run.history.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
  });

  it('collects nothing when a recorded commit is decided again (replay, a reload from history)', async () => {
    const run = await createTestRun(auditedWorkflow, { input: { orderId: 'o-1' }, workflowId: 'a-1' });
    await run.signal({ type: 'go' });
    expect(run.logs).toHaveLength(2);
    const [first, second] = run.history as [Commit, Commit];
    const start = decide(auditedWorkflow, undefined, inputFromEvent(first.events[0] as HistoryEvent), {
      recorded: first.events,
    });
    expect(start.logs).toBeUndefined();
    const go = decide(auditedWorkflow, start.state, inputFromEvent(second.events[0] as HistoryEvent), {
      recorded: second.events,
    });
    expect(go.events.length).toBeGreaterThan(0);
    expect(go.logs).toBeUndefined();
    // replayCommits rebuilds the same state, and a replay check logs nothing either.
    expect(replayCommits(auditedWorkflow, run.history)).toEqual(run.state);
    expect(run.replay()).toEqual(run.state);
    expect(run.logs).toHaveLength(2);
  });

  it('collects nothing for a redelivered outside input the run has already taken', () => {
    const started = startAudited();
    const input = { kind: 'signal', at: T0 + 5, event: { type: 'go' }, inputId: 'in/7' } as const;
    const first = decide(auditedWorkflow, started.state, input);
    expect(first.logs?.map((l) => [l.msg, l.seq])).toEqual([['order went', 2]]);
    const again = decide(auditedWorkflow, first.state, { ...input, at: T0 + 9 });
    expect(again.events).toEqual([]);
    expect(again.logs).toBeUndefined();
  });

  it('hears a guard once, from the evaluation that takes the transition, not from the probe before it', async () => {
    const wf = onGo({
      guard: () => {
        workflowLog.info('logged', { k: 1 });
        return true;
      },
    });
    const run = await createTestRun(wf, { workflowId: 'g-1' });
    await run.signal({ type: 'go' });
    expect(run.value).toBe('b');
    expect(run.logs.map((l) => [l.msg, l.seq])).toEqual([['logged', 2]]);
  });

  it('throws OutsideDecisionError outside a decision', () => {
    expect(() => workflowLog.info('hello')).toThrow(OutsideDecisionError);
    expect(() => workflowLog.error('hello')).toThrow(/only defined while a workflow decision runs/);
  });

  it.each([
    ['a msg that is not a string', () => workflowLog.info(42 as unknown as string), /msg must be a string, got number/],
    [
      'fields that are an array',
      () => workflowLog.warn('x', [1] as unknown as Record<string, unknown>),
      /fields must be an object, got an array/,
    ],
    [
      'fields that are null',
      () => workflowLog.warn('x', null as unknown as Record<string, unknown>),
      /fields must be an object, got null/,
    ],
    ['a reserved field', () => workflowLog.debug('x', { runId: 'spoofed' }), /field "runId" is reserved/],
  ])('fails the run with a ConfigError for %s', async (_what, call, message) => {
    const wf = onGo({ act: call });
    const run = await createTestRun(wf, { workflowId: 'bad-1' });
    await run.signal({ type: 'go' });
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: 'CONFIG', message: expect.stringMatching(message) });
    expect(run.logs).toEqual([]);
  });

  it('runs a context factory once per start, and logs from it once', () => {
    let calls = 0;
    const machine = setup({}).createMachine({
      context: () => {
        calls++;
        workflowLog.info('made context');
        return {};
      },
    });
    const d = decide(defineWorkflow({ name: 'eager', machine }), undefined, {
      kind: 'start',
      at: 0,
      workflowId: 'e',
      runId: 'e-1',
    });
    expect(calls).toBe(1);
    expect(d.logs?.map((l) => l.msg)).toEqual(['made context']);
  });

  it('throws the ConfigError itself when called in a decision', () => {
    const seen: unknown[] = [];
    const machine = setup({}).createMachine({
      context: () => {
        try {
          workflowLog.info('x', { seq: 3 });
        } catch (err) {
          seen.push(err);
        }
        return {};
      },
    });
    decide(defineWorkflow({ name: 'catching', machine }), undefined, {
      kind: 'start',
      at: 0,
      workflowId: 'c',
      runId: 'c-1',
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(ConfigError);
    expect((seen[0] as ConfigError).message).toMatch(/field "seq" is reserved/);
  });
});

describe('writeWorkflowLogs (router)', () => {
  it("writes each line at its level with the run's ids after the caller's fields, marked source: workflow", () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', sink: (l) => lines.push(JSON.parse(l)), fields: { service: 'router' } });
    const d: Decision = {
      ...startAudited(),
      logs: [
        { level: 'debug', msg: 'dropped at info', ...ids, seq: 1, at: T0 },
        { level: 'info', msg: 'order opened', fields: { orderId: 'o-1' }, ...ids, seq: 1, at: T0 },
        { level: 'error', msg: 'bad', ...ids, seq: 2, at: T0 },
      ],
    };
    writeWorkflowLogs(log, [d, { ...d, logs: undefined }]);
    expect(lines).toEqual([
      {
        time: expect.any(String),
        level: 'info',
        msg: 'order opened',
        service: 'router',
        orderId: 'o-1',
        source: 'workflow',
        ...ids,
        seq: 1,
      },
      { time: expect.any(String), level: 'error', msg: 'bad', service: 'router', source: 'workflow', ...ids, seq: 2 },
    ]);
  });
});
