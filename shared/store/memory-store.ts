/**
 * An in-memory Store, for unit tests of the router (and anything else over the Store contract)
 * without servers. It keeps the same documents as the MongoDB store, built by the same
 * conversions (documents.ts), so payload limits, encoding and decoding behave alike, and it
 * answers every operation as the MongoDB store does on MongoDB: a duplicate `(runId, seq)` is a
 * ConflictError unless byte-identical, workflowIds are claimed by generations, summaries never move backwards, timers are leased by epochs.
 * tests/integration/router/store-contract.test.ts runs the same assertions against both stores.
 * Slightly over 400 lines: it mirrors the whole Store interface, one concern of the MongoDB store
 * per section (commits, workflowIds, summaries, timers), and splitting it would scatter
 * the one in-memory state they share.
 */

import { isDeepStrictEqual } from 'node:util';
import { validateSearchAttributes } from '../engine/search-attributes.js';
import type { RunState } from '../engine/types.js';
import { ConflictError, CorruptHistoryError, InvalidInputError } from '../errors.js';
import type { Millis, RunStatus } from '../history/events.js';
import {
  type CommitDoc,
  closeConfirmed,
  commitCloses,
  commitId,
  fromTimerDoc,
  landsOver,
  type RunDoc,
  type TimerDoc,
  type TimerLeaseDoc,
  timerId,
  toTombstone,
  type WorkflowIdDoc,
} from './documents.js';
import { createMemoryEventWaitStore } from './memory-events.js';
import { createMemoryScheduleStore } from './memory-schedules.js';
import { memoryRunBlobs, StoredPayloads } from './payloads.js';
import type { SweepReport } from './retention.js';
import { compareFiringOrder } from './timers.js';
import {
  type ChainAppend,
  type ClaimResult,
  defaultStoreOptions,
  type IdReusePolicy,
  type OpenRunVersion,
  type Page,
  type RunFilter,
  type RunRecord,
  type Store,
  type StoredCommit,
  type SummaryExtra,
  type SummaryWrite,
  type TimerRecord,
  type WorkflowIdClaim,
  type WorkflowIdHolder,
  type WorkflowVersionKey,
} from './types.js';
import { versionId } from './versions.js';

/** Options of createMemoryStore. */
export interface MemoryStoreOptions {
  /** Largest encoded events or commands of one commit, or RunState of one run. @default 64 MiB */
  maxPayloadBytes: number;
  /** Larger encoded payloads are kept out of band (in memory too), as the MongoDB store does. @default 256 KiB */
  offloadPayloadBytes: number;
  /** Stamps workflowId claims; the sweeper's clock. @default Date.now */
  now: () => Millis;
  /** Retention of closed runs whose start gave none (StoreOptions.retentionMs). @default 30 days */
  retentionMs: number;
}

const NOTHING_BEHIND: SummaryWrite = Object.freeze({ maybeBehind: [] as string[] }) as SummaryWrite;
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

/** Creates an empty in-memory store. */
export function createMemoryStore(given: Partial<MemoryStoreOptions> = {}): Store {
  const d = defaultStoreOptions();
  return new MemoryStore({
    maxPayloadBytes: given.maxPayloadBytes ?? d.maxPayloadBytes,
    offloadPayloadBytes: given.offloadPayloadBytes ?? d.offloadPayloadBytes,
    now: given.now ?? d.now,
    retentionMs: given.retentionMs ?? d.retentionMs,
  });
}

class MemoryStore implements Store {
  private readonly commits = new Map<string, CommitDoc>();
  private readonly runs = new Map<string, RunDoc>();
  /** Generations of each workflowId, oldest first. */
  private readonly ids = new Map<string, WorkflowIdDoc[]>();
  private readonly timers = new Map<string, TimerDoc>();
  /** Leases of each timer, by epoch (1, 2, ...). */
  private readonly leases = new Map<string, TimerLeaseDoc[]>();
  readonly schedules = createMemoryScheduleStore();
  readonly eventWaits = createMemoryEventWaitStore();

  private readonly payloads: StoredPayloads;

  constructor(private readonly o: MemoryStoreOptions) {
    this.payloads = new StoredPayloads(memoryRunBlobs(), {
      offloadBytes: o.offloadPayloadBytes,
      maxBytes: o.maxPayloadBytes,
    });
  }

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  // ---- history ----

  async appendCommit(c: StoredCommit): Promise<void> {
    const [outcome] = await this.appendCommits([c]);
    if (outcome) throw outcome;
  }

  async appendCommits(cs: StoredCommit[]): Promise<(ConflictError | undefined)[]> {
    // Every commit is encoded (and refused when too large) before anything is written.
    const docs = await Promise.all(cs.map((c) => this.payloads.commitDoc(c)));
    const outcomes: (ConflictError | undefined)[] = [];
    for (const [i, doc] of docs.entries()) {
      const stored = this.commits.get(doc._id);
      if (!stored) this.commits.set(doc._id, doc);
      outcomes.push(
        !stored || (await this.payloads.sameCommit(stored, cs[i] as StoredCommit))
          ? undefined
          : new ConflictError(
              `run ${doc.runId} already has a commit at seq ${doc.seq}; reload its history and decide again`,
              { details: { runId: doc.runId, seq: doc.seq } },
            ),
      );
    }
    return outcomes;
  }

  async appendChain(cs: StoredCommit[]): Promise<ChainAppend> {
    const docs = await Promise.all(cs.map((c) => this.payloads.commitDoc(c)));
    for (const [i, doc] of docs.entries()) {
      const stored = this.commits.get(doc._id);
      if (!stored) this.commits.set(doc._id, doc);
      else if (!(await this.payloads.sameCommit(stored, cs[i] as StoredCommit))) {
        const conflict = new ConflictError(
          `run ${doc.runId} already has a commit at seq ${doc.seq}; reload its history and decide again`,
          { details: { runId: doc.runId, seq: doc.seq } },
        );
        return { stored: i, conflict };
      }
    }
    return { stored: docs.length };
  }

  async *loadHistory(runId: string, fromSeq = 0): AsyncIterable<StoredCommit> {
    const seqs = this.seqsOf(runId).filter((s) => s > fromSeq);
    let expected = fromSeq + 1;
    for (const seq of seqs) {
      if (seq !== expected) {
        throw new CorruptHistoryError(
          `history of run ${runId} has a gap: commit seq ${seq} follows ${expected - 1}, expected ${expected}`,
          { details: { runId, seq, expected } },
        );
      }
      expected++;
      yield await this.payloads.commit(this.commits.get(commitId(runId, seq)) as CommitDoc);
    }
  }

  async lastSeq(runId: string): Promise<number> {
    return this.seqsOf(runId).at(-1) ?? 0;
  }

  async commitsSince(runId: string, since: Millis): Promise<StoredCommit[]> {
    const docs = [...this.commits.values()].filter((c) => c.runId === runId && c.at >= since);
    docs.sort((a, b) => a.seq - b.seq);
    return Promise.all(docs.map((d) => this.payloads.commit(d)));
  }

  /** Nothing to drain: no earlier version ever wrote to a memory store. */
  async drainLegacyOutbox(): Promise<number> {
    return 0;
  }

  // ---- workflowId ownership ----

  async claimWorkflowId(
    workflowId: string,
    runId: string,
    policy: IdReusePolicy,
    startMsgId?: string,
  ): Promise<ClaimResult> {
    const gens = this.ids.get(workflowId) ?? [];
    const holder = gens.at(-1);
    if (holder) {
      if (holder.runId === runId) return { claimed: true, gen: holder.gen };
      const run = this.runs.get(holder.runId);
      const status: RunStatus = run && (await this.confirmed(run)) ? run.status : 'running';
      if (startMsgId !== undefined && holder.startMsgId === startMsgId) {
        return { claimed: false, runId: holder.runId, status, sameStart: true };
      }
      if (status === 'running' || policy === 'rejectDuplicate') return { claimed: false, runId: holder.runId, status };
    }
    const gen = gens.length + 1;
    gens.push({
      _id: `${workflowId}:${gen}`,
      workflowId,
      gen,
      runId,
      claimedAt: this.o.now(),
      ...(startMsgId === undefined ? {} : { startMsgId }),
    });
    this.ids.set(workflowId, gens);
    return { claimed: true, gen };
  }

  async claimWorkflowIds(claims: readonly WorkflowIdClaim[]): Promise<(ClaimResult | ConflictError)[]> {
    const results: (ClaimResult | ConflictError)[] = [];
    for (const c of claims) results.push(await this.claimWorkflowId(c.workflowId, c.runId, c.policy, c.startMsgId));
    return results;
  }

  async discardRefusedStart(workflowId: string, runId: string): Promise<number> {
    if ((this.ids.get(workflowId) ?? []).some((g) => g.runId === runId)) return 0;
    let deleted = 0;
    for (const [id, c] of this.commits) {
      if (c.runId !== runId) continue;
      this.commits.delete(id);
      deleted++;
    }
    return deleted;
  }

  async workflowIdHolder(workflowId: string, known?: WorkflowIdHolder): Promise<WorkflowIdHolder | undefined> {
    const holder = (this.ids.get(workflowId) ?? []).at(-1);
    if (!holder) return known;
    return {
      runId: holder.runId,
      gen: holder.gen,
      ...(holder.startMsgId === undefined ? {} : { startMsgId: holder.startMsgId }),
    };
  }

  // ---- run summaries ----

  async saveRun(state: RunState, extra: SummaryExtra = {}): Promise<SummaryWrite> {
    const fields = await this.payloads.runFields(state, this.o.retentionMs);
    const stored = this.runs.get(state.runId);
    if (
      extra.replacesClose !== undefined
        ? stored?.closeToken !== extra.replacesClose
        : stored && !landsOver(stored, state.lastSeq)
    ) {
      return NOTHING_BEHIND;
    }
    // An upsert's $set keeps fields it does not name: a start's msg id outlives later summaries,
    // and so does a close's token (but the writer's own take-back).
    const startMsgId = extra.startMsgId ?? stored?.startMsgId;
    const closeToken = extra.replacesClose !== undefined ? undefined : (extra.closeToken ?? stored?.closeToken);
    this.runs.set(state.runId, {
      _id: state.runId,
      ...fields,
      ...(startMsgId === undefined ? {} : { startMsgId }),
      ...(closeToken === undefined ? {} : { closeToken }),
    });
    return NOTHING_BEHIND;
  }

  async saveRuns(states: RunState[], closeTokens?: ReadonlyMap<string, string>): Promise<SummaryWrite> {
    for (const s of states) {
      const closeToken = closeTokens?.get(s.runId);
      await this.saveRun(s, closeToken === undefined ? {} : { closeToken });
    }
    return NOTHING_BEHIND;
  }

  /** Whether a summary stands as written (see closeConfirmed). */
  private confirmed(d: RunDoc): Promise<boolean> {
    return closeConfirmed(d, (id) => commitCloses(this.commits.get(id), (c) => this.payloads.commit(c)));
  }

  async sweepExpiredRuns(): Promise<SweepReport> {
    const now = this.o.now();
    const report: SweepReport = { swept: 0, buckets: 0, runIds: [] };
    for (const run of [...this.runs.values()]) {
      if (run.expireAt === undefined || run.expireAt > now || !(await this.confirmed(run))) continue;
      this.runs.set(run._id, toTombstone(await this.payloads.stateToSweep(run), now));
      for (const [id, c] of this.commits) if (c.runId === run._id) this.commits.delete(id);
      await this.payloads.deleteRun(run._id);
      report.swept++;
      report.runIds.push(run._id);
    }
    return report;
  }

  async getRun(runId: string): Promise<RunRecord | undefined> {
    const d = this.runs.get(runId);
    return d && (await this.confirmed(d)) ? this.payloads.run(d) : undefined;
  }

  async getRunByWorkflowId(workflowId: string): Promise<RunRecord | undefined> {
    const gens = this.ids.get(workflowId) ?? [];
    for (let i = gens.length - 1; i >= 0; i--) {
      const run = await this.getRun(gens[i]?.runId ?? '');
      if (run) return run;
    }
    return undefined;
  }

  async listRuns(filter: RunFilter, page: { cursor?: string; limit?: number } = {}): Promise<Page<RunRecord>> {
    const limit = Math.min(Math.max(1, Math.floor(page.limit ?? DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE);
    const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
    const statuses = filter.status === undefined ? undefined : [filter.status].flat();
    const where = Object.entries(filter.where === undefined ? {} : validateSearchAttributes(filter.where, 'where'));
    const docs = [...this.runs.values()]
      .filter(
        (d) =>
          (statuses === undefined || statuses.includes(d.status)) &&
          (filter.workflowType === undefined || d.workflowType === filter.workflowType) &&
          (filter.startedFrom === undefined || d.startedAt >= filter.startedFrom) &&
          (filter.startedTo === undefined || d.startedAt < filter.startedTo) &&
          where.every(([k, v]) => isDeepStrictEqual(d.searchAttributes?.[k], v)) &&
          (after === undefined ||
            d.startedAt < after.startedAt ||
            (d.startedAt === after.startedAt && d._id < after.runId)),
      )
      .sort((a, b) => b.startedAt - a.startedAt || compare(b._id, a._id));
    const items = await Promise.all(docs.slice(0, limit).map((d) => this.payloads.run(d)));
    const last = items.at(-1);
    return docs.length > limit && last ? { items, nextCursor: encodeCursor(last.startedAt, last.runId) } : { items };
  }

  async registerVersions(): Promise<void> {
    // Nothing to keep: openRunVersions reads every open run, which costs nothing here.
  }

  async openRunVersions(except: readonly WorkflowVersionKey[] = []): Promise<OpenRunVersion[]> {
    const held = new Set(except.map(versionId));
    const counts = new Map<string, OpenRunVersion>();
    for (const d of this.runs.values()) {
      const key = versionId(d);
      if (d.status !== 'running' || held.has(key)) continue;
      const seen = counts.get(key);
      if (seen) seen.runs++;
      else counts.set(key, { workflowType: d.workflowType, version: d.version, runs: 1 });
    }
    return [...counts.values()].sort((a, b) => compare(a.workflowType, b.workflowType) || a.version - b.version);
  }

  async repairRun(
    runId: string,
    rebuild: (from: RunState | undefined, tail: StoredCommit[]) => RunState,
  ): Promise<RunState | undefined> {
    const from = (await this.getRun(runId))?.state;
    const tail: StoredCommit[] = [];
    for await (const c of this.loadHistory(runId, from?.lastSeq ?? 0)) tail.push(c);
    if (tail.length === 0) return from;
    const state = rebuild(from, tail);
    await this.saveRun(state);
    return state;
  }

  // ---- timers ----

  async scheduleTimer(t: { runId: string; workflowId: string; timerSeq: number; fireAt: Millis }): Promise<void> {
    const _id = timerId(t.runId, t.timerSeq);
    if (!this.timers.has(_id)) this.timers.set(_id, { _id, ...t, status: 'pending' });
  }

  async scheduleTimers(
    ts: readonly { runId: string; workflowId: string; timerSeq: number; fireAt: Millis }[],
  ): Promise<void> {
    for (const t of ts) await this.scheduleTimer(t);
  }

  async cancelTimer(runId: string, timerSeq: number): Promise<void> {
    const _id = timerId(runId, timerSeq);
    const t = this.timers.get(_id);
    if (!t) this.timers.set(_id, { _id, runId, workflowId: '', timerSeq, fireAt: 0, status: 'cancelled' });
    else if (t.status === 'pending') t.status = 'cancelled';
  }

  async claimDueTimers(
    now: Millis,
    owner: string,
    leaseMs: number,
    limit: number,
    skip?: (t: { runId: string; timerSeq: number }) => boolean,
  ): Promise<TimerRecord[]> {
    const due = [...this.timers.values()]
      .filter((t) => t.status === 'pending' && t.fireAt <= now && !skip?.(t))
      .sort(compareFiringOrder);
    const claimed: TimerRecord[] = [];
    for (const t of due) {
      if (claimed.length >= limit) break;
      const epochs = this.leases.get(t._id) ?? [];
      const current = epochs.at(-1);
      if (current && current.until > now) continue;
      const epoch = epochs.length + 1;
      const lease: TimerLeaseDoc = {
        _id: `${t._id}@${epoch}`,
        kind: 'lease',
        timer: t._id,
        epoch,
        owner,
        until: now + leaseMs,
      };
      epochs.push(lease);
      this.leases.set(t._id, epochs);
      claimed.push(fromTimerDoc(t, lease));
    }
    return claimed;
  }

  async markTimerFired(runId: string, timerSeq: number, owner: string, leaseEpoch?: number): Promise<boolean> {
    const _id = timerId(runId, timerSeq);
    if (!this.holds(_id, owner, leaseEpoch)) return false;
    const t = this.timers.get(_id);
    if (t?.status !== 'pending') return false;
    t.status = 'fired';
    return true;
  }

  async markTimersFired(
    timers: readonly Pick<TimerRecord, 'runId' | 'timerSeq' | 'leaseEpoch' | 'leaseUntil'>[],
    owner: string,
    now: Millis,
  ): Promise<number> {
    let marked = 0;
    for (const x of timers) {
      const _id = timerId(x.runId, x.timerSeq);
      const live = x.leaseEpoch !== undefined && x.leaseUntil !== undefined && x.leaseUntil > now;
      if (!live && !this.holds(_id, owner, x.leaseEpoch)) continue;
      const t = this.timers.get(_id);
      if (t?.status !== 'pending') continue;
      t.status = 'fired';
      marked++;
    }
    return marked;
  }

  async nextTimerDue(): Promise<Millis | undefined> {
    let next: number | undefined;
    for (const t of this.timers.values()) {
      if (t.status !== 'pending') continue;
      const at = Math.max(t.fireAt, this.leases.get(t._id)?.at(-1)?.until ?? 0);
      next = next === undefined ? at : Math.min(next, at);
    }
    return next;
  }

  async getTimer(runId: string, timerSeq: number): Promise<TimerRecord | undefined> {
    const _id = timerId(runId, timerSeq);
    const t = this.timers.get(_id);
    return t ? fromTimerDoc(t, this.leases.get(_id)?.at(-1)) : undefined;
  }

  // ---- internals ----

  /** The stored seqs of a run, ascending. */
  private seqsOf(runId: string): number[] {
    const seqs: number[] = [];
    for (const c of this.commits.values()) if (c.runId === runId) seqs.push(c.seq);
    return seqs.sort((a, b) => a - b);
  }

  /** Whether `owner` still holds a timer: no epoch after `leaseEpoch`, or owns the current one. */
  private holds(_id: string, owner: string, leaseEpoch: number | undefined): boolean {
    const epochs = this.leases.get(_id) ?? [];
    if (leaseEpoch !== undefined) return epochs.length <= leaseEpoch;
    return epochs.at(-1)?.owner === owner;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function encodeCursor(startedAt: number, runId: string): string {
  return Buffer.from(JSON.stringify([startedAt, runId])).toString('base64url');
}

function decodeCursor(cursor: string): { startedAt: number; runId: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && typeof v[0] === 'number' && typeof v[1] === 'string') {
      return { startedAt: v[0], runId: v[1] };
    }
  } catch {
    // fall through
  }
  throw new InvalidInputError(`invalid page cursor ${JSON.stringify(cursor)}; pass back a nextCursor unchanged`);
}
