/**
 * The outbox costs no write: an append stores the commit and nothing else (no outbox collection
 * is even created), a redelivery reads a run's commits since a time (commitsSince), and a store
 * written by an earlier version is drained of its outbox entries once (drainLegacyOutbox).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { collectionNames } from '../../../shared/names.js';
import { commitId, type OutboxDoc } from '../../../shared/store/documents.js';
import type { StoredCommit } from '../../../shared/store/index.js';
import { freshStore, newRunId, sampleCommit, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

const keys = (cs: readonly StoredCommit[]): string[] => cs.map((c) => `${c.runId}:${c.seq}`);

describe('store: no outbox writes', () => {
  it('an append writes only its commit: no outbox collection, no published flag', async () => {
    t = await freshStore();
    const [a, b] = [newRunId(), newRunId()];
    await t.store.appendCommit(sampleCommit(a, 1));
    expect(await t.store.appendCommits([sampleCommit(a, 2), sampleCommit(b, 1)])).toEqual([undefined, undefined]);
    const db = t.client.db(t.dbName);
    const names = collectionNames(t.prefix);
    expect(await db.listCollections({ name: names.outbox }).toArray()).toEqual([]);
    expect(await db.collection(names.commits).countDocuments()).toBe(3);
    const raw = await db.collection<{ _id: string }>(names.commits).findOne({ _id: commitId(a, 1) });
    expect(raw).not.toHaveProperty('published');
  });

  it('commitsSince: the run’s commits at or after a time, ascending by seq, and no other run’s', async () => {
    t = await freshStore();
    const [a, b] = [newRunId(), newRunId()];
    // Stored out of order, as batches from several routers would.
    await t.store.appendCommits([sampleCommit(a, 3, { at: 300 }), sampleCommit(b, 1, { at: 250 })]);
    await t.store.appendCommits([sampleCommit(a, 1, { at: 100 }), sampleCommit(a, 2, { at: 200 })]);
    expect(keys(await t.store.commitsSince(a, 200))).toEqual([`${a}:2`, `${a}:3`]);
    expect(keys(await t.store.commitsSince(a, 0))).toEqual([`${a}:1`, `${a}:2`, `${a}:3`]);
    expect(await t.store.commitsSince(a, 301)).toEqual([]);
    const [only] = await t.store.commitsSince(b, 0);
    expect(only).toMatchObject({ runId: b, seq: 1, at: 250 });
  });
});

describe('store: draining an outbox an earlier version left', () => {
  it('hands over the commits its entries name, by run and seq, then deletes the entries', async () => {
    t = await freshStore();
    const [a, b] = [newRunId(), newRunId()].sort() as [string, string];
    await t.store.appendCommits([sampleCommit(a, 1), sampleCommit(a, 2), sampleCommit(b, 1)]);
    const outbox = t.client.db(t.dbName).collection<OutboxDoc>(collectionNames(t.prefix).outbox);
    // As the old append wrote them, plus one whose commit never landed (an old router's failed append).
    await outbox.insertMany([
      { _id: commitId(b, 1), runId: b, seq: 1, at: 5 },
      { _id: commitId(a, 2), runId: a, seq: 2, at: 5 },
      { _id: commitId(a, 1), runId: a, seq: 1, at: 5 },
      { _id: commitId(a, 9), runId: a, seq: 9, at: 5 },
    ]);
    const handed: string[][] = [];
    expect(await t.store.drainLegacyOutbox(async (cs) => void handed.push(keys(cs)))).toBe(4);
    expect(handed).toEqual([[`${a}:1`, `${a}:2`, `${b}:1`]]);
    expect(await outbox.countDocuments()).toBe(0);
    // Drained once: nothing is handed over again.
    expect(await t.store.drainLegacyOutbox(async (cs) => void handed.push(keys(cs)))).toBe(0);
    expect(handed).toHaveLength(1);
  });

  it('keeps the entries when the republish fails, for the next try', async () => {
    t = await freshStore();
    const a = newRunId();
    await t.store.appendCommit(sampleCommit(a, 1));
    const outbox = t.client.db(t.dbName).collection<OutboxDoc>(collectionNames(t.prefix).outbox);
    await outbox.insertOne({ _id: commitId(a, 1), runId: a, seq: 1, at: 5 });
    const failing = t.store.drainLegacyOutbox(async () => {
      throw new Error('NATS is away (test)');
    });
    await expect(failing).rejects.toThrow(/NATS is away/);
    expect(await outbox.countDocuments()).toBe(1);
    expect(await t.store.drainLegacyOutbox(async () => undefined)).toBe(1);
    expect(await outbox.countDocuments()).toBe(0);
  });

  it('on a store that never had an outbox: nothing to drain, and none is created', async () => {
    t = await freshStore();
    expect(await t.store.drainLegacyOutbox(async () => undefined)).toBe(0);
    const names = collectionNames(t.prefix);
    expect(await t.client.db(t.dbName).listCollections({ name: names.outbox }).toArray()).toEqual([]);
  });
});
