import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../../shared/errors.js';
import { isRetryableStoreError, type Store } from '../../../shared/store/index.js';
import { connectMongo, type LocalServers, privateServers, waitFor } from '../../harness/index.js';
import { collect, freshStore, newRunId, rejection, sampleCommit, sampleState, type TestStore } from './helpers.js';

/** Appends `c`, retrying while the store is unavailable; returns how many attempts failed. */
async function appendWithRetry(store: Store, c: Parameters<Store['appendCommit']>[0]): Promise<number> {
  for (let failures = 0; ; failures++) {
    try {
      await store.appendCommit(c);
      return failures;
    } catch (err) {
      if (!isRetryableStoreError(err) || failures > 400) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('store: the database going away', () => {
  let servers: LocalServers;
  let t: TestStore;

  beforeAll(async () => {
    servers = await privateServers();
    const client = await connectMongo(servers.mongo.url, { serverSelectionTimeoutMS: 1_000, connectTimeoutMS: 1_000 });
    t = await freshStore({}, client);
  });
  afterAll(async () => {
    await servers?.stop();
  });

  it('fails fast with a retryable UnavailableError while stopped, and works again after a restart', async () => {
    const runId = newRunId();
    for (let seq = 1; seq <= 3; seq++) await t.store.appendCommit(sampleCommit(runId, seq));
    await t.store.saveRun(sampleState(runId, { lastSeq: 3 }));

    await servers.mongo.stop({ keepData: true });
    const started = Date.now();
    const errors = [
      await rejection(t.store.appendCommit(sampleCommit(runId, 4))),
      await rejection(t.store.getRun(runId)),
      await rejection(collect(t.store.loadHistory(runId))),
      await rejection(t.store.claimDueTimers(Date.now(), 'svc', 1000, 10)),
    ];
    expect(Date.now() - started).toBeLessThan(15_000);
    for (const err of errors) {
      expect(err).toBeInstanceOf(UnavailableError);
      expect(isRetryableStoreError(err)).toBe(true);
      expect((err as UnavailableError).code).toBe('UNAVAILABLE');
    }
    expect((errors[0] as Error).message).toMatch(/MongoDB is unavailable \(appendCommit\)/);

    await servers.mongo.restart();
    await waitFor('the store to answer again', () => t.store.lastSeq(runId), { timeoutMs: 30_000 });
    await appendWithRetry(t.store, sampleCommit(runId, 4));
    await t.store.appendCommit(sampleCommit(runId, 4)); // the caller's retry of the same commit
    expect((await collect(t.store.loadHistory(runId))).map((c) => c.seq)).toEqual([1, 2, 3, 4]);
    expect((await t.store.getRun(runId))?.lastSeq).toBe(3);
  });

  it('a writer retrying through a SIGKILL of the server writes every commit exactly once', async () => {
    const runId = newRunId();
    let failures = 0;
    const writer = (async () => {
      for (let seq = 1; seq <= 150; seq++) failures += await appendWithRetry(t.store, sampleCommit(runId, seq));
    })();
    await waitFor('some commits', async () => (await t.store.lastSeq(runId)) >= 20, {
      timeoutMs: 20_000,
      intervalMs: 5,
    });
    servers.mongo.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 300));
    await servers.mongo.restart();
    await writer;
    const seqs = (await collect(t.store.loadHistory(runId))).map((c) => c.seq);
    expect(seqs).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(failures).toBeGreaterThan(0);
  });
});
