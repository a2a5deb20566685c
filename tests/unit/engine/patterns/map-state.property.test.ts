/**
 * mapState under random result orders, failures, concurrency limits and policies: the limit always
 * holds, results land at their item's index, the counts add up, the policy decides as documented,
 * and replaying the recorded history rebuilds the same state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { activity, defineWorkflow, nonRetryable } from '../../../../shared/engine/index.js';
import {
  type BatchResult,
  type CompletionConfig,
  type CompletionPolicy,
  mapState,
} from '../../../../shared/engine/patterns/index.js';
import { createTestRun } from '../../../../shared/testing/index.js';

function workflow(completion: CompletionPolicy, concurrency: number) {
  return defineWorkflow({
    name: 'map-property',
    machine: setup({
      types: { context: {} as { items: number[]; out: BatchResult<number> | undefined }, input: {} as number[] },
      actors: { double: activity<number, number>() },
    }).createMachine({
      context: ({ input }) => ({ items: input, out: undefined }),
      initial: 'mapping',
      states: {
        mapping: mapState({
          items: ({ context }) => context.items,
          activity: 'double',
          concurrency,
          completion,
          resultKey: 'out',
          onDone: 'done',
        }),
        done: { type: 'final' },
      },
      output: ({ context }) => context.out,
    }),
  });
}

const policy: fc.Arbitrary<CompletionPolicy> = fc.oneof(
  fc.constantFrom('all' as const, 'failFast' as const, 'allSuccessful' as const, 'firstSuccessful' as const),
  fc.record(
    {
      minSuccessful: fc.nat({ max: 12 }),
      toleratedFailureCount: fc.nat({ max: 6 }),
      toleratedFailurePercentage: fc.integer({ min: 0, max: 100 }),
    },
    { requiredKeys: [] },
  ),
);

/** The thresholds a policy stands for (validateCompletion's reduction, written out again). */
function thresholds(p: CompletionPolicy): CompletionConfig {
  if (p === 'failFast' || p === 'allSuccessful') return { toleratedFailureCount: 0 };
  if (p === 'firstSuccessful') return { minSuccessful: 1 };
  return p === 'all' ? {} : p;
}

function exceeds(t: CompletionConfig, failed: number, total: number): boolean {
  const byCount = t.toleratedFailureCount !== undefined && failed > t.toleratedFailureCount;
  const byShare =
    t.toleratedFailurePercentage !== undefined && total > 0 && failed * 100 > t.toleratedFailurePercentage * total;
  return byCount || byShare;
}

describe('mapState (property)', () => {
  it('holds the limit, orders results and applies the policy under any interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 12 }),
        fc.integer({ min: 1, max: 6 }),
        policy,
        fc.array(fc.record({ pick: fc.nat(), fail: fc.boolean() }), { minLength: 40, maxLength: 40 }),
        async (total, concurrency, completion, moves) => {
          const items = Array.from({ length: total }, (_, i) => i * 3);
          const run = await createTestRun(workflow(completion, concurrency), { input: items, autoRun: false });
          for (const move of moves) {
            const pending = run.pendingActivities();
            expect(pending.length).toBeLessThanOrEqual(concurrency);
            if (run.status !== 'running' || pending.length === 0) break;
            const a = pending[move.pick % pending.length]!;
            const item = a.input as number;
            if (move.fail) await run.fail(a.activitySeq, nonRetryable(new Error(`item ${item}`)));
            else await run.complete(a.activitySeq, item * 2);
          }
          if (run.status === 'running') return; // ran out of moves: checked the limit on the way
          const out = run.output as BatchResult<number>;
          const { counts } = out;
          expect(counts.total).toBe(total);
          expect(counts.started).toBe(counts.succeeded + counts.failed + counts.cancelled);
          expect(counts.total).toBe(counts.started + counts.notStarted);
          expect(counts.running).toBe(0);
          for (const i of out.succeeded) expect(out.results[i]).toBe(items[i]! * 2);
          for (const i of out.failed) expect(out.errors[i]).toMatchObject({ message: `item ${items[i]}` });
          expect(new Set([...out.succeeded, ...out.failed]).size).toBe(counts.succeeded + counts.failed);
          expect(out.cancelled).toHaveLength(counts.cancelled);
          expect(out.notStarted).toHaveLength(counts.notStarted);
          const every = [...out.succeeded, ...out.failed, ...out.cancelled, ...out.notStarted].sort((a, b) => a - b);
          expect(every).toEqual(items.map((_, i) => i));
          // The policy ends the batch at the first result that decides it, and names why.
          const t = thresholds(completion);
          const { succeeded: ok, failed: ko } = counts;
          const unreachable = t.minSuccessful !== undefined && total - ko < t.minSuccessful;
          if (out.completionReason === 'MIN_SUCCESSFUL_REACHED') {
            expect(ok).toBe(t.minSuccessful === 0 ? 0 : t.minSuccessful);
            expect(exceeds(t, ko, total)).toBe(false);
          } else if (out.completionReason === 'FAILURE_TOLERANCE_EXCEEDED') {
            expect(exceeds(t, ko, total) || unreachable).toBe(true);
            if (!unreachable) expect(exceeds(t, ko - 1, total)).toBe(false);
          } else {
            expect(out.completionReason).toBe('ALL_COMPLETED');
            expect(ok + ko).toBe(total);
            expect(exceeds(t, ko, total)).toBe(false);
          }
          const lenient = Object.keys(t).length > 0;
          const failed =
            out.completionReason === 'FAILURE_TOLERANCE_EXCEEDED' ||
            (out.completionReason === 'ALL_COMPLETED' && ko > 0 && !lenient);
          expect(out.status).toBe(failed ? 'failed' : 'succeeded');
          expect(run.pendingActivities()).toEqual([]);
          expect(run.replay()).toEqual(run.state);
        },
      ),
      { numRuns: 150 },
    );
  });
});
