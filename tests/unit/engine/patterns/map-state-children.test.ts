import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { invokeIdPart } from '../../../../shared/engine/child.js';
import { activity, childWorkflow, defineWorkflow } from '../../../../shared/engine/index.js';
import { type BatchResult, type CompletionPolicy, mapState } from '../../../../shared/engine/patterns/index.js';
import { InvalidInputError } from '../../../../shared/errors.js';
import type { ParentClosePolicy } from '../../../../shared/history/events.js';
import { isValidToken } from '../../../../shared/names.js';
import { createTestRun, type TestRun } from '../../../../shared/testing/index.js';

interface Ctx {
  skus: string[];
  shipments: BatchResult<{ sku: string; box: number }> | undefined;
}

/** A parent that ships each sku as a child `shipping` run, `concurrency` at a time. */
function shipAll(completion: CompletionPolicy = 'all', concurrency = 2, parentClosePolicy?: ParentClosePolicy) {
  return defineWorkflow({
    name: 'ship-all',
    machine: setup({
      types: { context: {} as Ctx, input: {} as { skus: string[] } },
      actors: {
        ship: childWorkflow<{ sku: string }, { sku: string; box: number }>({
          workflowType: 'shipping',
          ...(parentClosePolicy ? { parentClosePolicy } : {}),
        }),
      },
    }).createMachine({
      context: ({ input }) => ({ skus: input.skus, shipments: undefined }),
      initial: 'shipping',
      states: {
        shipping: mapState({
          items: ({ context }) => context.skus,
          workflow: 'ship',
          input: ({ item }) => ({ sku: item }),
          concurrency,
          completion,
          resultKey: 'shipments',
          onDone: 'done',
          onFailed: 'failed',
        }),
        done: { type: 'final' },
        failed: { type: 'final' },
      },
      output: ({ context }) => context.shipments,
    }),
  });
}

const startedIds = (run: TestRun): string[] =>
  run.history.flatMap((c) => c.events.flatMap((e) => (e.type === 'ChildStarted' ? [e.childWorkflowId] : [])));

describe('mapState over child workflows', () => {
  it('starts one child run per item, at most `concurrency` at once, and keeps results in item order', async () => {
    const skus = ['a', 'b', 'c', 'd', 'e'];
    const run = await createTestRun(shipAll('all', 2), { input: { skus }, workflowId: 'order-7', autoRun: false });
    let maxOpen = 0;
    while (run.status === 'running') {
      const open = run.pendingChildren();
      maxOpen = Math.max(maxOpen, open.length);
      // Finish the newest first, so results arrive out of item order.
      const last = open.at(-1)!;
      const sku = skus[Number(last.invokeId.split('.').pop())]!;
      await run.completeChild(last.childSeq, { sku, box: sku.charCodeAt(0) });
    }
    expect(maxOpen).toBe(2);
    expect(run.value).toBe('done');
    const out = run.output as BatchResult<{ sku: string; box: number }>;
    expect(out).toMatchObject({ status: 'succeeded', completionReason: 'ALL_COMPLETED', succeeded: [0, 1, 2, 3, 4] });
    expect(out.results).toEqual(skus.map((sku) => ({ sku, box: sku.charCodeAt(0) })));
    // Deterministic, token-safe workflowIds that name the map and the item.
    const ids = startedIds(run);
    expect(ids).toHaveLength(5);
    for (const id of ids) expect(isValidToken(id)).toBe(true);
    expect(ids.map((id) => id.replace(/-\d+$/, ''))).toEqual(
      expect.arrayContaining(skus.map((_, i) => `order-7-shipments-${i}`)),
    );
    expect(new Set(ids).size).toBe(5);
    const inputs = run.history.flatMap((c) => c.events.flatMap((e) => (e.type === 'ChildStarted' ? [e.input] : [])));
    expect(inputs).toEqual(expect.arrayContaining(skus.map((sku) => ({ sku }))));
    expect(run.replay()).toEqual(run.state);
  });

  it("'failFast' stops at a failed child: the open ones get their parent close policy, no more start", async () => {
    const skus = ['a', 'x', 'c', 'd', 'e'];
    const run = await createTestRun(shipAll('failFast', 3, 'requestCancel'), { input: { skus }, autoRun: false });
    await run.completeChild(run.pendingChildren()[0]!.childSeq, { sku: 'a', box: 1 });
    // Open now: items 1, 2, 3. Item 1 fails.
    const failing = run.pendingChildren().find((c) => c.invokeId.endsWith('.1'))!;
    await run.failChild(failing.childSeq, new Error('no stock for x'));
    expect(run.value).toBe('failed');
    const out = run.output as BatchResult<unknown>;
    expect(out).toMatchObject({
      status: 'failed',
      completionReason: 'FAILURE_TOLERANCE_EXCEEDED',
      failed: [1],
      counts: { total: 5, started: 4, succeeded: 1, failed: 1, running: 0, cancelled: 2, notStarted: 1 },
    });
    expect(out.errors[1]).toMatchObject({ message: 'no stock for x' });
    const last = run.history.at(-1)!;
    expect(last.events.map((e) => e.type)).toEqual(['ChildFailed', 'ChildDetached', 'ChildDetached', 'RunCompleted']);
    const detached = last.events.filter((e) => e.type === 'ChildDetached');
    expect(detached.map((e) => e.policy)).toEqual(['requestCancel', 'requestCancel']);
    const detachCommands = run.commands.filter((c) => c.kind === 'detachChild');
    expect(detachCommands).toHaveLength(2);
    expect(run.pendingChildren()).toEqual([]);
    expect(run.replay()).toEqual(run.state);
  });

  it('leaving the map early (a cancel) terminates the open children under the default policy', async () => {
    const run = await createTestRun(shipAll('all', 3), { input: { skus: ['a', 'b', 'c', 'd'] }, autoRun: false });
    await run.completeChild('shipping', { sku: 'a', box: 1 });
    await run.cancel('enough');
    expect(run.status).toBe('cancelled');
    expect(run.pendingChildren()).toEqual([]);
    const detached = run.history.at(-1)!.events.filter((e) => e.type === 'ChildDetached');
    expect(detached.map((e) => e.policy)).toEqual(['terminate', 'terminate', 'terminate']);
    expect(run.replay()).toEqual(run.state);
  });

  it('runs 20 stubbed children to the end, failures in item order, and replays the recorded history', async () => {
    const skus = Array.from({ length: 20 }, (_, i) => `sku${i}`);
    const run = await createTestRun(shipAll('all', 4), {
      input: { skus },
      children: {
        shipping: ({ sku }: { sku: string }) =>
          sku.endsWith('7') ? new Error(`lost ${sku}`) : { sku, box: Number(sku.slice(3)) },
      },
    });
    expect(run.value).toBe('failed');
    const out = run.output as BatchResult<{ sku: string; box: number }>;
    expect(out.failed).toEqual([7, 17]);
    expect(out.results.map((r) => r?.box ?? null)).toEqual(skus.map((_, i) => (i % 10 === 7 ? null : i)));
    expect(out.errors[17]).toMatchObject({ message: 'lost sku17' });
    expect(startedIds(run)).toEqual(
      skus.map((_, i) => expect.stringMatching(new RegExp(`^test-workflow-shipments-${i}-\\d+$`))),
    );
    expect(run.replay()).toEqual(run.state);
  });

  it('two maps of the same child type get distinct workflowIds per map and item', () => {
    expect(invokeIdPart('squall.map.pages.3')).toBe('pages-3');
    expect(invokeIdPart('squall.map.a_b-c.12')).toBe('a_b-c-12');
    expect(invokeIdPart('0.order.shipping')).toBe('shipping');
    expect(invokeIdPart('a b')).toBe('a_b');
    expect(invokeIdPart('squall.')).toBe('child');
  });

  it('refuses both sources at once, and types allow only childWorkflow() srcs as `workflow`', () => {
    const base = { items: () => [1], resultKey: 'r', onDone: 'done' } as const;
    expect(() => mapState({ ...base, activity: 'fetch', workflow: 'ship' } as never)).toThrow(InvalidInputError);
    expect(() => mapState({ ...base, activity: 'fetch', workflow: 'ship' } as never)).toThrow(/not both/);
    expect(() => mapState({ ...base, workflow: '' } as never)).toThrow(/workflow must name/);
    expect(() => mapState({ ...base } as never)).toThrow(/activity must name/);

    const m = setup({
      types: { context: {} as { ns: number[]; r: BatchResult<string> | undefined } },
      actors: { fetch: activity<number, string>(), ship: childWorkflow<number, string>() },
    }).createMachine({
      context: { ns: [], r: undefined },
      initial: 'ok',
      states: {
        ok: mapState({ items: ({ context }) => context.ns, workflow: 'ship', resultKey: 'r', onDone: 'end' }),
        okActivity: mapState({ items: ({ context }) => context.ns, activity: 'fetch', resultKey: 'r', onDone: 'end' }),
        // @ts-expect-error fetch is an activity, not a child workflow
        badWorkflow: mapState({ items: ({ context }) => context.ns, workflow: 'fetch', resultKey: 'r', onDone: 'end' }),
        badInput: mapState({
          items: ({ context }) => context.ns,
          workflow: 'ship',
          // @ts-expect-error the child's input is a number
          input: ({ item }) => ({ n: item }),
          resultKey: 'r',
          onDone: 'end',
        }),
        end: { type: 'final' },
      },
    });
    expect(Object.keys(m.root.states)).toContain('ok');
  });
});
