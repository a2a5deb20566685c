/**
 * History commits: one document per decision, unique on `(runId, seq)`. A single insert is atomic
 * on every MongoDB deployment, so a duplicate key is the whole concurrency protocol: the loser
 * reloads and decides again. A byte-identical commit already stored counts as success, which makes
 * re-sending an insert whose acknowledgement was lost safe (nothing is written twice).
 *
 * An append writes the commit and nothing else: whether its commands are out is not stored. The
 * router acks the input that made a commit only once the commit's commands are published, and a
 * redelivered input republishes what its run stored since the message arrived (`since`), so a
 * crash or failure anywhere between the insert and the ack is repaired by the redelivery it
 * causes (see services/router/outbox.ts). The outbox collection of earlier versions is only
 * read once, by drainLegacyOutbox.
 */
import { type Collection, MongoBulkWriteError } from 'mongodb';
import { forEachLimited } from '../concurrency.js';
import { ConflictError, CorruptHistoryError } from '../errors.js';
import type { Millis, RunStatus } from '../history/events.js';
import {
  type CommitDoc,
  commitCloses,
  commitId,
  HISTORY_PAGE_SIZE,
  historyPageKey,
  historyPageOf,
  type OutboxDoc,
} from './documents.js';
import { DUPLICATE_KEY, insertUnordered } from './errors.js';
import type { StoredPayloads } from './payloads.js';
import type { ChainAppend, StoredCommit } from './types.js';

/** Cursor batch size for history reads. */
const HISTORY_BATCH = 1000;
/**
 * Commits of a tail read by `_id` before switching to a range query. A tail past a summary is
 * usually 0-2 commits; on FerretDB 1.x each lookup costs about a twelfth of a range query (a
 * cheap scan of `_id`s versus a scan that decodes every document), so a few stay cheaper.
 */
const PROBED_TAIL = 4;
/**
 * Commits read back from a run's last by `_id` before a republish switches to a range query (see
 * since): an input found already in its run was mostly taken by one of its run's last commits.
 */
const PROBED_BACK = 8;
/** Lookups by `_id` in flight at once when many commits are read by id. */
const ID_LOOKUP_CONCURRENCY = 8;
/** Entries of a legacy outbox read (and then deleted) per round of drainLegacyOutbox. */
const LEGACY_BATCH = 256;

/**
 * The status the commit `id` closes its run with (see commitCloses): its `closes` alone, one
 * small read; only a commit without one is read whole and decoded, which is what a close
 * confirmed by a commit from before `closes` existed, or refuted by one that leaves the run open,
 * costs.
 */
export async function storedCommitCloses(
  commits: Collection<CommitDoc>,
  payloads: Pick<StoredPayloads, 'commit'>,
  id: string,
): Promise<RunStatus | undefined> {
  const head = await commits.findOne({ _id: id }, { projection: { closes: 1 } });
  if (!head || head.closes !== undefined) return head?.closes;
  return commitCloses(await commits.findOne({ _id: id }), (d) => payloads.commit(d));
}

/** Commit operations over the commits collection (and, once, a legacy outbox). */
export class CommitStore {
  constructor(
    private readonly commits: Collection<CommitDoc>,
    /** The outbox collection of versions before the outbox cost no write: drained once, see drainLegacyOutbox. */
    private readonly legacyOutbox: Collection<OutboxDoc>,
    private readonly payloads: StoredPayloads,
  ) {}

  async append(c: StoredCommit): Promise<void> {
    const outcomes = await this.appendMany([c]);
    if (outcomes[0]) throw outcomes[0];
  }

  /**
   * Inserts commits in one unordered insert (one round trip for a whole batch of decisions).
   * Per-commit outcomes: undefined when stored (a byte-identical commit already there counts),
   * ConflictError when another commit holds the seq.
   */
  async appendMany(cs: StoredCommit[]): Promise<(ConflictError | undefined)[]> {
    if (cs.length === 0) return [];
    const docs = await Promise.all(cs.map((c) => this.payloads.commitDoc(c)));
    return this.insertCommits(cs, docs);
  }

  /**
   * Inserts a chain of one run's consecutive commits in one ordered insert. An ordered insert stops at its first duplicate, so a chain
   * never lands past a commit another writer holds. A duplicate that is byte-identical (a retry
   * whose acknowledgement was lost) counts as stored and the rest is inserted again.
   */
  async appendChain(cs: StoredCommit[]): Promise<ChainAppend> {
    if (cs.length === 0) return { stored: 0 };
    return this.insertChain(cs, await Promise.all(cs.map((c) => this.payloads.commitDoc(c))), 0);
  }

  private async insertChain(cs: StoredCommit[], docs: CommitDoc[], from: number): Promise<ChainAppend> {
    try {
      await this.commits.insertMany(docs.slice(from), { ordered: true });
      return { stored: docs.length };
    } catch (err) {
      const at = from + orderedDuplicateIndexOrThrow(err);
      const doc = docs[at] as CommitDoc;
      const stored = await this.commits.findOne({ _id: doc._id });
      if (stored && (await this.payloads.sameCommit(stored, cs[at] as StoredCommit))) {
        return at + 1 === docs.length ? { stored: docs.length } : this.insertChain(cs, docs, at + 1);
      }
      return { stored: at, conflict: conflict(cs[at] as StoredCommit, err) };
    }
  }

  /** The commit half of appendMany: per-commit outcomes, a byte-identical commit counting as stored. */
  private async insertCommits(cs: StoredCommit[], docs: CommitDoc[]): Promise<(ConflictError | undefined)[]> {
    const outcomes: (ConflictError | undefined)[] = cs.map(() => undefined);
    const duplicates = await insertUnordered(this.commits, docs);
    if (duplicates.length === 0) return outcomes;
    const existing = await this.byIds(duplicates.map((i) => docs[i]?._id ?? ''));
    for (const i of duplicates) {
      const doc = docs[i];
      const c = cs[i];
      if (!doc || !c) continue;
      const stored = existing.get(doc._id);
      if (!stored || !(await this.payloads.sameCommit(stored, c))) outcomes[i] = conflict(c);
    }
    return outcomes;
  }

  /**
   * The commits of `runId` written at or after `since` (their `at`), ascending by seq: what an
   * input found already in its run republishes. With `lastSeq` (the run's last commit, which the
   * caller has loaded), read back from it by `_id`: the commits since a recent input are its last
   * few, and FerretDB 1.x answers an `_id` lookup without a scan. Past PROBED_BACK of them, and
   * without `lastSeq`, a range query (a scan on FerretDB 1.x) reads them all.
   */
  async since(runId: string, since: Millis, lastSeq?: number): Promise<StoredCommit[]> {
    let docs: CommitDoc[] | undefined;
    if (lastSeq !== undefined) {
      const back: CommitDoc[] = [];
      let seq = lastSeq;
      let ended = false;
      while (!ended && back.length < PROBED_BACK) {
        const d = seq >= 1 ? await this.commits.findOne({ _id: commitId(runId, seq) }) : null;
        // Older than `since`, or the start of what is stored: every commit since is read.
        if (!d || d.at < since) ended = true;
        else back.push(d);
        seq--;
      }
      if (ended) docs = back;
    }
    docs ??= await this.commits.find({ runId, at: { $gte: since } }, { batchSize: HISTORY_BATCH }).toArray();
    return (await Promise.all(docs.map((d) => this.payloads.commit(d)))).sort((a, b) => a.seq - b.seq);
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
        yield await this.payloads.commit(d);
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
        yield await this.payloads.commit(d);
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
        yield await this.payloads.commit(d);
      }
    } finally {
      await cursor.close();
    }
  }

  /** A scan on FerretDB 1.x (sort by a non-`_id` field); only tests and tools call it. */
  /** Deletes every commit of a run (a refused start's, see Store.discardRefusedStart); returns how many. */
  async deleteRun(runId: string): Promise<number> {
    return (await this.commits.deleteMany({ runId })).deletedCount;
  }

  async lastSeq(runId: string): Promise<number> {
    const last = await this.commits.findOne({ runId }, { sort: { seq: -1 }, projection: { seq: 1 } });
    return last?.seq ?? 0;
  }

  /**
   * Upgrades from a version that kept an outbox collection: hands the commits its entries name to
   * `republish` (sorted by run, then seq), LEGACY_BATCH entries at a time, deleting each batch's
   * entries once `republish` resolved. Entries whose commit is missing are deleted with them (an
   * old router's append that never landed). Stops at the first failure, entries kept for the
   * next try. Returns how many entries were drained; 0 at once when the collection holds none.
   */
  async drainLegacyOutbox(republish: (commits: StoredCommit[]) => Promise<void>): Promise<number> {
    let drained = 0;
    for (;;) {
      const entries = await this.legacyOutbox.find({}, { projection: { _id: 1 }, limit: LEGACY_BATCH }).toArray();
      if (entries.length === 0) return drained;
      const ids = entries.map((e) => e._id);
      const stored = await this.byIds(ids);
      const commits = await Promise.all([...stored.values()].map((d) => this.payloads.commit(d)));
      commits.sort((a, b) => (a.runId === b.runId ? a.seq - b.seq : a.runId < b.runId ? -1 : 1));
      await republish(commits);
      await this.legacyOutbox.deleteMany({ _id: { $in: ids } });
      drained += ids.length;
    }
  }
}

/**
 * The index at which an ordered insertMany stopped on a duplicate key, when that is all `err`
 * says and every document before it was inserted; rethrows `err` otherwise (see
 * duplicateIndexesOrThrow: a batch cut short must not read as a conflict).
 */
function orderedDuplicateIndexOrThrow(err: unknown): number {
  if (!(err instanceof MongoBulkWriteError)) throw err;
  const errors = [err.writeErrors].flat();
  const we = errors[0];
  if (errors.length !== 1 || !we || we.code !== DUPLICATE_KEY || we.index !== err.insertedCount) throw err;
  return we.index;
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

function conflict(c: StoredCommit, cause?: unknown): ConflictError {
  return new ConflictError(`run ${c.runId} already has a commit at seq ${c.seq}; reload its history and decide again`, {
    ...(cause === undefined ? {} : { cause }),
    details: { runId: c.runId, seq: c.seq },
  });
}
