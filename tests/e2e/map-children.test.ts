/**
 * mapState over child workflows end to end, router, executor and timer as processes over real
 * NATS and a real MongoDB-protocol server: ten child runs at concurrency 3 finish out of order
 * and land in item order; under 'failFast' a failing child stops the map and the children still
 * open are terminated (their parent close policy).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SquallClient } from '../../shared/client/index.js';
import type { BatchResult } from '../../shared/engine/patterns/index.js';
import { NotFoundError } from '../../shared/errors.js';
import type { HistoryEvent } from '../../shared/history/events.js';
import { isValidToken } from '../../shared/names.js';
import type { Packed, PackInput } from '../fixtures/map-children/workflows.js';
import { waitFor } from '../harness/index.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { startEngine } from './processes.js';

const FIXTURES = {
  workflows: 'tests/fixtures/map-children/workflows.ts',
  activities: 'tests/fixtures/map-children/activities.ts',
} as const;

let client: SquallClient;

beforeAll(async () => {
  ({ client } = await startEngine({ ...FIXTURES, executorArgs: ['--concurrency', '16'] }));
});

/** Most child runs started and not yet finished or detached at any point of a parent's history. */
function mostOpenChildren(events: readonly HistoryEvent[]): number {
  const open = new Set<number>();
  let most = 0;
  for (const e of events) {
    if (e.type === 'ChildStarted') open.add(e.childSeq);
    if ((e.type === 'ChildCompleted' || e.type === 'ChildFailed') && !e.ignored) open.delete(e.childSeq);
    if (e.type === 'ChildDetached') open.delete(e.childSeq);
    most = Math.max(most, open.size);
  }
  return most;
}

async function statusOf(workflowId: string): Promise<string | undefined> {
  try {
    return (await client.describe(workflowId)).status;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

describe('mapState over child workflows', () => {
  it('ten child runs at concurrency 3 complete, results in item order, workflowIds per map and item', async () => {
    // Later items finish sooner, so results arrive out of item order.
    const items: PackInput[] = Array.from({ length: 10 }, (_, n) => ({ n, delayMs: 60 + ((9 - n) % 3) * 250 }));
    const { runId } = await client.start('packAll', { items }, { workflowId: 'pack-10' });
    const out = await client.result<BatchResult<Packed>>('pack-10', { timeoutMs: 60_000 });
    expect(out).toMatchObject({
      status: 'succeeded',
      completionReason: 'ALL_COMPLETED',
      succeeded: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      counts: { total: 10, started: 10, succeeded: 10, failed: 0, cancelled: 0, notStarted: 0 },
    });
    expect(out.results).toEqual(items.map(({ n }) => ({ n, box: `box-${n}` })));

    const events = await eventsOf(client, 'pack-10');
    expect(mostOpenChildren(events)).toBe(3);
    const started = ofType(events, 'ChildStarted');
    expect(started).toHaveLength(10);
    const completedOrder = ofType(events, 'ChildCompleted').map((e) => (e.output as Packed).n);
    expect(completedOrder).not.toEqual([...completedOrder].sort((a, b) => a - b));
    for (const s of started) {
      const index = Number(s.invokeId.split('.').pop());
      expect(s).toMatchObject({
        workflowType: 'packItem',
        invokeId: `squall.map.packed.${index}`,
        input: items[index],
      });
      expect(s.childWorkflowId).toBe(`pack-10-packed-${index}-${s.childSeq}`);
      expect(isValidToken(s.childWorkflowId)).toBe(true);
      const child = await eventsOf(client, s.childWorkflowId);
      expect(child[0]).toMatchObject({ type: 'RunStarted', parent: { workflowId: 'pack-10', runId } });
      expect(await statusOf(s.childWorkflowId)).toBe('completed');
    }
  });

  it("'failFast': a failing child ends the map; the open children are terminated, the rest never start", async () => {
    const items: PackInput[] = [
      { n: 0, delayMs: 0, fail: true },
      { n: 1, delayMs: 120_000 },
      { n: 2, delayMs: 120_000 },
      { n: 3, delayMs: 0 },
      { n: 4, delayMs: 0 },
    ];
    await client.start('packFailFast', { items }, { workflowId: 'pack-ff' });
    const out = await client.result<BatchResult<Packed>>('pack-ff', { timeoutMs: 60_000 });
    expect(out).toMatchObject({
      status: 'failed',
      completionReason: 'FAILURE_TOLERANCE_EXCEEDED',
      failed: [0],
      counts: { total: 5, started: 3, succeeded: 0, failed: 1, running: 0, cancelled: 2, notStarted: 2 },
    });
    expect(out.errors[0]).toMatchObject({ code: 'WORKFLOW_FAILED' });

    const events = await eventsOf(client, 'pack-ff');
    const started = ofType(events, 'ChildStarted');
    expect(started.map((s) => s.invokeId)).toEqual([
      'squall.map.packed.0',
      'squall.map.packed.1',
      'squall.map.packed.2',
    ]);
    const detached = ofType(events, 'ChildDetached');
    expect(detached.map((d) => d.childWorkflowId).sort()).toEqual(
      started
        .slice(1)
        .map((s) => s.childWorkflowId)
        .sort(),
    );
    expect(detached.map((d) => d.policy)).toEqual(['terminate', 'terminate']);
    for (const d of detached) {
      await waitFor(`${d.childWorkflowId} to be terminated`, async () =>
        (await statusOf(d.childWorkflowId)) === 'terminated' ? true : undefined,
      );
    }
    expect(await statusOf(started[0]!.childWorkflowId)).toBe('failed');
  });
});
