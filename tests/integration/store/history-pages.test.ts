/**
 * History is read a page (HISTORY_PAGE_SIZE commits) at a time, by equality on each commit's
 * `runPage` key: pages are contiguous across their boundaries, a reader that stops reads no
 * further page, gaps are refused, and commits written before page keys existed are still read.
 */
import { Binary, type Collection, type CommandStartedEvent, type Document } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { CorruptHistoryError } from '../../../shared/errors.js';
import { encodeEvents, encodePayload } from '../../../shared/history/codec.js';
import { collectionNames } from '../../../shared/names.js';
import { HISTORY_PAGE_SIZE } from '../../../shared/store/documents.js';
import type { StoredCommit } from '../../../shared/store/index.js';
import { connectMongo } from '../../harness/index.js';
import { collect, freshStore, newRunId, rejection, sampleCommit, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

const P = HISTORY_PAGE_SIZE;

async function appendSeqs(runId: string, seqs: readonly number[]): Promise<void> {
  const cs = seqs.map((seq) => sampleCommit(runId, seq, { payload: seq }));
  for (let i = 0; i < cs.length; i += 500) await t.store.appendCommits(cs.slice(i, i + 500));
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A commit as written before page keys existed: no `runPage`. */
function unpagedDoc(c: StoredCommit): Document {
  return {
    _id: `${c.runId}:${c.seq}`,
    runId: c.runId,
    workflowId: c.workflowId,
    seq: c.seq,
    at: c.at,
    events: new Binary(encodeEvents(c.events)),
    commands: new Binary(encodePayload(c.commands)),
  };
}

function rawCommits(): Collection<Document> {
  return t.client.db(t.dbName).collection(collectionNames(t.prefix).commits);
}

describe('store: history pages', () => {
  it('stores each commit under its page key and reads across page boundaries from any seq', async () => {
    t = await freshStore();
    const runId = newRunId();
    const n = 2 * P + 88;
    await appendSeqs(runId, range(1, n));
    const keys = await rawCommits()
      .find({ _id: { $in: [`${runId}:1`, `${runId}:${P}`, `${runId}:${P + 1}`] } as Document })
      .project<{ seq: number; runPage: string }>({ seq: 1, runPage: 1 })
      .toArray();
    expect(keys.sort((a, b) => a.seq - b.seq).map((k) => k.runPage)).toEqual([
      `${runId}:0`,
      `${runId}:0`,
      `${runId}:1`,
    ]);
    for (const from of [0, 1, P - 1, P, P + 1, 2 * P, n - 1, n, n + 5]) {
      const got = await collect(t.store.loadHistory(runId, from));
      expect(got.map((c) => c.seq)).toEqual(range(from + 1, n));
      for (const c of got.slice(0, 3)) expect(c).toEqual(sampleCommit(runId, c.seq, { payload: c.seq }));
    }
  });

  it('a reader that stops early reads only the pages it took commits from', async () => {
    const finds: Document[] = [];
    const client = await connectMongo(undefined, { monitorCommands: true });
    client.on('commandStarted', (e: CommandStartedEvent) => {
      if (e.commandName === 'find') finds.push(e.command.filter as Document);
    });
    t = await freshStore({}, client);
    const runId = newRunId();
    await appendSeqs(runId, range(1, 4 * P));
    finds.length = 0;
    const got: number[] = [];
    for await (const c of t.store.loadHistory(runId, P + 10)) {
      got.push(c.seq);
      if (got.length === P) break;
    }
    expect(got).toEqual(range(P + 11, 2 * P + 10));
    // The first PROBED_TAIL commits are read by _id, the rest by pages 1 and 2; page 3 never.
    const pages = finds.filter((f) => 'runPage' in f).map((f) => f.runPage);
    expect(pages).toEqual([`${runId}:1`, `${runId}:2`]);
    expect(finds.filter((f) => 'runId' in f)).toEqual([]);
  });

  it('refuses a gap inside a page, at a page boundary, and past a short page', async () => {
    t = await freshStore();
    const inside = newRunId();
    await appendSeqs(inside, [...range(1, 40), ...range(42, 60)]);
    const e1 = await rejection(collect(t.store.loadHistory(inside)));
    expect(e1).toBeInstanceOf(CorruptHistoryError);
    expect((e1 as Error).message).toMatch(/gap: commit seq 42 follows 40/);

    const boundary = newRunId();
    await appendSeqs(boundary, [...range(1, P - 1), ...range(P + 1, P + 5)]);
    const e2 = await rejection(collect(t.store.loadHistory(boundary)));
    expect((e2 as Error).message).toMatch(new RegExp(`gap: commit seq ${P + 1} follows ${P - 1}`));

    const wholePage = newRunId();
    await appendSeqs(wholePage, [...range(1, P + 3), ...range(P + 5, 2 * P + 2)]);
    const e3 = await rejection(collect(t.store.loadHistory(wholePage, 2)));
    expect((e3 as Error).message).toMatch(new RegExp(`gap: commit seq ${P + 5} follows ${P + 3}`));
  });

  it('refuses a commit stored under another page key instead of reading it forever', async () => {
    t = await freshStore();
    const runId = newRunId();
    await appendSeqs(runId, range(1, 5));
    await rawCommits().insertOne({ ...unpagedDoc(sampleCommit(runId, 6)), runPage: `${runId}:7` });
    const err = await rejection(collect(t.store.loadHistory(runId)));
    expect(err).toBeInstanceOf(CorruptHistoryError);
    expect((err as Error).message).toMatch(new RegExp(`commit seq 6 is stored but not under its page key ${runId}:0`));
  });

  it('reads runs whose commits predate page keys, also when newer commits carry them', async () => {
    t = await freshStore();
    const old = newRunId();
    const mixed = newRunId();
    const oldCommits = range(1, P + 20).map((seq) => sampleCommit(old, seq, { payload: seq }));
    await rawCommits().insertMany(oldCommits.map(unpagedDoc));
    await rawCommits().insertMany(range(1, 30).map((seq) => unpagedDoc(sampleCommit(mixed, seq, { payload: seq }))));
    await appendSeqs(mixed, range(31, P + 40));
    for (const from of [0, 3, P - 2, P + 19, P + 20]) {
      expect((await collect(t.store.loadHistory(old, from))).map((c) => c.seq)).toEqual(range(from + 1, P + 20));
    }
    for (const from of [0, 29, 30, P + 39]) {
      const got = await collect(t.store.loadHistory(mixed, from));
      expect(got.map((c) => c.seq)).toEqual(range(from + 1, P + 40));
      expect(got[0]).toEqual(sampleCommit(mixed, from + 1, { payload: from + 1 }));
    }
    // A gap among old commits is still refused by the range read they fall back to.
    const gapped = newRunId();
    await rawCommits().insertMany([1, 2, 4].map((seq) => unpagedDoc(sampleCommit(gapped, seq))));
    const err = await rejection(collect(t.store.loadHistory(gapped)));
    expect((err as Error).message).toMatch(/gap: commit seq 4 follows 2/);
  });
});
