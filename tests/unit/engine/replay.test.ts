import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decide, foldCommits, inputFromEvent, replayCommits } from '../../../shared/engine/index.js';
import { CorruptHistoryError, NondeterminismError } from '../../../shared/errors.js';
import type { Commit } from '../../../shared/history/events.js';
import { createTestRun, replayHistory } from '../../../shared/testing/index.js';
import type { HistoryFixture } from '../../fixtures/save.js';
import { changedOrderWorkflow, orderWorkflow, sampleWorkflows, sequenceWorkflow } from '../../fixtures/workflows.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures');
const load = (file: string): HistoryFixture => JSON.parse(readFileSync(join(fixtures, file), 'utf8')) as HistoryFixture;

const RECORDED = ['order-approved.json', 'order-timed-out.json', 'retry-gave-up.json', 'fanout.json', 'mailbox.json'];

describe('recorded histories replay under the current definitions', () => {
  it.each([...RECORDED, ...RECORDED.map((f) => `engine-1/${f}`), 'crawl-retried.json'])('%s', (file) => {
    const fixture = load(file);
    const def = Object.values(sampleWorkflows).find(
      (w) => w.name === fixture.workflowType && w.version === fixture.version,
    );
    expect(def, `no sample workflow ${fixture.workflowType} v${fixture.version}`).toBeDefined();
    const state = replayHistory(def!, fixture);
    expect(state.lastSeq).toBe(fixture.commits.length);
    expect(state.status).not.toBe('running');
  });

  it('an incompatible change to order raises NondeterminismError naming the commit and event', () => {
    const fixture = load('engine-1/order-approved.json');
    let caught: unknown;
    try {
      replayHistory(changedOrderWorkflow, fixture);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(NondeterminismError);
    const err = caught as NondeterminismError;
    expect(err.message).toContain('run order-1-run-1');
    expect(err.message).toContain('commit 1');
    expect(err.message).toContain('event 1');
    expect(err.message).toContain('"activity":"chargeCard"');
    expect(err.message).toContain('"activity":"reserveStock"');
    expect(err.details).toMatchObject({ runId: 'order-1-run-1', seq: 1, index: 1 });
  });
});

describe('replayCommits', () => {
  async function orderHistory(): Promise<Commit[]> {
    const run = await createTestRun(orderWorkflow, {
      input: { orderId: 'o', amount: 1 },
      activities: { chargeCard: 'ok', shipOrder: 'shipped', sendEmail: 'sent' },
    });
    await run.signal({ type: 'nope' });
    await run.signal({ type: 'approve' });
    return [...run.history];
  }

  it('rebuilds the same state as the live run, also when resuming from a snapshot', async () => {
    const run = await createTestRun(orderWorkflow, {
      input: { orderId: 'o', amount: 1 },
      activities: { chargeCard: 'ok', shipOrder: 'shipped', sendEmail: 'sent' },
    });
    const mid = run.state;
    await run.signal({ type: 'approve' });
    expect(replayCommits(orderWorkflow, run.history)).toEqual(run.state);
    const resumed = foldCommits(orderWorkflow, run.history, { from: structuredClone(mid) });
    expect(resumed).toEqual(run.state);
    const fromJson = replayCommits(orderWorkflow, run.history, { from: JSON.parse(JSON.stringify(mid)) });
    expect(fromJson).toEqual(run.state);
  });

  it('flags a changed ignored marker', async () => {
    const history = await orderHistory();
    const tampered = structuredClone(history);
    delete (tampered[2]!.events[0] as { ignored?: string }).ignored;
    expect(() => replayCommits(orderWorkflow, tampered)).toThrow(
      /commit 3 .* event 0: expected \{"type":"SignalReceived"\}/,
    );
  });

  it('flags a missing or extra scheduling event', async () => {
    const history = await orderHistory();
    const missing = structuredClone(history);
    missing[3]!.events.splice(2, 1);
    expect(() => replayCommits(orderWorkflow, missing)).toThrow(NondeterminismError);
    const changedDelay = structuredClone(history);
    const timer = changedDelay[1]!.events.find((e) => e.type === 'TimerScheduled') as { delayMs: number };
    timer.delayMs = 1;
    expect(() => replayCommits(orderWorkflow, changedDelay)).toThrow(/"delayMs":1/);
  });

  it('refuses gaps, foreign commits and non-input first events', async () => {
    const history = await orderHistory();
    expect(() => replayCommits(orderWorkflow, [history[0]!, history[2]!])).toThrow(CorruptHistoryError);
    expect(() => replayCommits(orderWorkflow, [])).toThrow(/empty history/);
    const other = { ...history[1]!, runId: 'someone-else' };
    expect(() => replayCommits(orderWorkflow, [history[0]!, other])).toThrow(/expected commit 2 of run/);
    const bad = { ...history[1]!, events: history[1]!.events.slice(1) };
    expect(() => replayCommits(orderWorkflow, [history[0]!, bad])).toThrow(/must open with an input event/);
  });

  it('refuses a commit after the run closed', async () => {
    const run = await createTestRun(sequenceWorkflow, { activities: { stepA: 1, stepB: 2, stepC: 3 } });
    const extra: Commit = {
      runId: run.state.runId,
      workflowId: run.state.workflowId,
      seq: run.history.length + 1,
      events: [{ type: 'SignalReceived', at: 1, signal: { type: 'x' }, ignored: 'unhandled' }],
    };
    expect(() => replayCommits(sequenceWorkflow, [...run.history, extra])).toThrow(/follows the run's end/);
  });

  it('inputFromEvent inverts every input event', async () => {
    const history = await orderHistory();
    for (const commit of history) {
      const input = inputFromEvent(commit.events[0]!);
      expect(input.at).toBe(commit.events[0]!.at);
    }
    expect(() => inputFromEvent({ type: 'RunCompleted', at: 1 })).toThrow(CorruptHistoryError);
    expect(decide).toBeTypeOf('function');
  });
});
