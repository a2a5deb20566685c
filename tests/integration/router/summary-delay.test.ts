/**
 * Open runs' summaries, the start's included, are written behind: a state replaced by a newer one within
 * `summaryDelayMs` is never written, a closing state is written at once, and a run that stays
 * open shows its newest state in list once the delay has passed.
 */
import { describe, expect, it } from 'vitest';
import type { RunState } from '../../../shared/engine/types.js';
import type { Store } from '../../../shared/store/index.js';
import { waitFor } from '../../harness/index.js';
import { routerWithStore } from './helpers.js';

/** Wraps a store to record every summary it is asked to write, as (runId, lastSeq, status). */
function recording(written: Pick<RunState, 'runId' | 'lastSeq' | 'status'>[]): (store: Store) => Store {
  return (real) => ({
    ...real,
    saveRun: (state, extra) => {
      written.push({ runId: state.runId, lastSeq: state.lastSeq, status: state.status });
      return real.saveRun(state, extra);
    },
    saveRuns: (states) => {
      for (const s of states) written.push({ runId: s.runId, lastSeq: s.lastSeq, status: s.status });
      return real.saveRuns(states);
    },
  });
}

describe('run summaries of open runs', () => {
  it('are skipped when the run moves on within the delay; the closing summary is written at once', async () => {
    const written: Pick<RunState, 'runId' | 'lastSeq' | 'status'>[] = [];
    const { client } = await routerWithStore(recording(written), { summaryDelayMs: 60_000 });
    const { runId } = await client.start('steps', undefined, { workflowId: 'sd-1' });
    await client.signal('sd-1', { type: 'add' });
    await client.signal('sd-1', { type: 'next' });
    await client.signal('sd-1', { type: 'finish' });
    await expect(client.result('sd-1', { timeoutMs: 20_000 })).resolves.toEqual({ finished: true, adds: 1 });
    const ours = written.filter((w) => w.runId === runId);
    // The start's summary too is written behind, so a run that closes within the delay writes one.
    expect(ours).toEqual([{ runId, lastSeq: 4, status: 'completed' }]);
    const row = (await client.list()).runs.find((r) => r.runId === runId);
    expect(row).toMatchObject({ runId, status: 'completed', lastSeq: 4 });
  });

  it('reach list once the delay has passed while the run waits', async () => {
    const written: Pick<RunState, 'runId' | 'lastSeq' | 'status'>[] = [];
    const { client } = await routerWithStore(recording(written), { summaryDelayMs: 200 });
    const { runId } = await client.start('steps', undefined, { workflowId: 'sd-2' });
    await client.signal('sd-2', { type: 'next' });
    await waitFor('the open run to show its second state in list', async () => {
      const row = (await client.list()).runs.find((r) => r.runId === runId);
      return row?.lastSeq === 2 && row.status === 'running';
    });
    // The start's state is written only if the signal came after its delay ran out.
    expect([[2], [1, 2]]).toContainEqual(written.filter((w) => w.runId === runId).map((w) => w.lastSeq));
    // describe reads history, so it is current at once whatever the delay.
    await client.signal('sd-2', { type: 'add' });
    await waitFor('describe to show the add', async () => (await client.describe('sd-2')).lastSeq === 3);
  });
});
