/**
 * mapState under random result orders, failures, concurrency limits and policies: the limit always
 * holds, results land at their item's index, the counts add up, the policy decides as documented,
 * and replaying the recorded history rebuilds the same state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { activity, defineWorkflow, nonRetryable } from '../../../../shared/engine/index.js';
import { type BatchResult, type CompletionPolicy, mapState } from '../../../../shared/engine/patterns/index.js';
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
  fc.constant('all' as const),
  fc.constant('failFast' as const),
  fc.nat({ max: 12 }).map((minSuccessful) => ({ minSuccessful })),
);

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
          if (completion === 'failFast') expect(counts.failed).toBeLessThanOrEqual(1);
          if (completion === 'all') expect(counts.notStarted + counts.cancelled).toBe(0);
          if (typeof completion === 'object' && out.status === 'succeeded') {
            expect(counts.succeeded).toBe(completion.minSuccessful);
          }
          expect(out.status).toBe(
            completion === 'all' || completion === 'failFast'
              ? counts.failed > 0
                ? 'failed'
                : 'succeeded'
              : counts.succeeded >= completion.minSuccessful
                ? 'succeeded'
                : 'failed',
          );
          expect(run.pendingActivities()).toEqual([]);
          expect(run.replay()).toEqual(run.state);
        },
      ),
      { numRuns: 150 },
    );
  });
});
