/** Run and execution timeouts in the pure core: the durable timer, the failure, cancel on close, continue-as-new, replay. */
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { startBody } from '../../../shared/client/bodies.js';
import { continueAsNew, decide, defineWorkflow, replayCommits } from '../../../shared/engine/index.js';
import { RUN_TIMEOUT_SEND_ID, validateRunTiming } from '../../../shared/engine/run-timeouts.js';
import type { HistoryEvent } from '../../../shared/history/events.js';
import { createTestRun } from '../../../shared/testing/index.js';

/** Waits for `finish`; `again` continues as new. */
const waits = defineWorkflow({
  name: 'waits',
  machine: setup({}).createMachine({
    initial: 'waiting',
    states: {
      waiting: { on: { finish: 'done', again: 'continuing' } },
      continuing: { entry: continueAsNew(() => ({})) },
      done: { type: 'final' },
    },
  }),
});

const all = (history: readonly { events: HistoryEvent[] }[]) => history.flatMap((c) => c.events);

describe('run timeouts', () => {
  it('a run still open at its run timeout fails with TIMEOUT (timeoutType run); replay agrees', async () => {
    const run = await createTestRun(waits, { runTimeoutMs: 5_000, start: 1_000 });
    expect(all(run.history)).toContainEqual(
      expect.objectContaining({ type: 'TimerScheduled', sendId: RUN_TIMEOUT_SEND_ID, fireAt: 6_000 }),
    );
    expect(run.history[0]!.events[0]).toMatchObject({ type: 'RunStarted', runTimeoutMs: 5_000 });
    await run.skipToNextTimer();
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({
      name: 'TimeoutError',
      code: 'TIMEOUT',
      retryable: false,
      details: { timeoutType: 'run', deadline: 6_000 },
    });
    expect(run.error?.message).toContain('timed out: its run timeout (5000 ms');
    expect(replayCommits(run.definition, run.history)).toEqual(run.state);
  });

  it('the earlier deadline wins: an execution timeout shorter than the run timeout', async () => {
    const run = await createTestRun(waits, { runTimeoutMs: 60_000, executionTimeoutMs: 2_000 });
    expect(run.history[0]!.events[0]).toMatchObject({ executionDeadline: 2_000 });
    await run.skipToNextTimer();
    expect(run.error).toMatchObject({ code: 'TIMEOUT', details: { timeoutType: 'execution', deadline: 2_000 } });
  });

  it('a run that closes first cancels its timeout timer', async () => {
    const run = await createTestRun(waits, { runTimeoutMs: 5_000 });
    await run.signal({ type: 'finish' });
    expect(run.status).toBe('completed');
    const seq = all(run.history).find((e) => e.type === 'TimerScheduled')!;
    expect(run.history.at(-1)!.events).toContainEqual(
      expect.objectContaining({ type: 'TimerCancelled', timerSeq: (seq as { timerSeq: number }).timerSeq }),
    );
    expect(await run.skipToNextTimer()).toBe(false);
  });

  it('continue-as-new hands the run timeout, the execution deadline and the retention to the next run', () => {
    const first = decide(waits, undefined, {
      kind: 'start',
      at: 100,
      workflowId: 'w',
      runId: 'r1',
      runTimeoutMs: 1_000,
      executionTimeoutMs: 10_000,
      retentionMs: 60_000,
    });
    const next = decide(waits, first.state, { kind: 'signal', at: 500, event: { type: 'again' } });
    expect(next.commands.find((c) => c.kind === 'continueAsNew')).toMatchObject({
      runTimeoutMs: 1_000,
      executionDeadline: 10_100,
      retentionMs: 60_000,
    });
    const second = decide(waits, undefined, {
      kind: 'start',
      at: 600,
      workflowId: 'w',
      runId: 'r2',
      runTimeoutMs: 1_000,
      executionDeadline: 10_100,
      executionTimeoutMs: 5, // a continued run keeps the chain's deadline
    });
    expect(second.events).toContainEqual(expect.objectContaining({ type: 'TimerScheduled', fireAt: 1_600 }));
    expect(second.state).toMatchObject({ executionDeadline: 10_100, runTimeout: { timeoutType: 'run' } });
  });

  it('refuses a timeout or retention that is not a positive whole number of milliseconds, naming it', () => {
    expect(validateRunTiming({ runTimeoutMs: 10, retentionMs: 5 }, 'start')).toEqual({
      runTimeoutMs: 10,
      retentionMs: 5,
    });
    expect(() => validateRunTiming({ runTimeoutMs: 0 }, 'start')).toThrow(/start.runTimeoutMs must be a whole number/);
    expect(() => startBody('w', undefined, { executionTimeoutMs: 1.5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', message: expect.stringContaining('start.executionTimeoutMs') }),
    );
    expect(() => startBody('w', undefined, { retentionMs: '7d' as unknown as number })).toThrow(/retentionMs/);
    expect(() =>
      decide(waits, undefined, { kind: 'start', at: 0, workflowId: 'w', runId: 'r', runTimeoutMs: -1 }),
    ).toThrow(/start input.runTimeoutMs/);
  });
});
