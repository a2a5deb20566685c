/**
 * Run summaries and workflowId ownership. Summaries are projections of history: written after
 * the commit, possibly in batches, never moved backwards (a write only lands when its lastSeq is
 * higher; where a server's conditional updates are not atomic (FerretDB 1.x), two concurrent
 * writers of one run can leave it behind, which repairRun heals, as for any lagging summary).
 * WorkflowId ownership is a log of generations in its own collection, decided by unique inserts:
 * a unique index over *open* runs would need a partial index, which FerretDB lacks, and a
 * conditional update is not an atomic compare-and-set there.
 *
 * Every per-decision operation filters by `_id` alone where the server scans for anything else
 * (see server-profile.ts): holders are found by probing generations `<workflowId>:1`, `:2`, ...
 */
import { type AnyBulkWriteOperation, type Collection, type Filter, MongoBulkWriteError } from 'mongodb';
import { forEachLimited } from '../concurrency.js';
import { validateSearchAttributes } from '../engine/search-attributes.js';
import type { RunState } from '../engine/types.js';
import { ConflictError, InvalidInputError } from '../errors.js';
import type { RunStatus } from '../history/events.js';
import { storedCommitCloses } from './commits.js';
import {
  type CommitDoc,
  closeConfirmed,
  commitId,
  landsOver,
  type RunDoc,
  type WorkflowIdDoc,
  workflowIdGenId,
} from './documents.js';
import { insertUnordered, isDuplicateKeyError } from './errors.js';
import type { StoredPayloads } from './payloads.js';
import { type ServerProfile, SINGLE_UPDATE_CONCURRENCY } from './server-profile.js';
import type {
  ClaimResult,
  IdReusePolicy,
  Page,
  RunFilter,
  RunRecord,
  SummaryExtra,
  SummaryWrite,
  WorkflowIdClaim,
  WorkflowIdHolder,
} from './types.js';

/** Default and largest page size of listRuns. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

const NOTHING_BEHIND: SummaryWrite = Object.freeze({ maybeBehind: [] as string[] }) as SummaryWrite;

/** How often a claim retries after losing a race on the same workflowId. */
const CLAIM_ATTEMPTS = 5;

/** Run summary and workflowId operations. */
export class RunStore {
  constructor(
    private readonly runs: Collection<RunDoc>,
    private readonly ids: Collection<WorkflowIdDoc>,
    private readonly commits: Collection<CommitDoc>,
    private readonly payloads: StoredPayloads,
    private readonly now: () => number,
    private readonly profile: () => Promise<ServerProfile>,
    private readonly retentionMs: number,
  ) {}

  async save(state: RunState, extra: SummaryExtra = {}): Promise<SummaryWrite> {
    const fields = await this.fieldsOf(state, extra.closeToken);
    const set = extra.startMsgId === undefined ? fields : { ...fields, startMsgId: extra.startMsgId };
    if (extra.replacesClose !== undefined) {
      // Only over the writer's own close: any later write of the run stands.
      await this.runs.updateOne(
        { _id: state.runId, closeToken: extra.replacesClose },
        { $set: set, $unset: { closeToken: '' } },
      );
      return NOTHING_BEHIND;
    }
    if ((await this.profile()).idFiltersOnly) {
      // A run's first summary is a plain insert, atomic everywhere: a newer summary written first
      // makes it fail, and one written after it overwrites it. One round trip, no probe.
      if (insertsFirst(state) && (await this.insertSummaries([{ _id: state.runId, ...set } as RunDoc])).length === 0) {
        return NOTHING_BEHIND;
      }
      return this.updateById(state, set);
    }
    const filter = landsOverFilter(state);
    try {
      await this.runs.updateOne(filter, { $set: set }, { upsert: true });
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
      // The summary exists: either it is already as new (nothing to do), or another writer created
      // it between our match and our insert; a plain conditional update settles both.
      await this.runs.updateOne(filter, { $set: set });
    }
    return NOTHING_BEHIND;
  }

  /**
   * Writes a summary that exists (or may) by `_id` alone, for servers where conditional writes
   * scan (see ServerProfile.idFiltersOnly).
   */
  private async updateById(state: RunState, set: Partial<RunDoc>): Promise<SummaryWrite> {
    // A closed run's summary is its last: nothing newer can be stored, so it is written without
    // reading first (an older writer racing it finds the closing commit by its own probe).
    if (state.status !== 'running') {
      await this.runs.updateOne({ _id: state.runId }, { $set: set }, { upsert: true });
      return NOTHING_BEHIND;
    }
    // Read, then write by `_id`: two cheap lookups instead of one scan; as (non-)atomic as the
    // server's own conditional update, hence the check for a newer commit afterwards.
    for (let attempt = 0; ; attempt++) {
      const stored = await this.runs.findOne(
        { _id: state.runId },
        { projection: { lastSeq: 1, status: 1, closeToken: 1 } },
      );
      if (stored && !landsOver(stored, state.lastSeq)) return NOTHING_BEHIND;
      try {
        await this.runs.updateOne({ _id: state.runId }, { $set: set }, { upsert: true });
        return { maybeBehind: await this.newerCommitExists([state]) };
      } catch (err) {
        // Another writer created the summary between our read and our upsert: read it again.
        if (!isDuplicateKeyError(err) || attempt > 0) throw err;
      }
    }
  }

  /**
   * Inserts summaries in one unordered insert; returns the indexes of those already stored
   * (duplicate key), which the caller writes by update instead. Any other failure rejects.
   */
  private insertSummaries(docs: RunDoc[]): Promise<number[]> {
    return insertUnordered(this.runs, docs);
  }

  /**
   * Runs with a commit past the state just written (one `_id` probe each). A closed run takes no
   * more commits, so its probe is skipped.
   */
  private async newerCommitExists(states: readonly RunState[]): Promise<string[]> {
    const behind: string[] = [];
    const open = states.filter((s) => s.status === 'running');
    await forEachLimited(open, SINGLE_UPDATE_CONCURRENCY, async (s) => {
      const next = await this.commits.findOne({ _id: commitId(s.runId, s.lastSeq + 1) }, { projection: { _id: 1 } });
      if (next) behind.push(s.runId);
    });
    return behind;
  }

  /** A state's summary fields, with the token of a close written beside its commit. */
  private async fieldsOf(state: RunState, closeToken: string | undefined) {
    const fields = await this.payloads.runFields(state, this.retentionMs);
    return closeToken === undefined ? fields : { ...fields, closeToken };
  }

  async saveMany(states: RunState[], closeTokens?: ReadonlyMap<string, string>): Promise<SummaryWrite> {
    // Only the newest state of each run matters.
    const newest = new Map<string, RunState>();
    for (const s of states) {
      const seen = newest.get(s.runId);
      if (!seen || s.lastSeq > seen.lastSeq) newest.set(s.runId, s);
    }
    const batch = [...newest.values()];
    if (batch.length === 0) return NOTHING_BEHIND;
    const profile = await this.profile();
    const tokenOf = (s: RunState) => {
      const closeToken = closeTokens?.get(s.runId);
      return closeToken === undefined ? {} : { closeToken };
    };
    if (profile.idFiltersOnly) return this.saveManyById(batch, closeTokens);
    if (batch.length > profile.maxUpdatesPerCommand) {
      // Where statements go one per command (see ServerProfile), save() writes each state.
      const maybeBehind: string[] = [];
      await forEachLimited(batch, SINGLE_UPDATE_CONCURRENCY, async (s) => {
        maybeBehind.push(...(await this.save(s, tokenOf(s))).maybeBehind);
      });
      return { maybeBehind };
    }
    const fields = await Promise.all(batch.map((s) => this.fieldsOf(s, closeTokens?.get(s.runId))));
    const ops: AnyBulkWriteOperation<RunDoc>[] = batch.map((s, i) => ({
      updateOne: {
        filter: landsOverFilter(s),
        update: { $set: fields[i] as Awaited<ReturnType<StoredPayloads['runFields']>> },
        upsert: true,
      },
    }));
    try {
      await this.runs.bulkWrite(ops, { ordered: false });
    } catch (err) {
      if (!(err instanceof MongoBulkWriteError)) throw err;
      const writeErrors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      if (writeErrors.some((we) => we.code !== 11000)) throw err;
      // Duplicate keys mean "already newer" or a creation race. Some servers also stop an
      // unordered bulk at its first error, so redo everything from there one by one; each write
      // is guarded by lastSeq, so redoing one that landed changes nothing.
      const first = Math.min(...writeErrors.map((we) => we.index));
      const maybeBehind: string[] = [];
      for (const s of batch.slice(first)) maybeBehind.push(...(await this.save(s, tokenOf(s))).maybeBehind);
      return { maybeBehind };
    }
    return NOTHING_BEHIND;
  }

  /**
   * saveMany where conditional writes are neither atomic nor indexed (FerretDB 1.x). Summaries
   * written behind mostly do not exist yet when a run closes (or starts): those states go in one
   * unordered insert, one round trip for the batch; the ones found stored, and every other open
   * state, are written one by one by `_id` (updateById reads what is stored itself, skips the
   * read where it can, and settles races).
   */
  private async saveManyById(batch: RunState[], closeTokens?: ReadonlyMap<string, string>): Promise<SummaryWrite> {
    const inserts = batch.filter(insertsFirst);
    const docs = await Promise.all(
      inserts.map(async (s) => ({ _id: s.runId, ...(await this.fieldsOf(s, closeTokens?.get(s.runId))) }) as RunDoc),
    );
    const stored = inserts.length === 0 ? [] : await this.insertSummaries(docs);
    const updates = [...batch.filter((s) => !insertsFirst(s)), ...stored.flatMap((i) => inserts[i] ?? [])];
    const maybeBehind: string[] = [];
    await forEachLimited(updates, SINGLE_UPDATE_CONCURRENCY, async (s) => {
      const fields = await this.fieldsOf(s, closeTokens?.get(s.runId));
      maybeBehind.push(...(await this.updateById(s, fields)).maybeBehind);
    });
    return { maybeBehind };
  }

  async get(runId: string): Promise<RunRecord | undefined> {
    const d = await this.runs.findOne({ _id: runId });
    return d && (await this.confirmed(d)) ? this.payloads.run(d) : undefined;
  }

  /** Whether a summary stands as written (see closeConfirmed): one `_id` read for a close written beside its commit. */
  confirmed(d: Pick<RunDoc, '_id' | 'status' | 'lastSeq' | 'closeToken' | 'swept'>): Promise<boolean> {
    return closeConfirmed(d, (id) => storedCommitCloses(this.commits, this.payloads, id));
  }

  async getByWorkflowId(workflowId: string): Promise<RunRecord | undefined> {
    const gens = await this.generations(workflowId);
    // The newest generation whose run has a summary (a just-claimed run may have none yet).
    for (let i = gens.length - 1; i >= 0; i--) {
      const run = await this.get(gens[i]?.runId ?? '');
      if (run) return run;
    }
    // Every run claims its workflowId before its first commit, so an id never claimed has no run:
    // no scan of the summaries (on FerretDB 1.x, one per start request, growing with the data).
    return undefined;
  }

  async list(filter: RunFilter, page: { cursor?: string; limit?: number } = {}): Promise<Page<RunRecord>> {
    const limit = Math.min(Math.max(1, Math.floor(page.limit ?? DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE);
    // One flat filter, no `$and`: FerretDB 1.x pushes a top-level equality (status, workflowType)
    // down to its index even beside other conditions, but nothing inside an `$and`, so a page
    // past the first would read every summary.
    const query: Record<string, unknown> = {};
    if (filter.status !== undefined) {
      query.status = Array.isArray(filter.status) ? { $in: filter.status } : filter.status;
    }
    if (filter.workflowType !== undefined) query.workflowType = filter.workflowType;
    if (filter.startedFrom !== undefined || filter.startedTo !== undefined) {
      query.startedAt = {
        ...(filter.startedFrom === undefined ? {} : { $gte: filter.startedFrom }),
        ...(filter.startedTo === undefined ? {} : { $lt: filter.startedTo }),
      };
    }
    if (filter.where !== undefined) {
      // Keys are checked ([A-Za-z][A-Za-z0-9_]*), so they are safe in a dotted field path.
      for (const [key, value] of Object.entries(validateSearchAttributes(filter.where, 'where'))) {
        query[`searchAttributes.${key}`] = value;
      }
    }
    if (page.cursor !== undefined) {
      const { startedAt, runId } = decodeCursor(page.cursor);
      query.$or = [{ startedAt: { $lt: startedAt } }, { startedAt, _id: { $lt: runId } }];
    }
    const docs = await this.runs
      .find(query as Filter<RunDoc>, { sort: { startedAt: -1, _id: -1 }, limit: limit + 1 })
      .toArray();
    const items = await Promise.all(docs.slice(0, limit).map((d) => this.payloads.run(d)));
    const last = items[items.length - 1];
    return docs.length > limit && last ? { items, nextCursor: encodeCursor(last.startedAt, last.runId) } : { items };
  }

  async claim(workflowId: string, runId: string, policy: IdReusePolicy, startMsgId?: string): Promise<ClaimResult> {
    // Most ids are new: inserting generation 1 straight away claims them in one round trip, and
    // fails only where a holder exists, which the loop below then looks at.
    if (await this.insertGeneration(workflowId, 1, runId, startMsgId)) return { claimed: true, gen: 1 };
    return this.claimHeld(workflowId, runId, policy, startMsgId);
  }

  /**
   * Claims of many starts: generation 1 of every id in one unordered insert (most ids are new),
   * then claimHeld for each id found held. A claim that keeps losing races gets its ConflictError.
   */
  async claimMany(claims: readonly WorkflowIdClaim[]): Promise<(ClaimResult | ConflictError)[]> {
    if (claims.length === 0) return [];
    const docs = claims.map((c) => this.generationDoc(c.workflowId, 1, c.runId, c.startMsgId));
    const held = await insertUnordered(this.ids, docs);
    const results: (ClaimResult | ConflictError)[] = claims.map(() => ({ claimed: true, gen: 1 }));
    await forEachLimited(held, SINGLE_UPDATE_CONCURRENCY, async (i) => {
      const c = claims[i];
      if (!c) return;
      results[i] = await this.claimHeld(c.workflowId, c.runId, c.policy, c.startMsgId).catch((err: unknown) => {
        if (err instanceof ConflictError) return err;
        throw err;
      });
    });
    return results;
  }

  /** A claim of an id whose generation 1 exists: looks at the holder, takes the next generation if free. */
  private async claimHeld(
    workflowId: string,
    runId: string,
    policy: IdReusePolicy,
    startMsgId?: string,
  ): Promise<ClaimResult> {
    let holder: WorkflowIdHolder | undefined;
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      holder = await this.holder(workflowId, holder);
      // The same start again (redelivery): its decision finds the run it began, open or closed.
      if (holder?.runId === runId) return { claimed: true, gen: holder.gen };
      if (holder) {
        // Whether the holder is open is its summary's to say (written before its close is
        // published, and standing once its closing commit is stored); a holder without one is
        // still starting.
        const run = await this.runs.findOne(
          { _id: holder.runId },
          { projection: { status: 1, lastSeq: 1, closeToken: 1, swept: 1 } },
        );
        const status: RunStatus = run && (await this.confirmed(run)) ? run.status : 'running';
        if (startMsgId !== undefined && holder.startMsgId === startMsgId) {
          // The same start message published again past JetStream's duplicate window: its run, even
          // closed, is the answer; a second run would apply one start twice.
          return { claimed: false, runId: holder.runId, status, sameStart: true };
        }
        if (status === 'running' || policy === 'rejectDuplicate') {
          return { claimed: false, runId: holder.runId, status };
        }
      }
      // When this fails, another start took the generation first: look at the new holder.
      const gen = (holder?.gen ?? 0) + 1;
      if (await this.insertGeneration(workflowId, gen, runId, startMsgId)) return { claimed: true, gen };
    }
    throw new ConflictError(
      `workflowId ${workflowId} changed hands ${CLAIM_ATTEMPTS} times during one claim; try again`,
      {
        details: { workflowId, runId },
      },
    );
  }

  private generationDoc(workflowId: string, gen: number, runId: string, startMsgId?: string): WorkflowIdDoc {
    return {
      _id: workflowIdGenId(workflowId, gen),
      workflowId,
      gen,
      runId,
      claimedAt: this.now(),
      ...(startMsgId === undefined ? {} : { startMsgId }),
    };
  }

  /** Inserts generation `gen` of a workflowId for runId; false when that generation exists. */
  private async insertGeneration(
    workflowId: string,
    gen: number,
    runId: string,
    startMsgId?: string,
  ): Promise<boolean> {
    try {
      await this.ids.insertOne(this.generationDoc(workflowId, gen, runId, startMsgId));
      return true;
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
      return false;
    }
  }

  /**
   * The highest generation of a workflowId: its current (or last) holder, read by `_id` from just
   * past `known` (generations are never removed, and gen n+1 is inserted only after gen n was read,
   * so there is no hole): one lookup when the caller's holder is still current.
   */
  async holder(workflowId: string, known?: WorkflowIdHolder): Promise<WorkflowIdHolder | undefined> {
    let last = known;
    for (let gen = (known?.gen ?? 0) + 1; ; gen++) {
      const d = await this.ids.findOne({ _id: workflowIdGenId(workflowId, gen) });
      if (!d) return last;
      last = { runId: d.runId, gen: d.gen, ...(d.startMsgId === undefined ? {} : { startMsgId: d.startMsgId }) };
    }
  }

  /** Whether some generation of a workflowId names `runId` (the run claimed it once). */
  async heldBy(workflowId: string, runId: string): Promise<boolean> {
    return (await this.generations(workflowId)).some((g) => g.runId === runId);
  }

  /**
   * Every generation of a workflowId, oldest first, read by `_id` up to the first missing one
   * (claims insert gen n+1 only after reading gen n, so there is no hole). Short: a generation is
   * added only when the id is reused after its run closed.
   */
  private async generations(workflowId: string): Promise<WorkflowIdDoc[]> {
    const gens: WorkflowIdDoc[] = [];
    for (;;) {
      const d = await this.ids.findOne({ _id: workflowIdGenId(workflowId, gens.length + 1) });
      if (!d) return gens;
      gens.push(d);
    }
  }
}

/**
 * Whether a summary is first tried as an insert (idFiltersOnly servers): a run's first state, or
 * its closing one, which under write-behind is usually its first written too. An insert never
 * moves a summary backwards: it lands only where none is stored.
 */
function insertsFirst(state: RunState): boolean {
  return state.lastSeq === 1 || state.status !== 'running';
}

/** landsOver as a filter, for servers whose conditional updates are atomic and indexed. */
function landsOverFilter(state: RunState): Filter<RunDoc> {
  return {
    _id: state.runId,
    $or: [
      { lastSeq: { $lt: state.lastSeq } },
      { lastSeq: state.lastSeq, closeToken: { $exists: true }, status: { $ne: 'running' } },
    ],
  };
}

function encodeCursor(startedAt: number, runId: string): string {
  return Buffer.from(JSON.stringify([startedAt, runId])).toString('base64url');
}

function decodeCursor(cursor: string): { startedAt: number; runId: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string')
      return { startedAt: v[0], runId: v[1] };
  } catch {
    // fall through
  }
  throw new InvalidInputError(`invalid page cursor ${JSON.stringify(cursor)}; pass back a nextCursor unchanged`);
}
