/**
 * An append stores a commit and its outbox entry side by side. When the commit lands but its entry
 * does not (the router dies between the two, or the entry's insert fails), nothing would publish
 * the commit's commands; the input was not acked, though, and its redelivery re-enters the run's
 * commits since the message arrived, so the outbox sweep publishes them. An in-process router over
 * real servers, keeping no run in memory, with a store that stores the closing commit, drops its
 * entry and fails the append.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../../shared/errors.js';
import { streamNames, subjects } from '../../../shared/names.js';
import type { Store } from '../../../shared/store/index.js';
import { loadCommits } from '../../chaos/invariants.js';
import { readDeadLetters } from '../../e2e/dead-letters.js';
import { waitFor } from '../../harness/index.js';
import { routerWithStore } from './helpers.js';

describe('a commit stored without its outbox entry', () => {
  it("has its commands published once its input's redelivery re-enters it", async () => {
    let dropped: { runId: string; seq: number } | undefined;
    const reentries: { runId: string; since: number; entered: number }[] = [];
    const { store, client, nc, prefix } = await routerWithStore(
      (real): Store => ({
        ...real,
        appendCommits: async (cs) => {
          const outcomes = await real.appendCommits(cs);
          const closing = cs.find((c) => c.events.some((e) => e.type === 'RunCompleted'));
          if (closing && !dropped) {
            // The commit is stored; its entry is not: as if the entry's insert had failed.
            dropped = { runId: closing.runId, seq: closing.seq };
            await real.markPublished(closing.runId, [closing.seq]);
            throw new UnavailableError('the outbox insert failed (test)');
          }
          return outcomes;
        },
        reenterOutbox: async (runId, since) => {
          const entered = await real.reenterOutbox(runId, since);
          reentries.push({ runId, since, entered });
          return entered;
        },
      }),
      // As on another router, or after a restart: the redelivery loads the run from the store,
      // finds the signal applied and appends nothing that would put the commit back in the outbox.
      { runCacheSize: 0 },
    );
    const { runId } = await client.start('steps', undefined, { workflowId: 'rr-1' });
    await client.signal('rr-1', { type: 'next' });
    const finishedAt = Date.now();
    await client.signal('rr-1', { type: 'finish' });
    await expect(client.result('rr-1', { timeoutMs: 30_000 })).resolves.toEqual({ finished: true, adds: 0 });

    expect(dropped).toEqual({ runId, seq: 3 });
    // The redelivered finish re-entered the closing commit (and its run's earlier ones since).
    const reentry = reentries.find((r) => r.runId === runId);
    expect(reentry?.entered).toBeGreaterThanOrEqual(1);
    expect(reentry?.since).toBeLessThanOrEqual(finishedAt);
    expect((await store.getRunByWorkflowId('rr-1'))?.status).toBe('completed');
    // Applied once: the redelivery found the signal in history and changed nothing.
    const finishes = (await loadCommits(store, runId))
      .flatMap((c) => c.events)
      .filter((e) => e.type === 'SignalReceived' && (e as { signal?: { type?: string } }).signal?.type === 'finish');
    expect(finishes).toHaveLength(1);
    // The completion itself went out: a subscriber on done.> hears of it, not only a summary reader.
    const jsm = await jetstreamManager(nc);
    const done = await waitFor('the completion in the outcomes stream', () =>
      jsm.streams
        .getMessage(streamNames(prefix).outcomes, { last_by_subj: subjects(prefix).done('steps', 'rr-1') })
        .catch(() => undefined),
    );
    expect(done?.subject).toBe(subjects(prefix).done('steps', 'rr-1'));
    expect(await readDeadLetters(nc, prefix)).toEqual([]);
  });
});
