/**
 * The outbox costs no write: an input is acked only once its commit's commands are published,
 * and a redelivered input that finds itself in its run republishes what the run stored since the
 * message arrived. Here the failures between a decision's single write and its ack, each made on
 * demand in an in-process router over real servers: the write lost (the decision is redone), the
 * write landed but its reply lost (it is not redone, and its commands still go out), and the
 * publish failing after the write (the input is redelivered, not acked, and republishes). A
 * redelivery may also come as a first delivery: a nats-server killed forgets the deliveries of
 * its last moments; here the inbox durable is made anew from the unacked message instead.
 */
import { DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../../shared/errors.js';
import { consumerNames, streamNames, subjects } from '../../../shared/names.js';
import type { Store, StoredCommit } from '../../../shared/store/index.js';
import { loadCommits } from '../../chaos/invariants.js';
import { readDeadLetters } from '../../e2e/dead-letters.js';
import { waitFor } from '../../harness/index.js';
import { routerWithStore } from './helpers.js';

/** The closing commit of a `steps` run (its `finish` signal's). */
const closing = (cs: StoredCommit[]): StoredCommit | undefined =>
  cs.find((c) => c.events.some((e) => e.type === 'RunCompleted'));

/**
 * A store whose closing append fails once: `landed` says whether the commit is stored first.
 * `beforeFailing` runs between the write and the failure.
 */
function failingClosingAppend(
  landed: boolean,
  failed: { runId: string; seq: number }[],
  reads: number[],
  beforeFailing?: () => Promise<void>,
) {
  return (real: Store): Store => ({
    ...real,
    appendCommits: async (cs) => {
      const c = closing(cs);
      if (!c || failed.length > 0) return real.appendCommits(cs);
      failed.push({ runId: c.runId, seq: c.seq });
      // Stored, its reply lost (a timeout, a dropped connection) or not stored at all.
      if (landed) await real.appendCommits(cs);
      await beforeFailing?.();
      throw new UnavailableError(`the append ${landed ? 'reply' : 'write'} was lost (test)`);
    },
    commitsSince: async (runId, since, lastSeq) => {
      const found = await real.commitsSince(runId, since, lastSeq);
      reads.push(found.length);
      return found;
    },
  });
}

/** Signals `finish` applied once, the completion in the outcomes stream, no dead letters. */
async function closedOnce(store: Store, nc: NatsConnection, prefix: string, runId: string, workflowId: string) {
  const finishes = (await loadCommits(store, runId))
    .flatMap((c) => c.events)
    .filter((e) => e.type === 'SignalReceived' && (e as { signal?: { type?: string } }).signal?.type === 'finish');
  expect(finishes).toHaveLength(1);
  expect((await store.getRunByWorkflowId(workflowId))?.status).toBe('completed');
  // The completion itself went out: a subscriber on done.> hears of it, not only a summary reader.
  const jsm = await jetstreamManager(nc);
  const done = await waitFor('the completion in the outcomes stream', () =>
    jsm.streams
      .getMessage(streamNames(prefix).outcomes, { last_by_subj: subjects(prefix).done('steps', workflowId) })
      .catch(() => undefined),
  );
  expect(done?.subject).toBe(subjects(prefix).done('steps', workflowId));
  expect(await readDeadLetters(nc, prefix)).toEqual([]);
}

describe('a decision between its single write and its ack', () => {
  it('whose write is lost is redone: the redelivered signal is decided again and closes the run', async () => {
    const failed: { runId: string; seq: number }[] = [];
    const reads: number[] = [];
    const { store, client, nc, prefix } = await routerWithStore(failingClosingAppend(false, failed, reads));
    const { runId } = await client.start('steps', undefined, { workflowId: 'lost-1' });
    await client.signal('lost-1', { type: 'next' });
    await client.signal('lost-1', { type: 'finish' });
    await expect(client.result('lost-1', { timeoutMs: 30_000 })).resolves.toEqual({ finished: true, adds: 0 });
    expect(failed).toEqual([{ runId, seq: 3 }]);
    // Decided anew (not found in the run): nothing of an earlier delivery to republish.
    expect(reads).toEqual([]);
    expect((await loadCommits(store, runId)).map((c) => c.seq)).toEqual([1, 2, 3]);
    await closedOnce(store, nc, prefix, runId, 'lost-1');
  });

  for (const runCacheSize of [10_000, 0]) {
    const how = runCacheSize === 0 ? 'loaded from the store' : 'from a stale cache, by a conflict';
    it(`whose write landed is not redone, and its commands go out (${how})`, async () => {
      const failed: { runId: string; seq: number }[] = [];
      const reads: number[] = [];
      const { store, client, nc, prefix } = await routerWithStore(failingClosingAppend(true, failed, reads), {
        runCacheSize,
      });
      const { runId } = await client.start('steps', undefined, { workflowId: `landed-${runCacheSize}` });
      await client.signal(`landed-${runCacheSize}`, { type: 'next' });
      await client.signal(`landed-${runCacheSize}`, { type: 'finish' });
      await expect(client.result(`landed-${runCacheSize}`, { timeoutMs: 30_000 })).resolves.toEqual({
        finished: true,
        adds: 0,
      });
      expect(failed).toEqual([{ runId, seq: 3 }]);
      // The redelivered finish found itself in the run and republished the closing commit.
      expect(reads.some((n) => n >= 1)).toBe(true);
      expect((await loadCommits(store, runId)).map((c) => c.seq)).toEqual([1, 2, 3]);
      await closedOnce(store, nc, prefix, runId, `landed-${runCacheSize}`);
    });
  }

  it('whose write landed is not redone, and its commands go out, when its redelivery comes as a first delivery', async () => {
    const failed: { runId: string; seq: number }[] = [];
    const reads: number[] = [];
    const at: { nc?: NatsConnection; prefix?: string } = {};
    // What a nats-server killed right after the delivery leaves: the durable no longer knows it
    // delivered the finish signal, which comes again with a delivery count of 1.
    const forgetDelivery = async (): Promise<void> => {
      const jsm = await jetstreamManager(at.nc as NatsConnection);
      const stream = streamNames(at.prefix as string).inbox;
      const { config } = await jsm.consumers.info(stream, consumerNames.router);
      const { last_seq } = (await jsm.streams.info(stream)).state;
      await jsm.consumers.delete(stream, consumerNames.router);
      await jsm.consumers.add(stream, {
        ...config,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: last_seq,
      });
    };
    const { store, client, nc, prefix, logs } = await routerWithStore(
      failingClosingAppend(true, failed, reads, forgetDelivery),
    );
    Object.assign(at, { nc, prefix });
    const { runId } = await client.start('steps', undefined, { workflowId: 'forgot-1' });
    await client.signal('forgot-1', { type: 'next' });
    await client.signal('forgot-1', { type: 'finish' });
    await waitFor('the closing append', () => failed.length > 0);
    expect(failed).toEqual([{ runId, seq: 3 }]);
    // Found in the run on its first delivery, and the closing commit republished all the same.
    await waitFor('the closing commit republished', () => reads.some((n) => n >= 1), { timeoutMs: 20_000 });
    expect((await loadCommits(store, runId)).map((c) => c.seq)).toEqual([1, 2, 3]);
    await closedOnce(store, nc, prefix, runId, 'forgot-1');
    expect(logs.map((l) => l.msg)).not.toContain(
      'a stored decision could not be published; its input is redelivered to publish it',
    );
  });

  it('whose publish fails after the write: the input is redelivered, not acked, and republishes', async () => {
    const reads: number[] = [];
    let failedPublishes = 0;
    const { store, client, nc, prefix, logs } = await routerWithStore(
      (real): Store => ({
        ...real,
        commitsSince: async (runId, since, lastSeq) => {
          const found = await real.commitsSince(runId, since, lastSeq);
          reads.push(found.length);
          return found;
        },
      }),
      {},
      {
        beforePublish(m) {
          // The completion (`done.` of the closing commit, its only command), once.
          if (m.msgId.endsWith(':3:0') && failedPublishes++ === 0) throw new Error('NATS is away (test)');
        },
      },
    );
    const { runId } = await client.start('steps', undefined, { workflowId: 'pub-1' });
    await client.signal('pub-1', { type: 'next' });
    await client.signal('pub-1', { type: 'finish' });
    await expect(client.result('pub-1', { timeoutMs: 30_000 })).resolves.toEqual({ finished: true, adds: 0 });
    expect(failedPublishes).toBe(2);
    // One redelivery, one read: the closing commit (with those of the run within the clock margin).
    expect(reads).toHaveLength(1);
    expect(reads[0]).toBeGreaterThanOrEqual(1);
    expect(logs.map((l) => l.msg)).toContain(
      'a stored decision could not be published; its input is redelivered to publish it',
    );
    expect((await loadCommits(store, runId)).map((c) => c.seq)).toEqual([1, 2, 3]);
    await closedOnce(store, nc, prefix, runId, 'pub-1');
  });
});
