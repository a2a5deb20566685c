/**
 * The storage contract: history commits (the truth), run summaries, workflowId ownership and
 * durable timers. Implemented over MongoDB by `createMongoStore` (shared/store/mongo-store.ts).
 * Nothing here needs multi-document transactions or change streams: every operation is one
 * atomic single-document write, or a batch of independent ones.
 */

import type { MongoClient } from 'mongodb';
import type { Command, RunState } from '../engine/types.js';
import type { ConflictError, ErrorInfo } from '../errors.js';
import type { Commit, Millis, RunStatus, SearchAttributes } from '../history/events.js';
import { defaultPayloadLimits } from '../payload/blobs.js';
import type { ScheduleStore } from '../schedules/store.js';
import type { EventWaitStore } from './events.js';
import type { SweepReport } from './retention.js';

/**
 * A commit as stored: its events and the commands to publish after it. Whether they are out is
 * not stored: the input that made the commit is acked only once they are (services/router/outbox.ts).
 */
export interface StoredCommit extends Commit {
  /** When the commit was written (the decision's input time). */
  at: Millis;
  /** Commands the decision produced, published after the commit is stored. */
  commands: Command[];
}

/**
 * What a start does when its workflowId is taken. In every policy a claim repeated with the same
 * runId succeeds (idempotent redelivery), and an open run of another runId is never replaced.
 * - `returnExisting` (default): open → not claimed, the caller answers with the open run;
 *   closed → claimed, a new run starts.
 * - `rejectWhileOpen`: same outcomes; the caller turns "not claimed" into AlreadyStartedError.
 * - `allowAfterClose`: same outcomes; named for callers that only ever start after a close.
 * - `rejectDuplicate`: like the above, but a closed id is never reused (not claimed, with its
 *   final status).
 */
export type IdReusePolicy = 'returnExisting' | 'rejectWhileOpen' | 'allowAfterClose' | 'rejectDuplicate';

/** Outcome of claimWorkflowId; when not claimed, the run that holds (or held) the id. */
/**
 * `sameStart`: the holder was started by the same start message (its `Nats-Msg-Id`), sent again
 * after JetStream's duplicate window: that start is answered with the holder, whatever the policy.
 */
export type ClaimResult =
  | { claimed: true; gen: number }
  | { claimed: false; runId: string; status: RunStatus; sameStart?: true };

/** What a summary write may carry besides the state (Store.saveRun). */
export interface SummaryExtra {
  /** The id of the start message that created the run, kept on later writes. */
  startMsgId?: string;
  /**
   * Marks a closing state's summary written side by side with its closing commit, before the
   * commit is known to be stored: it stands only once the commit is (Store.getRun), and this
   * token lets its writer take it back if the append lost (`replacesClose`).
   */
  closeToken?: string;
  /**
   * Writes the state only over the summary written with this closeToken (nothing otherwise):
   * the writer's own close, taken back after its append lost, for the run as its history has it.
   */
  replacesClose?: string;
}

/** One claim of claimWorkflowIds: the arguments of claimWorkflowId. */
export interface WorkflowIdClaim {
  workflowId: string;
  runId: string;
  policy: IdReusePolicy;
  startMsgId?: string;
}

/**
 * One generation of a workflowId: the run that claimed it. The highest generation is the id's
 * current (or last) holder; whether that run is open is its summary's to say, and a holder
 * without a summary yet is a run still starting, hence open.
 */
export interface WorkflowIdHolder {
  runId: string;
  /** 1 for the id's first run, one more for each reuse after a close. */
  gen: number;
  /** `Nats-Msg-Id` of the start that claimed it, so the same start sent again finds its run. */
  startMsgId?: string;
}

/** A run summary: plain fields for listing and indexing, plus the full RunState. */
export interface RunRecord {
  runId: string;
  workflowId: string;
  workflowType: string;
  version: number;
  status: RunStatus;
  /** The machine's state value (from the snapshot), for people and listing. */
  stateValue: unknown;
  lastSeq: number;
  startedAt: Millis;
  updatedAt: Millis;
  closedAt?: Millis;
  output?: unknown;
  error?: ErrorInfo;
  /** Id of the start message that created the run, for dedup of redelivered starts. */
  startMsgId?: string;
  /** The memo given at start. */
  memo?: Record<string, unknown>;
  /** Search attributes: given at start, upserted by the machine. */
  searchAttributes?: SearchAttributes;
  /** When the retention sweeper removed the run's history; the record is a tombstone since. */
  swept?: Millis;
  state: RunState;
}

/** A workflow type and version. */
export interface WorkflowVersionKey {
  workflowType: string;
  version: number;
}

/** A workflow version that open runs are pinned to (see Store.openRunVersions). */
export interface OpenRunVersion {
  workflowType: string;
  version: number;
  /** Open runs on this version. */
  runs: number;
}

/** Filter for listRuns; every field narrows. */
export interface RunFilter {
  status?: RunStatus | RunStatus[];
  workflowType?: string;
  /** Inclusive lower bound on startedAt. */
  startedFrom?: Millis;
  /** Exclusive upper bound on startedAt. */
  startedTo?: Millis;
  /** Search attributes the run must hold, each with exactly this value. */
  where?: SearchAttributes;
}

/** One page of results; pass `nextCursor` back to get the next page (absent on the last). */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/** A durable timer. `leaseOwner`/`leaseUntil` are set while a timer service is firing it. */
export interface TimerRecord {
  runId: string;
  workflowId: string;
  timerSeq: number;
  fireAt: Millis;
  status: 'pending' | 'fired' | 'cancelled';
  leaseOwner?: string;
  leaseUntil?: Millis;
  /** The lease's epoch: pass it to markTimerFired to check the lease in one probe. */
  leaseEpoch?: number;
  /** Where claims find it (see shared/store/timer-walk.ts): lets markTimersFired read only its bucket. */
  bucket?: Millis;
}

/** What appendChain stored: the first `stored` commits of the chain; the rest lost to `conflict`. */
export interface ChainAppend {
  stored: number;
  conflict?: ConflictError;
}

/** Durable storage for runs, their history and their timers. */
export interface Store {
  /** Creates collections and indexes; idempotent, safe to call from every service at boot. */
  init(): Promise<void>;
  /** Releases nothing shared: the MongoClient belongs to the caller. */
  close(): Promise<void>;
  /**
   * The MongoDB client the store reads and writes through (absent for a store on no MongoDB
   * connection): a service given the store counts that connection's events in its metrics.
   */
  readonly mongo?: MongoClient;

  /** Schedules (see shared/schedules): specs and timer services' progress through them. */
  readonly schedules: ScheduleStore;
  /** Runs waiting on user events, by key (see shared/store/events.ts). */
  readonly eventWaits: EventWaitStore;

  // ---- history ----
  /** Appends one commit atomically. ConflictError when `(runId, seq)` exists (another writer won). */
  appendCommit(c: StoredCommit): Promise<void>;
  /**
   * Appends many commits (usually of different runs) in one unordered insert. Returns one entry
   * per input: undefined when stored, ConflictError when that `(runId, seq)` existed. Other
   * failures (server down, oversize payload) reject the whole call.
   */
  appendCommits(cs: StoredCommit[]): Promise<(ConflictError | undefined)[]>;
  /**
   * Appends a chain: consecutive commits of ONE run, in seq order, in one ordered insert (with
   * their outbox entries side by side). Stops at the first commit whose seq is taken, so no
   * commit of the chain lands on top of another writer's. `stored` counts the commits of the
   * chain now in history (a byte-identical one already there counts); `conflict` is set when
   * not all are.
   */
  appendChain(cs: StoredCommit[]): Promise<ChainAppend>;
  /** Streams a run's commits with seq > fromSeq (default 0), ascending. CorruptHistoryError on bad data. */
  loadHistory(runId: string, fromSeq?: number): AsyncIterable<StoredCommit>;
  /** Highest stored seq of a run; 0 when it has none. */
  lastSeq(runId: string): Promise<number>;
  /**
   * A run's commits written at or after `since` (their `at`), ascending by seq: what an input found
   * already in its run republishes, since an earlier delivery may have stored them and died before
   * publishing. `lastSeq`, the run's last seq when the caller knows it, lets a store read back
   * from there instead of querying a range.
   */
  commitsSince(runId: string, since: Millis, lastSeq?: number): Promise<StoredCommit[]>;
  /**
   * Upgrades a store written by a version that kept an outbox collection: hands the commits its
   * entries name to `republish` a batch at a time (by run, then seq) and deletes the entries once
   * it resolved. Returns how many entries were drained; 0 when there are none (or never were).
   */
  drainLegacyOutbox(republish: (commits: StoredCommit[]) => Promise<void>): Promise<number>;

  // ---- workflowId ownership ----
  /** Claims a workflowId for a run under a reuse policy (see IdReusePolicy). */
  claimWorkflowId(workflowId: string, runId: string, policy: IdReusePolicy, startMsgId?: string): Promise<ClaimResult>;
  /**
   * claimWorkflowId for many starts at once (usually of different ids): their first generations
   * go in one unordered insert, and an id found held takes claimWorkflowId's path. One entry per
   * claim, in order: its ClaimResult, or ConflictError when the id changed hands too often during
   * it. Other failures (server down) reject the whole call.
   */
  claimWorkflowIds(claims: readonly WorkflowIdClaim[]): Promise<(ClaimResult | ConflictError)[]>;
  /**
   * The current holder of a workflowId (its highest generation), read by `_id` from generation 1,
   * or from just past `known` (a holder read before: generations are never removed), so a
   * caller that remembers the holder confirms it with one lookup. Undefined when never claimed.
   */
  workflowIdHolder(workflowId: string, known?: WorkflowIdHolder): Promise<WorkflowIdHolder | undefined>;
  /**
   * Undoes the commits of a start whose claim was refused: a router appends a start's commit side
   * by side with its claim, so a refused start may leave one. Deletes every commit of `runId`
   * unless some generation of `workflowId` names `runId` (then the run is real and nothing is
   * deleted). Returns how many commits it deleted. Idempotent: a redelivered refused start
   * repeats it.
   */
  discardRefusedStart(workflowId: string, runId: string): Promise<number>;

  // ---- run summaries (projections of history) ----
  /**
   * Upserts a run's summary; never moves backwards (writes only if state.lastSeq > stored lastSeq,
   * or at the same lastSeq over a close written beside its commit, see SummaryExtra.closeToken).
   * On servers without atomic conditional updates (FerretDB 1.x) two concurrent writers of one run
   * can leave it behind; like any lagging summary, repairRun brings it up to history.
   */
  saveRun(state: RunState, extra?: SummaryExtra): Promise<SummaryWrite>;
  /** saveRun for many runs in one bulk write; `closeTokens` by runId, as SummaryExtra.closeToken. */
  saveRuns(states: RunState[], closeTokens?: ReadonlyMap<string, string>): Promise<SummaryWrite>;
  /**
   * A run's summary. A closed one written beside its closing commit (SummaryExtra.closeToken) is
   * read only once that commit is stored and closes the run with its status; before, the run
   * reads as having no summary yet (open, found by its history).
   */
  getRun(runId: string): Promise<RunRecord | undefined>;
  /** The current (open) or latest run of a workflowId. */
  getRunByWorkflowId(workflowId: string): Promise<RunRecord | undefined>;
  /** Runs matching `filter`, newest first, paged by an opaque cursor (default limit 100). */
  listRuns(filter: RunFilter, page?: { cursor?: string; limit?: number }): Promise<Page<RunRecord>>;
  /**
   * Records that a live router holds these workflow versions (routers call it before they take up
   * any input, and again now and then): runs only start on registered versions, so
   * openRunVersions reads the registry instead of every open run.
   */
  registerVersions(keys: readonly WorkflowVersionKey[]): Promise<void>;
  /**
   * The (workflowType, version) pairs of open runs outside `except`, with how many runs use each,
   * sorted by type then version. Read from the summaries, which may lag history by a few
   * decisions; routers check it at start, passing their own versions, so they never take up runs
   * they cannot decide. Costs one lookup per registered version outside `except`, not a read of
   * every open run (shared/store/versions.ts).
   */
  openRunVersions(except?: readonly WorkflowVersionKey[]): Promise<OpenRunVersion[]>;
  /**
   * Removes the history of closed runs past their retention (see retention.ts): their commits go,
   * their summary becomes a tombstone. Costs the expired runs, not the stored ones.
   */
  sweepExpiredRuns(): Promise<SweepReport>;
  /**
   * Brings a run's summary up to its history: when history holds commits past the summary's
   * lastSeq, calls `rebuild(summaryState, tailCommits)` and saves the result. Returns the
   * up-to-date state, or undefined when the run has neither summary nor history.
   */
  repairRun(
    runId: string,
    rebuild: (from: RunState | undefined, tail: StoredCommit[]) => RunState,
  ): Promise<RunState | undefined>;

  // ---- timers ----
  /** Records a pending timer; idempotent by (runId, timerSeq); never revives a cancelled or fired one. */
  scheduleTimer(t: { runId: string; workflowId: string; timerSeq: number; fireAt: Millis }): Promise<void>;
  /**
   * scheduleTimer for many timers at once (one write where the server allows). On failure any part
   * may be stored; scheduling is idempotent, so the caller retries them all.
   */
  scheduleTimers(ts: readonly { runId: string; workflowId: string; timerSeq: number; fireAt: Millis }[]): Promise<void>;
  /** Cancels a timer; a cancel that arrives before its schedule still wins (tombstone). */
  cancelTimer(runId: string, timerSeq: number): Promise<void>;
  /**
   * Leases up to `limit` due pending timers (earliest first) to `owner` until `now + leaseMs`; a
   * timer whose lease expired is claimable again. At most one claimer wins each lease. Timers for
   * which `skip` answers true are passed over (the caller still holds them, e.g. fired, not yet marked).
   * The mongodb store finds them by bucket (shared/store/timer-walk.ts): a timer written late into
   * a bucket its walk has passed is claimed at that bucket's settle read, up to a minute later.
   */
  claimDueTimers(
    now: Millis,
    owner: string,
    leaseMs: number,
    limit: number,
    skip?: (t: { runId: string; timerSeq: number }) => boolean,
  ): Promise<TimerRecord[]>;
  /**
   * Marks a leased timer fired; false if `owner` no longer holds it (or it was cancelled).
   * `leaseEpoch` (from the claimed record) makes the holder check one probe.
   */
  markTimerFired(runId: string, timerSeq: number, owner: string, leaseEpoch?: number): Promise<boolean>;
  /**
   * markTimerFired for timers `owner` claimed (as claimDueTimers returned them), in one write where
   * the server allows; resolves with how many it marked (the rest were cancelled meanwhile, or
   * their lease ran out and another claimer took it). `now` decides which leases are still live.
   */
  markTimersFired(
    timers: readonly Pick<TimerRecord, 'runId' | 'timerSeq' | 'leaseEpoch' | 'leaseUntil' | 'bucket'>[],
    owner: string,
    now: Millis,
  ): Promise<number>;
  /**
   * When this store's next claimDueTimers should look again, from what its last claim read,
   * without reading the store: never after a timer that claim saw becomes claimable, nor after a
   * bucket it has not read begins. Undefined before its first claim (then look within the caller's
   * own longest sleep).
   */
  nextTimerDue(): Promise<Millis | undefined>;
  /** One timer as stored (for inspection and tests). */
  getTimer(runId: string, timerSeq: number): Promise<TimerRecord | undefined>;
}

/** Options for createMongoStore. */
export interface StoreOptions {
  /** Database holding Squall's collections. @default 'squall' */
  dbName: string;
  /** Prefix of collection names (`<prefix>_commits`, ...). @default 'squall' */
  collectionPrefix: string;
  /**
   * Largest encoded events or commands of one commit, or RunState of one run, in bytes: larger
   * ones are refused with PayloadTooLargeError. @default 67_108_864 (64 MiB)
   */
  maxPayloadBytes: number;
  /**
   * Encoded payloads larger than this are stored out of band, in the blobs collection, and
   * referenced from their document. @default 262_144 (256 KiB)
   */
  offloadPayloadBytes: number;
  /**
   * The store's clock: stamps workflowId claims. Tests inject one. @default Date.now
   */
  now: () => Millis;
  /**
   * How long a closed run's history is kept when its start gave no `retentionMs` (the
   * namespace's default), in ms; then sweepExpiredRuns removes it. @default 2_592_000_000 (30 days)
   */
  retentionMs: number;
}

/** The default retention of closed runs: 30 days. */
export const DEFAULT_RETENTION_MS = 30 * 24 * 3600 * 1000;

/** The defaults merged under a caller's Partial<StoreOptions>. */
export function defaultStoreOptions(): StoreOptions {
  const limits = defaultPayloadLimits();
  return {
    dbName: 'squall',
    collectionPrefix: 'squall',
    maxPayloadBytes: limits.maxBytes,
    offloadPayloadBytes: limits.offloadBytes,
    now: Date.now,
    retentionMs: DEFAULT_RETENTION_MS,
  };
}

/**
 * What a summary write may have left behind. Where conditional updates are not atomic (FerretDB
 * 1.x), a writer holding an older state can land after one holding a newer state; each writer
 * then looks for a commit past what it wrote, and names the runs where one exists: their summary
 * may have moved backwards and wants repairRun. Always empty on MongoDB.
 */
export interface SummaryWrite {
  maybeBehind: string[];
}
