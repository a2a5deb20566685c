/**
 * A start appends its first commit side by side with the claim of its workflowId, so a start
 * whose claim is refused may have stored a commit: it is deleted before the start answers, and
 * when that delete fails the start's redelivery claims again, is refused again and deletes it.
 * The run that holds the id keeps its history. In-process router over the real servers.
 */
import { describe, expect, it } from 'vitest';
import { AlreadyStartedError, UnavailableError } from '../../../shared/errors.js';
import type { Store } from '../../../shared/store/index.js';
import { routerWithStore } from './helpers.js';

interface Seen {
  /** runIds whose first commit was appended, in order. */
  firsts: string[];
  /** Each discard asked for, with what it deleted (or 'failed'). */
  discards: { runId: string; deleted: number | 'failed' }[];
}

/** Records first commits and discards; fails the first `failDiscards` discards (the store away). */
function watching(seen: Seen, failDiscards = 0) {
  return (real: Store): Store => ({
    ...real,
    appendCommits: async (cs) => {
      for (const c of cs) if (c.seq === 1) seen.firsts.push(c.runId);
      return real.appendCommits(cs);
    },
    discardRefusedStart: async (workflowId, runId) => {
      if (seen.discards.filter((d) => d.deleted === 'failed').length < failDiscards) {
        seen.discards.push({ runId, deleted: 'failed' });
        throw new UnavailableError('the store is away (test)');
      }
      const deleted = await real.discardRefusedStart(workflowId, runId);
      seen.discards.push({ runId, deleted });
      return deleted;
    },
  });
}

describe('a start whose claim is refused', () => {
  it('deletes the commit it appended beside its claim, and answers as before', async () => {
    const seen: Seen = { firsts: [], discards: [] };
    const { store, client } = await routerWithStore(watching(seen));
    const held = await client.start('steps', undefined, { workflowId: 'held-1' });
    expect(seen.firsts).toEqual([held.runId]);
    expect(seen.discards).toEqual([]);

    await expect(
      client.start('steps', undefined, { workflowId: 'held-1', idReusePolicy: 'rejectDuplicate' }),
    ).rejects.toBeInstanceOf(AlreadyStartedError);
    const refused = seen.firsts[1];
    expect(refused).toBeDefined();
    expect(refused).not.toBe(held.runId);
    expect(seen.discards).toEqual([{ runId: refused, deleted: 1 }]);
    expect(await store.lastSeq(refused as string)).toBe(0);

    // returnExisting answers with the holder; its own commit is gone all the same.
    const again = await client.start('steps', undefined, { workflowId: 'held-1' });
    expect(again.runId).toBe(held.runId);
    const second = seen.firsts[2] as string;
    expect(seen.discards.at(-1)).toEqual({ runId: second, deleted: 1 });
    expect(await store.lastSeq(second)).toBe(0);
    // The holder's history is untouched, and it still runs to completion.
    expect(await store.lastSeq(held.runId)).toBe(1);
    await client.signal('held-1', { type: 'next' });
    await client.signal('held-1', { type: 'finish' });
    await expect(client.result('held-1', { timeoutMs: 30_000 })).resolves.toEqual({ finished: true, adds: 0 });
  });

  it('whose delete fails is redelivered: the redelivery is refused again and deletes it', async () => {
    const seen: Seen = { firsts: [], discards: [] };
    const { store, client, logs } = await routerWithStore(watching(seen, 1));
    const held = await client.start('steps', undefined, { workflowId: 'held-2' });
    await expect(
      client.start('steps', undefined, { workflowId: 'held-2', idReusePolicy: 'rejectDuplicate' }),
    ).rejects.toBeInstanceOf(AlreadyStartedError);
    const refused = seen.firsts[1] as string;
    expect(refused).toBeDefined();
    // The redelivery claimed first and appended nothing (only the first delivery's commit is seen).
    expect(seen.firsts).toEqual([held.runId, refused]);
    expect(seen.discards).toEqual([
      { runId: refused, deleted: 'failed' },
      { runId: refused, deleted: 1 },
    ]);
    expect(await store.lastSeq(refused)).toBe(0);
    expect(await store.lastSeq(held.runId)).toBe(1);
    expect(logs.some((l) => JSON.stringify(l).includes('the store is away (test)'))).toBe(true);
  });
});
