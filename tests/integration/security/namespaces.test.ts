/**
 * Two prefixes on one NATS server and one MongoDB database are two namespaces: the same
 * workflowId runs once in each, a signal in one never reaches the other, and list/describe/history
 * show each only its own runs.
 */
import { describe, expect, it } from 'vitest';
import { freshDbName, freshPrefix, natsUrl, waitFor } from '../../harness/index.js';
import { startStack } from './helpers.js';

describe('namespaces (prefixes) on shared servers', () => {
  it('keep runs, signals, summaries and histories apart', { timeout: 60_000 }, async () => {
    const dbName = freshDbName();
    const [a, b] = await Promise.all([
      startStack(natsUrl(), {}, { prefix: freshPrefix(), dbName }),
      startStack(natsUrl(), {}, { prefix: freshPrefix(), dbName }),
    ]);
    const id = 'same-order';
    const runA = await a.client.start(
      'order',
      { orderId: 'a', amount: 1, approvalTimeoutMs: 60_000 },
      { workflowId: id },
    );
    const runB = await b.client.start(
      'order',
      { orderId: 'b', amount: 2, approvalTimeoutMs: 60_000 },
      { workflowId: id },
    );
    expect(runA.created && runB.created).toBe(true);
    expect(runA.runId).not.toBe(runB.runId);

    for (const s of [a, b]) {
      await waitFor(
        'the order to wait for approval',
        async () => (await s.client.query(id)).accepts.includes('approve'),
        {
          timeoutMs: 20_000,
        },
      );
    }
    await a.client.signal(id, { type: 'reject', reason: 'only in a' });
    await expect(a.client.result(id, { timeoutMs: 20_000 })).resolves.toMatchObject({
      orderId: 'a',
      status: 'rejected',
    });
    // b's run of the same workflowId did not see a's signal: it still waits, and takes its own.
    const queryB = await b.client.query(id);
    expect(queryB).toMatchObject({ runId: runB.runId, status: 'running' });
    expect(queryB.accepts).toContain('approve');
    const signals = async (c: typeof a.client) =>
      (await c.history(id)).commits.flatMap((commit) =>
        commit.events.filter((e) => (e as { type: string }).type === 'SignalReceived'),
      );
    expect(await signals(a.client)).toHaveLength(1);
    expect(await signals(b.client)).toEqual([]);
    await b.client.signal(id, { type: 'approve' });
    await expect(b.client.result(id, { timeoutMs: 30_000 })).resolves.toMatchObject({
      orderId: 'b',
      status: 'fulfilled',
    });

    expect(await a.client.describe(id)).toMatchObject({ runId: runA.runId, status: 'completed' });
    expect(await b.client.describe(id)).toMatchObject({ runId: runB.runId, status: 'completed' });
    expect((await a.client.list()).runs.map((r) => r.runId)).toEqual([runA.runId]);
    expect((await b.client.list()).runs.map((r) => r.runId)).toEqual([runB.runId]);
  });
});
