/**
 * A start answers before its run's summary is written (the summary is written behind like any
 * open state's): requests right after it find the run through its workflowId's holder, and a
 * signal to a run this router knows costs its answer one summary read and its decision none.
 */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../shared/store/index.js';
import { loadCommits } from '../../chaos/invariants.js';
import { waitFor } from '../../harness/index.js';
import { routerWithStore } from './helpers.js';

/** The store calls that look up a run or a workflowId, counted by name. */
type Lookup = 'getRun' | 'getRunByWorkflowId' | 'workflowIdHolder' | 'loadHistory';

function counting(calls: Map<Lookup, number>): (store: Store) => Store {
  const count = <T>(name: Lookup, result: T): T => {
    calls.set(name, (calls.get(name) ?? 0) + 1);
    return result;
  };
  return (real) => ({
    ...real,
    getRun: (runId) => count('getRun', real.getRun(runId)),
    getRunByWorkflowId: (workflowId) => count('getRunByWorkflowId', real.getRunByWorkflowId(workflowId)),
    workflowIdHolder: (workflowId, known) => count('workflowIdHolder', real.workflowIdHolder(workflowId, known)),
    loadHistory: (runId, fromSeq) => count('loadHistory', real.loadHistory(runId, fromSeq)),
  });
}

describe('a run whose start summary is not written yet', () => {
  it('takes a signal sent right after its start, and is described, queried and paged', async () => {
    const { client, store } = await routerWithStore((s) => s, { summaryDelayMs: 60_000 });
    const { runId } = await client.start('steps', undefined, { workflowId: 'js-1' });
    expect(await store.getRun(runId)).toBeUndefined();
    await expect(client.signal('js-1', { type: 'add' })).resolves.toMatchObject({ accepted: true, runId });
    await expect(client.describe('js-1')).resolves.toMatchObject({ runId, workflowId: 'js-1', status: 'running' });
    await waitFor('the signal to be applied', async () => (await client.describe('js-1')).lastSeq === 2);
    await expect(client.describe('js-1', { runId })).resolves.toMatchObject({ runId, lastSeq: 2 });
    expect(await client.query('js-1')).toMatchObject({ value: 'first' });
    expect((await client.history('js-1')).commits.map((c) => c.seq)).toEqual([1, 2]);
    expect((await client.list()).runs.map((r) => r.runId)).not.toContain(runId); // until its summary lands
    await client.signal('js-1', { type: 'next' });
    await client.signal('js-1', { type: 'finish' });
    await expect(client.result('js-1', { timeoutMs: 20_000 })).resolves.toEqual({ finished: true, adds: 1 });
    expect(await store.getRun(runId)).toMatchObject({ status: 'completed' });
  });

  it('a signal to a run the router knows: one summary read to answer, no lookup to decide', async () => {
    const calls = new Map<Lookup, number>();
    const { client, store } = await routerWithStore(counting(calls), { summaryDelayMs: 60_000 });
    const { runId } = await client.start('steps', undefined, { workflowId: 'js-2' });
    calls.clear();
    await client.signal('js-2', { type: 'add' });
    await waitFor('the signal to be applied', async () => (await loadCommits(store, runId)).length === 2);
    expect(Object.fromEntries(calls)).toEqual({ getRun: 1 });
  });
});
