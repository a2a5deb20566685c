/** Completion policies (AWS's completionConfig and names) and parallelState over mixed branches. */
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { activity, childWorkflow, defineWorkflow, nonRetryable } from '../../../../shared/engine/index.js';
import { validateCompletion } from '../../../../shared/engine/patterns/batch.js';
import {
  type BatchResult,
  type CompletionPolicy,
  completionVerdict,
  parallelState,
} from '../../../../shared/engine/patterns/index.js';
import { InvalidInputError } from '../../../../shared/errors.js';
import { createTestRun } from '../../../../shared/testing/index.js';

describe('completionVerdict', () => {
  const at = (policy: CompletionPolicy, total: number, succeeded: number, failed: number) =>
    completionVerdict(validateCompletion(policy, 't'), { total, succeeded, failed });

  it.each([
    // policy, total, succeeded, failed, verdict
    ['all', 3, 2, 0, undefined],
    ['all', 3, 2, 1, { status: 'failed', reason: 'ALL_COMPLETED' }],
    ['all', 0, 0, 0, { status: 'succeeded', reason: 'ALL_COMPLETED' }],
    ['failFast', 5, 0, 1, { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' }],
    ['allSuccessful', 2, 2, 0, { status: 'succeeded', reason: 'ALL_COMPLETED' }],
    ['firstSuccessful', 4, 1, 2, { status: 'succeeded', reason: 'MIN_SUCCESSFUL_REACHED' }],
    ['firstSuccessful', 3, 0, 2, undefined],
    ['firstSuccessful', 3, 0, 3, { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' }],
    [{ toleratedFailureCount: 2 }, 5, 1, 2, undefined],
    [{ toleratedFailureCount: 2 }, 5, 3, 2, { status: 'succeeded', reason: 'ALL_COMPLETED' }],
    [{ toleratedFailureCount: 2 }, 5, 0, 3, { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' }],
    [{ toleratedFailurePercentage: 50 }, 4, 0, 2, undefined],
    [{ toleratedFailurePercentage: 50 }, 5, 0, 3, { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' }],
    [{ toleratedFailurePercentage: 0 }, 4, 3, 1, { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' }],
    // Tolerance is checked first, as in AWS's SDK: the failure that breaks it decides even at the minimum.
    [
      { minSuccessful: 2, toleratedFailureCount: 0 },
      4,
      2,
      1,
      { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' },
    ],
    [{ minSuccessful: 3 }, 4, 1, 2, { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' }],
    [{ minSuccessful: 5 }, 3, 0, 0, { status: 'failed', reason: 'FAILURE_TOLERANCE_EXCEEDED' }],
    [{ minSuccessful: 0 }, 3, 0, 0, { status: 'succeeded', reason: 'MIN_SUCCESSFUL_REACHED' }],
  ] as const)('%j with %i items, %i succeeded, %i failed', (policy, total, ok, ko, verdict) => {
    expect(at(policy, total, ok, ko)).toEqual(verdict);
  });

  it('refuses a malformed policy, naming what is wrong', () => {
    const bad = (p: unknown) => () => validateCompletion(p, 'mapState pages');
    expect(bad('some')).toThrow(InvalidInputError);
    expect(bad({ minSuccessful: 1.5 })).toThrow(/minSuccessful must be a non-negative integer/);
    expect(bad({ toleratedFailureCount: -1 })).toThrow(/toleratedFailureCount must be a non-negative integer/);
    expect(bad({ toleratedFailurePercentage: 101 })).toThrow(
      /toleratedFailurePercentage must be a number from 0 to 100/,
    );
    expect(bad({ minSucessful: 1 })).toThrow(/unknown field "minSucessful"/);
    expect(bad(null)).toThrow(/mapState pages: completion must be/);
  });
});

interface Quote {
  carrier: string;
  cents: number;
}
interface Ctx {
  quotes: BatchResult<Quote> | undefined;
}

/** Asks three carriers for a quote (two activities and a child run), the first answer wins. */
function quoteWorkflow(completion: CompletionPolicy, concurrency?: number) {
  return defineWorkflow({
    name: 'quotes',
    machine: setup({
      types: { context: {} as Ctx, input: {} as { kg: number } },
      actors: {
        askUps: activity<{ kg: number }, Quote>(),
        askDhl: activity<{ kg: number }, Quote>(),
        askBroker: childWorkflow<{ kg: number }, Quote>({ workflowType: 'broker' }),
      },
    }).createMachine({
      context: { quotes: undefined },
      initial: 'asking',
      states: {
        asking: parallelState({
          branches: [
            { activity: 'askUps', input: () => ({ kg: 2 }) },
            { activity: 'askDhl', input: () => ({ kg: 2 }) },
            { workflow: 'askBroker', input: () => ({ kg: 2 }) },
          ],
          completion,
          ...(concurrency ? { concurrency } : {}),
          resultKey: 'quotes',
          onDone: 'quoted',
          onFailed: 'noQuote',
        }),
        quoted: { type: 'final' },
        noQuote: { type: 'final' },
      },
      output: ({ context }) => context.quotes,
    }),
  });
}

describe('parallelState', () => {
  it("'firstSuccessful': the first branch to succeed ends it, the others are cancelled", async () => {
    const run = await createTestRun(quoteWorkflow('firstSuccessful'), { input: { kg: 2 }, autoRun: false });
    expect(run.pendingActivities().map((a) => a.activity)).toEqual(['askUps', 'askDhl']);
    expect(run.pendingChildren()).toHaveLength(1);
    await run.fail('askUps', nonRetryable(new Error('ups down')));
    await run.complete('askDhl', { carrier: 'dhl', cents: 900 });
    expect(run.value).toBe('quoted');
    expect(run.output).toMatchObject({
      status: 'succeeded',
      completionReason: 'MIN_SUCCESSFUL_REACHED',
      results: [null, { carrier: 'dhl', cents: 900 }, null],
      succeeded: [1],
      failed: [0],
      cancelled: [2],
      notStarted: [],
    });
    expect(run.pendingActivities()).toEqual([]);
    expect(run.pendingChildren()).toEqual([]);
    const closing = run.history.at(-1)!.events.map((e) => e.type);
    expect(closing).toEqual(['ActivityCompleted', 'ChildDetached', 'RunCompleted']);
    expect(run.replay()).toEqual(run.state);
  });

  it('runs at most `concurrency` branches and never starts the rest once the policy decided', async () => {
    const run = await createTestRun(quoteWorkflow({ toleratedFailureCount: 0 }, 1), {
      input: { kg: 2 },
      autoRun: false,
    });
    expect(run.pendingActivities().map((a) => a.activity)).toEqual(['askUps']);
    await run.complete('askUps', { carrier: 'ups', cents: 700 });
    expect(run.pendingActivities().map((a) => a.activity)).toEqual(['askDhl']);
    await run.fail('askDhl', nonRetryable(new Error('dhl down')));
    expect(run.value).toBe('noQuote');
    expect(run.output).toMatchObject({
      status: 'failed',
      completionReason: 'FAILURE_TOLERANCE_EXCEEDED',
      succeeded: [0],
      failed: [1],
      cancelled: [],
      notStarted: [2],
      counts: { total: 3, started: 2, notStarted: 1 },
    });
    expect(run.pendingChildren()).toEqual([]);
    expect(run.replay()).toEqual(run.state);
  });

  it('with stubs, runs to the end as the router would', async () => {
    const run = await createTestRun(quoteWorkflow({ toleratedFailurePercentage: 40 }), {
      input: { kg: 2 },
      activities: { askUps: nonRetryable(new Error('no')), askDhl: { carrier: 'dhl', cents: 1 } },
      children: { broker: ({ kg }: { kg: number }) => ({ carrier: 'broker', cents: kg * 100 }) },
    });
    await run.runToEnd();
    expect(run.output).toMatchObject({ status: 'succeeded', completionReason: 'ALL_COMPLETED', failed: [0] });
  });

  it('refuses malformed branches when the machine is built', () => {
    const base = { resultKey: 'quotes', onDone: 'done' } as const;
    expect(() => parallelState({ ...base, branches: [] } as never)).toThrow(/branches must be a non-empty array/);
    expect(() => parallelState({ ...base, branches: [{}] } as never)).toThrow(/branch 0 needs activity or workflow/);
    expect(() => parallelState({ ...base, branches: [{ activity: 'a', workflow: 'b' }] } as never)).toThrow(
      /branch 0 gives activity and workflow/,
    );
    expect(() => parallelState({ ...base, branches: [{ activity: 'a', input: 1 }] } as never)).toThrow(
      /branch 0 input must be a function/,
    );
    expect(() => parallelState({ ...base, branches: [{ activity: 'a' }], completion: 'most' } as never)).toThrow(
      /parallelState quotes: completion must be/,
    );
  });
});

describe('parallelState types', () => {
  it("checks each branch's src and input against the machine's actors", () => {
    const m = setup({
      types: { context: {} as { r: BatchResult<{ n: number }> | undefined } },
      actors: { a: activity<{ kg: number }, { n: number }>(), b: activity<{ name: string }, { n: number }>() },
    }).createMachine({
      context: { r: undefined },
      initial: 'ok',
      states: {
        ok: parallelState({
          branches: [
            { activity: 'a', input: () => ({ kg: 1 }) },
            { activity: 'b', input: () => ({ name: 'x' }) },
          ],
          resultKey: 'r',
          onDone: 'end',
        }),
        badInput: parallelState({
          // @ts-expect-error branch a's input is { kg: number }
          branches: [{ activity: 'a', input: () => ({ kg: 'x' }) }],
          resultKey: 'r',
          onDone: 'end',
        }),
        // @ts-expect-error c is not one of the machine's actors
        badSrc: parallelState({ branches: [{ activity: 'c' }], resultKey: 'r', onDone: 'end' }),
        end: { type: 'final' },
      },
    });
    expect(Object.keys(m.root.states)).toContain('ok');
  });
});
