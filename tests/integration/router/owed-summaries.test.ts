/**
 * A store that fails for a moment after a commit is stored. A closing decision publishes nothing
 * until its summary is written, so it fails and its input is redelivered; the redelivery finds
 * the signal in the run (recorded once), writes the summary (which frees the workflowId), then
 * republishes the completion. An open run's summary, written behind, is owed until the router's
 * upkeep pays it. An in-process router over real servers, with a store whose summary writes fail
 * on demand.
 */
import { describe, expect, it } from 'vitest';
import type { RunState } from '../../../shared/engine/types.js';
import { UnavailableError } from '../../../shared/errors.js';
import type { Store } from '../../../shared/store/index.js';
import { loadCommits } from '../../chaos/invariants.js';
import { readDeadLetters } from '../../e2e/dead-letters.js';
import { waitFor } from '../../harness/index.js';
import { routerWithStore } from './helpers.js';

/** A router whose store fails the summary writes `failWhen` picks, each once. */
async function flakyRouter(failWhen: (s: RunState) => boolean) {
  const failed = new Set<string>();
  const router = await routerWithStore(
    (store): Store => ({
      ...store,
      saveRuns: async (states) => {
        const victim = states.find((s) => failWhen(s) && !failed.has(`${s.runId}:${s.lastSeq}`));
        if (victim) {
          failed.add(`${victim.runId}:${victim.lastSeq}`);
          throw new UnavailableError('the store is away for a moment (test)');
        }
        return store.saveRuns(states);
      },
    }),
  );
  return { ...router, failed };
}

describe('summary writes that fail after the commit is stored', () => {
  it('a closing decision: its redelivery writes the summary, which frees the id, then publishes the completion', async () => {
    const { store, client, nc, prefix, failed, logs } = await flakyRouter((s) => s.status !== 'running');
    const { runId } = await client.start('steps', undefined, { workflowId: 'fc-1' });
    await client.signal('fc-1', { type: 'next' });
    await client.signal('fc-1', { type: 'finish' });
    await expect(client.result('fc-1', { timeoutMs: 20_000 })).resolves.toEqual({ finished: true, adds: 0 });
    expect(failed.size).toBe(1);
    expect((await store.getRunByWorkflowId('fc-1'))?.status).toBe('completed');
    const again = await client.start('steps', undefined, { workflowId: 'fc-1' });
    expect(again.created).toBe(true);
    const signals = (await loadCommits(store, runId))
      .flatMap((c) => c.events)
      .filter((e) => e.type === 'SignalReceived');
    expect(signals).toHaveLength(2);
    expect(await readDeadLetters(nc, prefix)).toEqual([]);
    expect(logs.map((l) => l.msg)).toContain(
      'a stored decision could not be published; its input is redelivered to publish it',
    );
  });

  it('a decision that leaves the run open: the next upkeep writes the summary it missed', async () => {
    const { store, client, failed } = await flakyRouter((s) => s.status === 'running' && s.lastSeq === 2);
    await client.start('steps', undefined, { workflowId: 'fo-1' });
    await client.signal('fo-1', { type: 'next' });
    await waitFor('the failed write', () => failed.size === 1);
    const summary = await waitFor('the summary to show the second state', async () => {
      const run = await store.getRunByWorkflowId('fo-1');
      return run?.lastSeq === 2 ? run : undefined;
    });
    expect(summary.stateValue).toBe('second');
  });
});
