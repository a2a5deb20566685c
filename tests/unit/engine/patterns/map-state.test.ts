import { describe, expect, it } from 'vitest';
import { assign, setup } from 'xstate';
import { activity, defineWorkflow, nonRetryable } from '../../../../shared/engine/index.js';
import { type BatchResult, type CompletionPolicy, mapState } from '../../../../shared/engine/patterns/index.js';
import { InvalidInputError } from '../../../../shared/errors.js';
import { createTestRun, type TestRun } from '../../../../shared/testing/index.js';

interface Ctx {
  urls: string[];
  pages: BatchResult<{ len: number }> | undefined;
}

function mapWorkflow(completion: CompletionPolicy = 'all', concurrency = 2) {
  return defineWorkflow({
    name: 'map-test',
    machine: setup({
      types: { context: {} as Ctx, input: {} as { urls: string[] } },
      actors: { fetch: activity<{ url: string }, { len: number }>() },
    }).createMachine({
      context: ({ input }) => ({ urls: input.urls, pages: undefined }),
      initial: 'fetching',
      states: {
        fetching: mapState({
          items: ({ context }) => context.urls,
          activity: 'fetch',
          input: ({ item }) => ({ url: item }),
          concurrency,
          completion,
          resultKey: 'pages',
          onDone: 'done',
          onFailed: 'failed',
        }),
        done: { type: 'final' },
        failed: { type: 'final' },
      },
      output: ({ context }) => context.pages,
    }),
  });
}

describe('mapState', () => {
  it('runs every item with at most `concurrency` at once and keeps results in item order', async () => {
    const urls = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
    const run = await createTestRun(mapWorkflow(), { input: { urls }, autoRun: false });
    let maxRunning = 0;
    while (run.status === 'running') {
      const pending = run.pendingActivities();
      maxRunning = Math.max(maxRunning, pending.length);
      // Finish the newest first, so results arrive out of item order.
      const last = pending.at(-1)!;
      await run.complete(last.activitySeq, { len: (last.input as { url: string }).url.length });
    }
    expect(maxRunning).toBe(2);
    expect(run.output).toEqual({
      status: 'succeeded',
      completionReason: 'ALL_COMPLETED',
      results: [{ len: 1 }, { len: 2 }, { len: 3 }, { len: 4 }, { len: 5 }],
      errors: [null, null, null, null, null],
      succeeded: [0, 1, 2, 3, 4],
      failed: [],
      cancelled: [],
      notStarted: [],
      counts: { total: 5, started: 5, succeeded: 5, failed: 0, running: 0, cancelled: 0, notStarted: 0 },
    });
    expect(run.replay()).toEqual(run.state);
  });

  /** Fails item i (by input url) or completes it with its length; in schedule order. */
  async function settleAll(run: TestRun, failing: ReadonlySet<string>, maxSteps = 100): Promise<void> {
    for (let n = 0; n < maxSteps && run.status === 'running'; n++) {
      const next = run.pendingActivities()[0];
      if (!next) return;
      const url = (next.input as { url: string }).url;
      if (failing.has(url)) await run.fail(next.activitySeq, nonRetryable(new Error(`no ${url}`)));
      else await run.complete(next.activitySeq, { len: url.length });
    }
  }

  it("'all' runs every item despite failures and ends failed with the errors in item order", async () => {
    const run = await createTestRun(mapWorkflow('all'), { input: { urls: ['a', 'x', 'ccc'] }, autoRun: false });
    await settleAll(run, new Set(['x']));
    expect(run.value).toBe('failed');
    const out = run.output as BatchResult<{ len: number }>;
    expect(out).toMatchObject({
      status: 'failed',
      completionReason: 'ALL_COMPLETED',
      results: [{ len: 1 }, null, { len: 3 }],
      succeeded: [0, 2],
      failed: [1],
      counts: { total: 3, succeeded: 2, failed: 1, cancelled: 0, notStarted: 0 },
    });
    expect(out.errors[1]).toMatchObject({ message: 'no x' });
    expect(run.replay()).toEqual(run.state);
  });

  it("'failFast' stops at the first failure: cancels running items and starts no more", async () => {
    const urls = ['a', 'x', 'ccc', 'dddd', 'eeeee'];
    const run = await createTestRun(mapWorkflow('failFast', 2), { input: { urls }, autoRun: false });
    await settleAll(run, new Set(['x']));
    expect(run.value).toBe('failed');
    expect(run.output).toMatchObject({
      status: 'failed',
      completionReason: 'FAILURE_TOLERANCE_EXCEEDED',
      results: [{ len: 1 }, null, null, null, null],
      counts: { total: 5, started: 3, succeeded: 1, failed: 1, running: 0, cancelled: 1, notStarted: 2 },
    });
    const types = run.history.at(-1)!.events.map((e) => e.type);
    expect(types).toEqual(['ActivityFailed', 'ActivityCancelled', 'RunCompleted']);
    expect(run.pendingActivities()).toEqual([]);
    expect(run.replay()).toEqual(run.state);
  });

  it('{ minSuccessful } ends as soon as n succeed, or as soon as n can no longer succeed', async () => {
    const urls = ['a', 'bb', 'ccc', 'dddd'];
    const reached = await createTestRun(mapWorkflow({ minSuccessful: 2 }, 2), { input: { urls }, autoRun: false });
    await settleAll(reached, new Set());
    expect(reached.value).toBe('done');
    expect(reached.output).toMatchObject({
      status: 'succeeded',
      completionReason: 'MIN_SUCCESSFUL_REACHED',
      succeeded: [0, 1],
      counts: { started: 3, succeeded: 2, cancelled: 1, notStarted: 1 },
    });

    const missed = await createTestRun(mapWorkflow({ minSuccessful: 3 }, 4), { input: { urls }, autoRun: false });
    await settleAll(missed, new Set(['a', 'bb']));
    expect(missed.value).toBe('failed');
    expect(missed.output).toMatchObject({
      status: 'failed',
      completionReason: 'FAILURE_TOLERANCE_EXCEEDED',
      failed: [0, 1],
      counts: { started: 4, failed: 2, cancelled: 2 },
    });
    expect(missed.replay()).toEqual(missed.state);
  });

  it('an empty list completes at once under every policy but an unreachable minimum', async () => {
    for (const completion of ['all', 'failFast', { minSuccessful: 0 }] as const) {
      const run = await createTestRun(mapWorkflow(completion), { input: { urls: [] } });
      expect(run.value).toBe('done');
      expect(run.output).toMatchObject({ status: 'succeeded', results: [], counts: { total: 0 } });
    }
    const run = await createTestRun(mapWorkflow({ minSuccessful: 1 }), { input: { urls: [] } });
    expect(run.value).toBe('failed');
  });

  it('leaving the map early (a cancel) cancels the items still running', async () => {
    const run = await createTestRun(mapWorkflow('all', 3), { input: { urls: ['a', 'b', 'c', 'd'] }, autoRun: false });
    await run.complete('fetch', { len: 1 });
    await run.cancel('enough');
    expect(run.status).toBe('cancelled');
    expect(run.pendingActivities()).toEqual([]);
    expect(run.history.at(-1)!.events.filter((e) => e.type === 'ActivityCancelled')).toHaveLength(3);
  });

  it('runs a 100-item map with retries through stubs and replays it', async () => {
    const urls = Array.from({ length: 100 }, (_, i) => 'u'.repeat(i + 1));
    const run = await createTestRun(mapWorkflow('all', 5), {
      input: { urls },
      activities: {
        fetch: ({ url }: { url: string }, attempt: number) =>
          attempt === 1 && url.length % 7 === 0 ? new Error('flaky') : { len: url.length },
      },
    });
    await run.runToEnd();
    const out = run.output as BatchResult<{ len: number }>;
    expect(out.status).toBe('succeeded');
    expect(out.results.map((r) => r?.len)).toEqual(urls.map((u) => u.length));
    expect(run.replay()).toEqual(run.state);
  });

  it('refuses malformed options when the machine is built, and a list that changes length at run time', async () => {
    const base = { items: () => [1], activity: 'fetch', resultKey: 'pages', onDone: 'done' } as const;
    expect(() => mapState({ ...base, concurrency: 0 } as never)).toThrow(InvalidInputError);
    expect(() => mapState({ ...base, completion: { minSuccessful: -1 } } as never)).toThrow(/completion must be/);
    expect(() => mapState({ ...base, id: 'a.b' } as never)).toThrow(/id "a.b"/);
    expect(() => mapState({ ...base, items: [1] } as never)).toThrow(/items must be a function/);

    const shrinking = defineWorkflow({
      name: 'map-shrink',
      machine: setup({
        types: { context: {} as Ctx },
        actors: { fetch: activity<{ url: string }, { len: number }>() },
      }).createMachine({
        context: { urls: ['a', 'b', 'c'], pages: undefined },
        on: { shrink: { actions: assign({ urls: ['a'] }) } },
        initial: 'fetching',
        states: {
          fetching: mapState({
            items: ({ context }) => context.urls,
            activity: 'fetch',
            input: ({ item }) => ({ url: item }),
            concurrency: 1,
            resultKey: 'pages',
            onDone: 'done',
          }),
          done: { type: 'final' },
        },
      }),
    });
    const run = await createTestRun(shrinking, { autoRun: false });
    await run.signal({ type: 'shrink' });
    await run.complete('fetch', { len: 1 });
    expect(run.status).toBe('failed');
    expect(run.error?.message).toMatch(/changed length/);
  });

  it('types: the activity must be an actor of the machine and resultKey a field that holds its BatchResult', () => {
    const m = setup({
      types: { context: {} as { urls: string[]; pages: BatchResult<number> | undefined; n: number } },
      actors: { fetch: activity<string, number>() },
    }).createMachine({
      context: { urls: [], pages: undefined, n: 0 },
      initial: 'ok',
      states: {
        ok: mapState({ items: ({ context }) => context.urls, activity: 'fetch', resultKey: 'pages', onDone: 'end' }),
        // @ts-expect-error n cannot hold a BatchResult
        badKey: mapState({ items: ({ context }) => context.urls, activity: 'fetch', resultKey: 'n', onDone: 'end' }),
        // @ts-expect-error nope is not an actor of the machine
        badSrc: mapState({ items: ({ context }) => context.urls, activity: 'nope', resultKey: 'pages', onDone: 'end' }),
        end: { type: 'final' },
      },
    });
    expect(Object.keys(m.root.states)).toContain('ok');
  });

  it('two maps in parallel regions keep their items and results apart', async () => {
    const twoMaps = defineWorkflow({
      name: 'two-maps',
      machine: setup({
        types: {
          context: {} as {
            xs: number[];
            ys: number[];
            a: BatchResult<number> | undefined;
            b: BatchResult<number> | undefined;
          },
        },
        actors: { double: activity<number, number>(), negate: activity<number, number>() },
      }).createMachine({
        context: { xs: [1, 2, 3], ys: [10, 20], a: undefined, b: undefined },
        type: 'parallel',
        states: {
          left: {
            initial: 'mapping',
            states: {
              mapping: mapState({
                items: ({ context }) => context.xs,
                activity: 'double',
                concurrency: 1,
                resultKey: 'a',
                onDone: 'done',
              }),
              done: { type: 'final' },
            },
          },
          right: {
            initial: 'mapping',
            states: {
              mapping: mapState({
                items: ({ context }) => context.ys,
                activity: 'negate',
                resultKey: 'b',
                onDone: 'done',
              }),
              done: { type: 'final' },
            },
          },
        },
        output: ({ context }) => [context.a?.results, context.b?.results],
      }),
    });
    const run = await createTestRun(twoMaps, {
      activities: { double: (n: number) => n * 2, negate: (n: number) => -n },
    });
    expect(run.output).toEqual([
      [2, 4, 6],
      [-10, -20],
    ]);
    expect(run.replay()).toEqual(run.state);
  });
});
