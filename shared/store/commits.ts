/**
 * History commits: one document per decision, unique on `(runId, seq)`. A single insert is atomic
 * on every MongoDB deployment, so a duplicate key is the whole concurrency protocol: the loser
 * reloads and decides again. A byte-identical commit already stored counts as success, which makes
 * re-sending an insert whose acknowledgement was lost safe (nothing is written twice).
 *
 * The outbox is a collection of its own: an entry `{ _id: <commit _id>, runId, seq, at }` is
 * inserted with its commit and deleted once the commit's commands are published, so marking a
 * commit published is a batched delete rather than an update per commit (on FerretDB 1.x an update
 * costs 10-25 ms, a delete or insert of a small document well under 1 ms). The invariant: a stored
 * commit without an entry has had its commands published, or the input that made it has not been
 * acked. An append succeeds only once both halves are stored, the router acks an input only after
 * a successful append, and a redelivered input re-enters what its run stored since the message
 * arrived (reenter), so a crash between the halves is repaired by the redelivery it causes.
 */
import type { Collection } from 'mongodb';
import { forEachLimited } from '../concurrency.js';
import { ConflictError, CorruptHistoryError } from '../errors.js';
import type { Millis } from '../history/events.js';
import {
  type CommitDoc,
  commitId,
  fromCommitDoc,
  HISTORY_PAGE_SIZE,
  historyPageKey,
  historyPageOf,
  type OutboxDoc,
  toCommitDoc,
} from './documents.js';
import { duplicateIndexesOrThrow } from './errors.js';
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
/** Outbox entries one delete names at most. */
const DELETE_BATCH = 1000;
/**
 * How old an outbox entry whose commit does not exist must be before findUnpublished deletes it.
 * Such an entry is left by an append that wrote it and then failed (or died) before its commit
 * insert landed. Its input was not acked, so JetStream redelivers it after the ack wait (30 s)
 * and it is decided again, by an append that finds the entry there and inserts its commit within
 * milliseconds. An entry younger than this may belong to an append still under way and must stay:
 * deleting it just before its commit lands would leave a commit that no sweep ever publishes.
 * Five minutes is ten ack waits; past it nobody is about to insert that commit. (An append
 * repeated that late, after a store outage as long, finds the old entry and keeps its time: only
 * a sweep reading between that append's two inserts, followed by a crash before its publish,
 * could then lose the publish. No clock stamp on a shared entry can close that window.)
 */
export const OUTBOX_ORPHAN_HORIZON_MS = 5 * 60_000;

/** Commit operations over the commits collection and its outbox. */
export class CommitStore {
  constructor(
    private readonly commits: Collection<CommitDoc>,
    private readonly outbox: Collection<OutboxDoc>,
    private readonly maxPayloadBytes: number,
    private readonly now: () => Millis,
  ) {}

  async append(c: StoredCommit): Promise<void> {
    const outcomes = await this.appendMany([c]);
    if (outcomes[0]) throw outcomes[0];
  }

  /**
   * Inserts commits and their outbox entries side by side (one round trip on the hot path, not
   * two). An append succeeds only when both are stored: a failed entry insert fails it even where
   * the commit landed. That commit's input then is not acked, and its redelivery re-enters the
   * entries of what its run stored since (reenter), which covers a crash between the two as well.
   */
  async appendMany(cs: StoredCommit[]): Promise<(ConflictError | undefined)[]> {
    if (cs.length === 0) return [];
    const docs = cs.map((c) => toCommitDoc(c, this.maxPayloadBytes));
    const [entries, commits] = await Promise.allSettled([this.insertEntries(docs), this.insertCommits(cs, docs)]);
    if (commits.status === 'rejected') throw commits.reason;
    if (entries.status === 'rejected') throw entries.reason;
    return commits.value;
  }

  /** The commit half of appendMany: per-commit outcomes, a byte-identical commit counting as stored. */
  private async insertCommits(cs: StoredCommit[], docs: CommitDoc[]): Promise<(ConflictError | undefined)[]> {
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
   * Enters in the outbox every commit of `runId` written at or after `since` (entries already
   * there are kept): a redelivered input's repair, since a crash (or a failed entry insert)
   * between an append's two halves can leave a commit stored without its entry, its commands
   * never published. Harmless when they were: the sweep publishes them again, deduplicated by
   * message id, and deletes the entries. Returns how many commits were entered.
   */
  async reenter(runId: string, since: Millis): Promise<number> {
    const docs = await this.commits
      .find({ runId, at: { $gte: since } }, { projection: { _id: 1, runId: 1, seq: 1 } })
      .toArray();
    await this.insertEntries(docs);
    return docs.length;
  }

  /**
   * Inserts the outbox entries of commits being inserted, in one unordered insert. An entry
   * already there is fine: a retried append's, or that of a commit holding the seq already.
   *
   * A commit whose insert then conflicts keeps that entry: the entry's `_id` is the seq's, so it
   * may be the very entry the winner inserted with its commit (the winner's own insert found
   * ours and took it as its own), and deleting it could leave the winner's commit, not yet
   * published, without one. An entry left over this way names a stored commit: the sweep
   * publishes that commit's commands again (deduplicated by message id) and deletes it.
   */
  private async insertEntries(docs: readonly Pick<CommitDoc, '_id' | 'runId' | 'seq'>[]): Promise<void> {
    if (docs.length === 0) return;
    const at = this.now();
    const entries: OutboxDoc[] = docs.map((d) => ({ _id: d._id, runId: d.runId, seq: d.seq, at }));
    try {
      await this.outbox.insertMany(entries, { ordered: false });
    } catch (err) {
      duplicateIndexesOrThrow(err, entries.length);
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
   * replay without summary), the rest is read page by page (loadPages). A hole among the probed
   * commits reads as the end of history: finding a commit beyond a missing one takes a scan,
   * which is what this path exists to avoid.
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
    yield* this.loadPages(runId, last);
  }

  /**
   * Streams commits with seq > fromSeq a history page at a time: one equality lookup on
   * `runPage` per HISTORY_PAGE_SIZE commits, sorted here, so each page costs the same wherever it
   * lies in the run and a reader that stops early reads no further page. Where the next commit is
   * not in its page (the page ends short, or skips a seq), one `_id` probe of it tells: stored
   * without a page key (written before page keys existed), the rest is read by loadRange; stored
   * with one (appended since the page was read), the page is read again; missing, it is the end
   * of history, unless that page or the next holds later commits: a gap, refused. A gap of more
   * than a whole page past the last commit reads as the end.
   */
  private async *loadPages(runId: string, fromSeq: number): AsyncGenerator<StoredCommit> {
    let last = fromSeq;
    let page = historyPageOf(last + 1);
    let rereadAt = -1;
    for (;;) {
      const docs = await this.pageDocs(runId, page, last);
      for (const d of docs) {
        if (d.seq !== last + 1) break;
        last++;
        yield fromCommitDoc(d);
      }
      if (last === (page + 1) * HISTORY_PAGE_SIZE) {
        page++;
        continue;
      }
      const next = await this.probe(runId, last + 1);
      if (next === 'unpaged') return yield* this.loadRange(runId, last);
      if (next === 'paged') {
        // A page key that names another page would send us round forever: refuse it instead.
        if (rereadAt === last) throw misplacedError(runId, last + 1, historyPageKey(runId, page));
        rereadAt = last;
        continue;
      }
      const [later] = docs.filter((d) => d.seq > last + 1);
      const beyond = later ?? (await this.pageDocs(runId, page + 1, last))[0];
      if (beyond) throw gapError(runId, beyond.seq, last + 1);
      return;
    }
  }

  /** The commits of one history page with seq > `after`, ascending. */
  private async pageDocs(runId: string, page: number, after: number): Promise<CommitDoc[]> {
    const docs = await this.commits
      .find({ runPage: historyPageKey(runId, page) }, { batchSize: HISTORY_PAGE_SIZE + 1 })
      .toArray();
    return docs.filter((d) => d.seq > after).sort((a, b) => a.seq - b.seq);
  }

  /** Whether commit `seq` of a run is stored, and if so whether with a page key. */
  private async probe(runId: string, seq: number): Promise<'missing' | 'paged' | 'unpaged'> {
    const d = await this.commits.findOne({ _id: commitId(runId, seq) }, { projection: { runPage: 1 } });
    return d === null ? 'missing' : d.runPage === undefined ? 'unpaged' : 'paged';
  }

  /**
   * Streams commits with seq > fromSeq by one range query; refuses a gap in the sequence. Only
   * for runs whose commits predate page keys: FerretDB 1.x reads every commit of the run for it.
   */
  private async *loadRange(runId: string, fromSeq: number): AsyncGenerator<StoredCommit> {
    const cursor = this.commits.find({ runId, seq: { $gt: fromSeq } }, { sort: { seq: 1 }, batchSize: HISTORY_BATCH });
    let expected = fromSeq + 1;
    try {
      for await (const d of cursor) {
        if (d.seq !== expected) throw gapError(runId, d.seq, expected);
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
   * Deletes the outbox entries of commits whose commands are out, up to DELETE_BATCH per
   * command; an entry already gone (a repeat, or another router's sweep) is harmless.
   */
  async markPublished(commits: readonly { runId: string; seq: number }[]): Promise<void> {
    const ids = [...new Set(commits.map((c) => commitId(c.runId, c.seq)))];
    await this.deleteEntries(ids);
  }

  /**
   * Commits whose outbox entries were written before `olderThan`, in entry order (at, runId,
   * seq), up to `limit`. Each commit is read by `_id` (FerretDB 1.x scans for `$in`). Entries
   * whose commit does not exist are passed over, so one read may go on past the first page; those
   * older than OUTBOX_ORPHAN_HORIZON_MS are deleted (see there), younger ones are left.
   */
  async findUnpublished(opts: { olderThan: Millis; limit: number }): Promise<StoredCommit[]> {
    const horizon = this.now() - OUTBOX_ORPHAN_HORIZON_MS;
    const found: StoredCommit[] = [];
    const orphans: string[] = [];
    let skip = 0;
    while (found.length < opts.limit) {
      const want = opts.limit - found.length;
      const entries = await this.outbox
        .find({ at: { $lt: opts.olderThan } }, { sort: { at: 1, runId: 1, seq: 1 }, skip, limit: want })
        .toArray();
      const stored = await this.byIds(entries.map((e) => e._id));
      for (const e of entries) {
        const d = stored.get(e._id);
        if (d) found.push(fromCommitDoc(d));
        else if (e.at < horizon) orphans.push(e._id);
      }
      if (entries.length < want) break;
      skip += entries.length;
    }
    // Deleted after the pages are read, so the skip counts above stay true.
    await this.deleteEntries(orphans);
    return found;
  }

  /** Deletes outbox entries by `_id`, DELETE_BATCH per command. */
  private async deleteEntries(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += DELETE_BATCH) {
      await this.outbox.deleteMany({ _id: { $in: ids.slice(i, i + DELETE_BATCH) } });
    }
  }
}

function sameCommit(a: CommitDoc, b: CommitDoc): boolean {
  return (
    a.workflowId === b.workflowId &&
    Buffer.from(a.events.value()).equals(b.events.value()) &&
    Buffer.from(a.commands.value()).equals(b.commands.value())
  );
}

function gapError(runId: string, seq: number, expected: number): CorruptHistoryError {
  return new CorruptHistoryError(
    `history of run ${runId} has a gap: commit seq ${seq} follows ${expected - 1}, expected ${expected}`,
    { details: { runId, seq, expected } },
  );
}

function misplacedError(runId: string, seq: number, expected: string): CorruptHistoryError {
  return new CorruptHistoryError(
    `history of run ${runId}: commit seq ${seq} is stored but not under its page key ${expected}`,
    { details: { runId, seq, expected } },
  );
}

function conflict(c: StoredCommit, cause: unknown): ConflictError {
  return new ConflictError(`run ${c.runId} already has a commit at seq ${c.seq}; reload its history and decide again`, {
    cause,
    details: { runId: c.runId, seq: c.seq },
  });
}
