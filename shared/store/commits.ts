/**
 * History commits: one document per decision, unique on `(runId, seq)`. A single insert is atomic
 * on every MongoDB deployment, so a duplicate key is the whole concurrency protocol: the loser
 * reloads and decides again. A byte-identical commit already stored counts as success, which makes
 * re-sending an insert whose acknowledgement was lost safe (nothing is written twice).
 */
import type { Collection } from 'mongodb';
import { forEachLimited } from '../concurrency.js';
import { ConflictError, CorruptHistoryError } from '../errors.js';
import type { Millis } from '../history/events.js';
import { type CommitDoc, commitId, fromCommitDoc, toCommitDoc } from './documents.js';
import { duplicateIndexesOrThrow, isDuplicateKeyError } from './errors.js';
import { type ServerProfile, SINGLE_UPDATE_CONCURRENCY } from './server-profile.js';
import type { StoredCommit } from './types.js';

/** Cursor batch size for history reads. */
const HISTORY_BATCH = 1000;
/**
 * Commits of a tail read by `_id` before switching to a range query. A tail past a summary is
 * usually 0-2 commits; on FerretDB 1.x each lookup costs about a twelfth of a range query (a
 * cheap scan of `_id`s versus a scan that decodes every document), so a few stay cheaper.
 */
const PROBED_TAIL = 4;
/** Lookups by `_id` in flight at once when many commits are read by id. */
const ID_LOOKUP_CONCURRENCY = 8;

/** Commit operations over one collection. */
export class CommitStore {
  constructor(
    private readonly commits: Collection<CommitDoc>,
    private readonly maxPayloadBytes: number,
    private readonly profile: () => Promise<ServerProfile>,
  ) {}

  async append(c: StoredCommit): Promise<void> {
    const doc = toCommitDoc(c, this.maxPayloadBytes);
    try {
      await this.commits.insertOne(doc);
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
      const existing = await this.commits.findOne({ _id: doc._id });
      if (existing && sameCommit(existing, doc)) return;
      throw conflict(c, err);
    }
  }

  async appendMany(cs: StoredCommit[]): Promise<(ConflictError | undefined)[]> {
    if (cs.length === 0) return [];
    const docs = cs.map((c) => toCommitDoc(c, this.maxPayloadBytes));
    const outcomes: (ConflictError | undefined)[] = cs.map(() => undefined);
    try {
      await this.commits.insertMany(docs, { ordered: false });
      return outcomes;
    } catch (err) {
      const duplicates = duplicateIndexesOrThrow(err, docs.length);
      const existing = await this.byIds(duplicates.map((i) => docs[i]?._id ?? ''));
      for (const i of duplicates) {
        const doc = docs[i];
        const c = cs[i];
        if (!doc || !c) continue;
        const stored = existing.get(doc._id);
        if (!stored || !sameCommit(stored, doc)) outcomes[i] = conflict(c, err);
      }
      return outcomes;
    }
  }

  /**
   * The stored commits of `ids`, by `_id`: one lookup each, a few at a time. FerretDB 1.x does
   * not push `$in` on `_id` down (explain: `filterPushdown: false`, a sequential scan decoding
   * every commit of every run), so one `find` by `$in` costs a scan of the whole history.
   */
  private async byIds(ids: readonly string[]): Promise<Map<string, CommitDoc>> {
    const found = new Map<string, CommitDoc>();
    await forEachLimited([...new Set(ids)], ID_LOOKUP_CONCURRENCY, async (_id) => {
      const d = await this.commits.findOne({ _id });
      if (d) found.set(_id, d);
    });
    return found;
  }

  /**
   * Streams commits with seq > fromSeq, ascending. A tail past a summary (fromSeq > 0) is read by
   * `_id` lookups, `<runId>:<seq>` one after another, ending at the first missing seq: the one
   * filter every server answers without a collection scan (FerretDB 1.x scans for anything else,
   * `$in` on `_id` included). Past PROBED_TAIL commits, or for a whole history (fromSeq 0, a
   * replay without summary), one range query reads the rest and refuses a gap in it. A hole
   * among the probed commits reads as the end of history: finding a commit beyond a missing one
   * takes a scan, which is what this path exists to avoid.
   */
  async *load(runId: string, fromSeq = 0): AsyncGenerator<StoredCommit> {
    let last = fromSeq;
    if (fromSeq > 0) {
      for (let probed = 0; probed < PROBED_TAIL; probed++) {
        const d = await this.commits.findOne({ _id: commitId(runId, last + 1) });
        if (!d) return;
        last++;
        yield fromCommitDoc(d);
      }
    }
    yield* this.loadRange(runId, last);
  }

  /** Streams commits with seq > fromSeq by one range query; refuses a gap in the sequence. */
  private async *loadRange(runId: string, fromSeq: number): AsyncGenerator<StoredCommit> {
    const cursor = this.commits.find({ runId, seq: { $gt: fromSeq } }, { sort: { seq: 1 }, batchSize: HISTORY_BATCH });
    let expected = fromSeq + 1;
    try {
      for await (const d of cursor) {
        if (d.seq !== expected) {
          throw new CorruptHistoryError(
            `history of run ${runId} has a gap: commit seq ${d.seq} follows ${expected - 1}, expected ${expected}`,
            { details: { runId, seq: d.seq, expected } },
          );
        }
        expected++;
        yield fromCommitDoc(d);
      }
    } finally {
      await cursor.close();
    }
  }

  /** A scan on FerretDB 1.x (sort by a non-`_id` field); only tests and tools call it. */
  async lastSeq(runId: string): Promise<number> {
    const last = await this.commits.findOne({ runId }, { sort: { seq: -1 }, projection: { seq: 1 } });
    return last?.seq ?? 0;
  }

  /**
   * One update per commit, each filtered by `_id` alone (any other condition, `published: false`
   * included, makes FerretDB 1.x scan the collection); setting the flag again is harmless.
   */
  async markPublished(commits: readonly { runId: string; seq: number }[]): Promise<void> {
    const ids = [...new Set(commits.map((c) => commitId(c.runId, c.seq)))];
    if (ids.length === 0) return;
    if (ids.length > (await this.profile()).maxUpdatesPerCommand) {
      // One statement per command (see ServerProfile.maxUpdatesPerCommand).
      await forEachLimited(ids, SINGLE_UPDATE_CONCURRENCY, async (_id) => {
        await this.commits.updateOne({ _id }, { $set: { published: true } });
      });
      return;
    }
    await this.commits.bulkWrite(
      ids.map((_id) => ({ updateOne: { filter: { _id }, update: { $set: { published: true } } } })),
      { ordered: false },
    );
  }

  async findUnpublished(opts: { olderThan: Millis; limit: number }): Promise<StoredCommit[]> {
    const docs = await this.commits
      .find({ published: false, at: { $lt: opts.olderThan } }, { sort: { at: 1, runId: 1, seq: 1 }, limit: opts.limit })
      .toArray();
    return docs.map(fromCommitDoc);
  }
}

function sameCommit(a: CommitDoc, b: CommitDoc): boolean {
  return (
    a.workflowId === b.workflowId &&
    Buffer.from(a.events.value()).equals(b.events.value()) &&
    Buffer.from(a.commands.value()).equals(b.commands.value())
  );
}

function conflict(c: StoredCommit, cause: unknown): ConflictError {
  return new ConflictError(`run ${c.runId} already has a commit at seq ${c.seq}; reload its history and decide again`, {
    cause,
    details: { runId: c.runId, seq: c.seq },
  });
}
