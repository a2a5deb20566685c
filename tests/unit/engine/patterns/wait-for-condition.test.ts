import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { activity, defineWorkflow, nonRetryable } from '../../../../shared/engine/index.js';
import { pollIntervalMs, type WaitResult, waitForCondition } from '../../../../shared/engine/patterns/index.js';
import { InvalidInputError } from '../../../../shared/errors.js';
import { createTestRun } from '../../../../shared/testing/index.js';

interface Status {
  ready: boolean;
}
interface Ctx {
  jobId: string;
  status: WaitResult<Status> | undefined;
}

function waitWorkflow(extra: { onError?: string } = {}) {
  return defineWorkflow({
    name: 'wait-test',
    machine: setup({
      types: { context: {} as Ctx },
      actors: { checkStatus: activity<{ jobId: string; check: number }, Status>() },
    }).createMachine({
      context: { jobId: 'job-1', status: undefined },
      initial: 'waiting',
      states: {
        waiting: waitForCondition({
          activity: 'checkStatus',
          input: ({ context, checks }) => ({ jobId: context.jobId, check: checks + 1 }),
          until: (output) => output.ready,
          initialIntervalMs: 100,
          backoffCoefficient: 2,
          maxIntervalMs: 300,
          deadlineMs: 1000,
          resultKey: 'status',
          onDone: 'ready',
          onTimeout: 'timedOut',
          ...extra,
        }),
        ready: { type: 'final' },
        timedOut: { type: 'final' },
        broken: { type: 'final' },
      },
      output: ({ context }) => context.status,
    }),
  });
}

const checkTimes = (run: { history: readonly { events: readonly { type: string; at: number }[] }[] }) =>
  run.history
    .flatMap((c) => c.events)
    .filter((e) => e.type === 'ActivityScheduled')
    .map((e) => e.at);

describe('waitForCondition', () => {
  it('backs off exponentially up to the cap: 100, 200, 300, 300 ms', () => {
    const b = { initialIntervalMs: 100, backoffCoefficient: 2, maxIntervalMs: 300 };
    expect([1, 2, 3, 4].map((n) => pollIntervalMs(n, b))).toEqual([100, 200, 300, 300]);
  });

  it('polls with backoff until the predicate holds, then leaves for onDone', async () => {
    const run = await createTestRun(waitWorkflow(), {
      activities: { checkStatus: ({ check }: { check: number }) => ({ ready: check === 4 }) },
    });
    await run.runToEnd();
    expect(run.value).toBe('ready');
    expect(run.output).toEqual({ status: 'satisfied', checks: 4, output: { ready: true }, error: null });
    expect(checkTimes(run)).toEqual([0, 100, 300, 600]);
    expect(run.pendingTimers()).toEqual([]);
    expect(run.replay()).toEqual(run.state);
  });

  it('reaches its deadline: leaves for onTimeout and cancels the sleep timer', async () => {
    const run = await createTestRun(waitWorkflow(), { activities: { checkStatus: { ready: false } } });
    await run.runToEnd();
    expect(run.value).toBe('timedOut');
    expect(run.now).toBe(1000);
    // Checks at 0, 100, 300, 600, 900; the next sleep (300 ms) would end after the deadline.
    expect(checkTimes(run)).toEqual([0, 100, 300, 600, 900]);
    expect(run.output).toEqual({ status: 'timedOut', checks: 5, output: { ready: false }, error: null });
    expect(run.history.at(-1)!.events.map((e) => e.type)).toEqual(['TimerFired', 'TimerCancelled', 'RunCompleted']);
    expect(run.replay()).toEqual(run.state);
  });

  it('a deadline that passes while a check runs cancels the check', async () => {
    const run = await createTestRun(waitWorkflow(), { autoRun: false });
    await run.advanceTo(1000);
    expect(run.value).toBe('timedOut');
    expect(run.output).toMatchObject({ status: 'timedOut', checks: 0 });
    expect(run.history.at(-1)!.events.map((e) => e.type)).toContain('ActivityCancelled');
  });

  it('a failed check keeps polling by default, or leaves for onError', async () => {
    let calls = 0;
    const flaky = () => (++calls === 1 ? nonRetryable(new Error('503')) : { ready: true });
    const polling = await createTestRun(waitWorkflow(), { activities: { checkStatus: flaky } });
    await polling.runToEnd();
    expect(polling.value).toBe('ready');
    expect(polling.output).toMatchObject({ status: 'satisfied', checks: 2, error: null });

    const failing = await createTestRun(waitWorkflow({ onError: 'broken' }), {
      activities: { checkStatus: new Error('gone') },
    });
    expect(failing.value).toBe('broken');
    expect(failing.output).toMatchObject({ status: 'failed', checks: 1, error: { message: 'gone' } });
    expect(failing.pendingTimers()).toEqual([]);
  });

  it('refuses malformed options', () => {
    const base = {
      activity: 'checkStatus',
      until: () => true,
      deadlineMs: 10,
      resultKey: 'status',
      onDone: 'a',
      onTimeout: 'b',
    } as const;
    expect(() => waitForCondition({ ...base, deadlineMs: 0 } as never)).toThrow(InvalidInputError);
    expect(() => waitForCondition({ ...base, backoffCoefficient: 0.5 } as never)).toThrow(/backoffCoefficient/);
    expect(() => waitForCondition({ ...base, maxIntervalMs: 10, initialIntervalMs: 20 } as never)).toThrow(
      /maxIntervalMs/,
    );
    expect(() => waitForCondition({ ...base, until: true } as never)).toThrow(/until must be a predicate/);
  });

  it('types: until sees the activity output, and resultKey must hold its WaitResult', () => {
    const common = { deadlineMs: 10, onDone: 'end', onTimeout: 'end' } as const;
    const m = setup({
      types: { context: {} as { job: WaitResult<Status> | undefined; n: number } },
      actors: { checkStatus: activity<void, Status>() },
    }).createMachine({
      context: { job: undefined, n: 0 },
      initial: 'ok',
      states: {
        ok: waitForCondition({ ...common, activity: 'checkStatus', until: (s) => s.ready, resultKey: 'job' }),
        // @ts-expect-error n cannot hold a WaitResult
        badKey: waitForCondition({ ...common, activity: 'checkStatus', until: (s) => s.ready, resultKey: 'n' }),
        // @ts-expect-error the output has no field done
        badField: waitForCondition({ ...common, activity: 'checkStatus', until: (s) => s.done, resultKey: 'job' }),
        end: { type: 'final' },
      },
    });
    expect(Object.keys(m.root.states)).toContain('ok');
  });
});

interface Crawl {
  cursor: number;
  done: boolean;
}

/** A check whose output (a cursor) is the next check's input, under a strategy of growing delays. */
function strategyWorkflow(extra: { onError?: string; deadlineMs?: number; onTimeout?: string } = {}) {
  return defineWorkflow({
    name: 'wait-strategy',
    machine: setup({
      types: { context: {} as { crawl: WaitResult<Crawl> | undefined } },
      actors: { crawlPage: activity<Crawl, Crawl>() },
    }).createMachine({
      context: { crawl: undefined },
      initial: 'crawling',
      states: {
        crawling: waitForCondition({
          activity: 'crawlPage',
          initialState: { cursor: 0, done: false },
          strategy: (state, { checks, error }) =>
            state.done || (error !== null && checks >= 3)
              ? { shouldContinue: false }
              : { shouldContinue: true, delayMs: 100 * checks },
          resultKey: 'crawl',
          onDone: 'finished',
          ...extra,
        }),
        finished: { type: 'final' },
        broken: { type: 'final' },
        late: { type: 'final' },
      },
      output: ({ context }) => context.crawl,
    }),
  });
}

describe('waitForCondition with a strategy', () => {
  it('threads each check output into the next input and sleeps the delays the strategy returns', async () => {
    const inputs: Crawl[] = [];
    const run = await createTestRun(strategyWorkflow(), {
      activities: {
        crawlPage: (state: Crawl) => {
          inputs.push(state);
          return { cursor: state.cursor + 10, done: state.cursor + 10 >= 30 };
        },
      },
    });
    await run.runToEnd();
    expect(run.value).toBe('finished');
    expect(inputs).toEqual([
      { cursor: 0, done: false },
      { cursor: 10, done: false },
      { cursor: 20, done: false },
    ]);
    expect(checkTimes(run)).toEqual([0, 100, 300]);
    expect(run.output).toEqual({ status: 'satisfied', checks: 3, output: { cursor: 30, done: true }, error: null });
    expect(run.replay()).toEqual(run.state);
  });

  it('a failed check keeps the state; the strategy may give up, or onError takes it', async () => {
    let calls = 0;
    const run = await createTestRun(strategyWorkflow(), {
      activities: {
        crawlPage: (state: Crawl) =>
          ++calls === 1 ? { cursor: state.cursor + 5, done: false } : nonRetryable(new Error('blocked')),
      },
    });
    await run.runToEnd();
    expect(run.value).toBe('finished');
    expect(run.output).toMatchObject({
      status: 'failed',
      checks: 3,
      output: { cursor: 5 },
      error: { message: 'blocked' },
    });
    const scheduled = run.history.flatMap((c) => c.events).filter((e) => e.type === 'ActivityScheduled');
    expect(scheduled.map((e) => (e as { input?: unknown }).input)).toEqual([
      { cursor: 0, done: false },
      { cursor: 5, done: false },
      { cursor: 5, done: false },
    ]);

    const failing = await createTestRun(strategyWorkflow({ onError: 'broken' }), {
      activities: { crawlPage: nonRetryable(new Error('gone')) },
    });
    expect(failing.value).toBe('broken');
    expect(failing.output).toMatchObject({ status: 'failed', checks: 1, output: { cursor: 0 } });
  });

  it('an optional deadline still bounds it', async () => {
    const run = await createTestRun(strategyWorkflow({ deadlineMs: 250, onTimeout: 'late' }), {
      activities: { crawlPage: (s: Crawl) => ({ cursor: s.cursor + 1, done: false }) },
    });
    await run.runToEnd();
    expect(run.value).toBe('late');
    expect(run.output).toMatchObject({ status: 'timedOut', checks: 2 });
    expect(run.replay()).toEqual(run.state);
  });

  it('a strategy returning something else fails the run with a ConfigError naming the wait', async () => {
    const bad = defineWorkflow({
      name: 'wait-bad-strategy',
      machine: setup({ actors: { probe: activity<unknown, number>() } }).createMachine({
        context: { w: undefined as WaitResult<number> | undefined },
        initial: 'w',
        states: {
          w: waitForCondition({
            activity: 'probe',
            strategy: () => ({ shouldContinue: true, delayMs: -1 }),
            resultKey: 'w',
            onDone: 'end',
          }),
          end: { type: 'final' },
        },
      }),
    });
    const run = await createTestRun(bad, { activities: { probe: 1 } });
    expect(run.status).toBe('failed');
    expect(run.state.error?.message).toMatch(/waitForCondition w: strategy must return/);
  });

  it('refuses malformed strategy options', () => {
    const base = { activity: 'probe', resultKey: 'w', onDone: 'end' } as const;
    const strategy = () => ({ shouldContinue: false }) as const;
    expect(() => waitForCondition({ ...base } as never)).toThrow(/give until .* or strategy/);
    expect(() => waitForCondition({ ...base, strategy, until: () => true } as never)).toThrow(/not both/);
    expect(() => waitForCondition({ ...base, strategy, maxIntervalMs: 5 } as never)).toThrow(
      /maxIntervalMs goes with until/,
    );
    expect(() => waitForCondition({ ...base, strategy, deadlineMs: 5 } as never)).toThrow(/onTimeout must be a target/);
  });
});
