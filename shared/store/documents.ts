/**
 * The shapes of Squall's MongoDB documents and the conversions to and from them. Payloads
 * (events, commands, run state) are stored as versioned MessagePack in BSON Binary, sealed by the
 * payload codecs (shared/payload) when the process has any; only the fields that queries and
 * people read are plain BSON, and of those only search attributes and state names stay plain
 * when a codec conceals payloads.
 */
import { Binary } from 'mongodb';
import type { Command, RunState } from '../engine/types.js';
import { PayloadTooLargeError } from '../errors.js';
import { decodeEvents, decodePayload, encodeEvents, encodePayload } from '../history/codec.js';
import {
  closingStatusOf,
  type HistoryEvent,
  type Millis,
  type RunStatus,
  type SearchAttributes,
} from '../history/events.js';
import { openPayload, payloadsConcealed, sealPayload } from '../payload/codec.js';
import { expiryOf, sweepBucketOf, tombstoneState } from './retention.js';
import type { RunRecord, StoredCommit, TimerRecord } from './types.js';

/** `_id` of a commit: `<runId>:<seq>`. */
export function commitId(runId: string, seq: number): string {
  return `${runId}:${seq}`;
}

/**
 * Commits per history page. A history read asks for a page by equality on `runPage` (the one
 * filter FerretDB 1.x serves from an index; it scans for a range on seq), so a page costs the
 * same wherever it lies in a run; 256 keeps a page's read to one round trip of a few hundred KiB.
 * Part of the storage format: stored page keys are computed with it, so it never changes.
 */
export const HISTORY_PAGE_SIZE = 256;

/** The history page holding commit `seq` (1-based seqs; page 0 holds seq 1..HISTORY_PAGE_SIZE). */
export function historyPageOf(seq: number): number {
  return Math.floor((seq - 1) / HISTORY_PAGE_SIZE);
}

/** `runPage` of a commit: `<runId>:<page>`, the key a history page is read by. */
export function historyPageKey(runId: string, page: number): string {
  return `${runId}:${page}`;
}

/** `_id` of a timer: `<runId>:<timerSeq>`. */
export function timerId(runId: string, timerSeq: number): string {
  return `${runId}:${timerSeq}`;
}

/** One decision's commit. Unique on `(runId, seq)` (and on `_id`, which is derived from them). */
export interface CommitDoc {
  _id: string;
  runId: string;
  workflowId: string;
  seq: number;
  /**
   * historyPageKey(runId, historyPageOf(seq)): what history pages are read by. Absent on commits
   * written before it existed; those runs are read by a range on seq (see CommitStore.load).
   */
  runPage?: string;
  at: Millis;
  events: Binary;
  commands: Binary;
  /**
   * The status the commit closes its run with, plain: what confirms a closing summary written
   * beside it (RunDoc.closeToken). Absent on commits that leave the run open, and on closing
   * commits written before it existed (their summaries were written after them).
   */
  closes?: RunStatus;
}

/**
 * An outbox entry as versions before the outbox cost no write stored it: a commit whose commands
 * may not have been published. Nothing writes one any more; a router drains any left once, at
 * start (CommitStore.drainLegacyOutbox). `_id` is the commit's `_id`.
 */
export interface OutboxDoc {
  _id: string;
  runId: string;
  seq: number;
  at: Millis;
}

/** A run summary: plain fields for listing, the whole RunState as MessagePack. */
export interface RunDoc {
  _id: string;
  workflowId: string;
  workflowType: string;
  version: number;
  status: RunStatus;
  stateValue: unknown;
  lastSeq: number;
  startedAt: Millis;
  updatedAt: Millis;
  closedAt?: Millis;
  /** Plain copy of the output when it is small and BSON-safe; the truth is in `state`. */
  output?: unknown;
  /** name, message and code of the error, for people; the full ErrorInfo is in `state`. */
  error?: { name: string; message: string; code?: string };
  startMsgId?: string;
  parentRunId?: string;
  /** The memo given at start (copied from `state`). */
  memo?: Record<string, unknown>;
  /** Search attributes, plain so `list` can match `searchAttributes.<key>` (copied from `state`). */
  searchAttributes?: SearchAttributes;
  /** When the closed run's history expires (closedAt + retention); absent while open. */
  expireAt?: Millis;
  /** The retention sweeper's minute bucket of expireAt (retention.ts), indexed. */
  sweepBucket?: number;
  /** When the sweeper removed the run's history (the document is a tombstone since). */
  swept?: Millis;
  /**
   * Set on a closed summary written side by side with its closing commit, before that commit was
   * known to be stored: readers trust it only while the commit at `lastSeq` closes the run with
   * `status` (see closeConfirmed), and the writer, if its append lost, replaces it by this token.
   */
  closeToken?: string;
  state: Binary;
}

/**
 * One generation of a workflowId: `_id: <workflowId>:<gen>`. A claim inserts generation n+1, so
 * the unique `_id` decides races (conditional updates are not atomic on every server); the
 * highest generation is the current holder, and its run's summary says whether it is still open.
 * Written once, never updated. (Documents from before may carry `open` and `status`; unread.)
 */
export interface WorkflowIdDoc {
  _id: string;
  workflowId: string;
  gen: number;
  runId: string;
  claimedAt: Millis;
  /** `Nats-Msg-Id` of the start that claimed it, so the same start sent again finds its run. */
  startMsgId?: string;
}

/**
 * A workflow version some router holds (see shared/store/versions.ts): `_id` is
 * `<workflowType>:<version>`; `seenAt` is when a router last registered it.
 */
export interface VersionDoc {
  _id: string;
  workflowType: string;
  version: number;
  seenAt: Millis;
}

/** `_id` of a workflowId generation. */
export function workflowIdGenId(workflowId: string, gen: number): string {
  return `${workflowId}:${gen}`;
}

/**
 * A durable timer. Its lease lives in TimerLeaseDocs, so claims never update it. `bucket` (see
 * timer-walk.ts) is where claims find it; tombstones of early cancels have none, and neither had
 * timers stored before buckets existed until the walk's first start migrates them.
 */
export interface TimerDoc {
  _id: string;
  runId: string;
  workflowId: string;
  timerSeq: number;
  fireAt: Millis;
  status: TimerRecord['status'];
  bucket?: Millis;
}

/**
 * Lease `epoch` of a timer, stored in the timers collection as `_id: <timerId>@<epoch>` (a timer
 * `_id` always ends in `:<digits>`, so the two never collide). Inserting epoch n+1 is the claim:
 * the unique `_id` lets exactly one claimer win. The highest epoch is the current lease.
 */
export interface TimerLeaseDoc {
  _id: string;
  kind: 'lease';
  timer: string;
  epoch: number;
  owner: string;
  until: Millis;
  /** Its timer's bucket, so one read of a bucket finds its timers and their leases (absent on older leases). */
  bucket?: Millis;
}

/**
 * The timer walk's stored position (`_id: 'walker'`, in the timers collection; a timer `_id`
 * always holds a `:`): `low` is the oldest bucket that may still hold a pending timer, where a
 * restarted walk begins; `bucketMs` the bucket width it was walked with.
 */
export interface TimerWalkerDoc {
  _id: 'walker';
  kind: 'walker';
  low: Millis;
  bucketMs: number;
}

/** `_id` of the timer walk's position document. */
export const TIMER_WALKER_ID = 'walker';

/** `_id` of a timer lease. */
export function timerLeaseId(timer: string, epoch: number): string {
  return `${timer}@${epoch}`;
}

/** Lease `epoch` of `timer` for `owner` until `until`, in the timer's bucket. */
export function newTimerLease(
  timer: Pick<TimerDoc, '_id' | 'bucket'>,
  epoch: number,
  owner: string,
  until: Millis,
): TimerLeaseDoc {
  const lease: TimerLeaseDoc = {
    _id: timerLeaseId(timer._id, epoch),
    kind: 'lease',
    timer: timer._id,
    epoch,
    owner,
    until,
  };
  if (timer.bucket !== undefined) lease.bucket = timer.bucket;
  return lease;
}

/** Largest output copied into plain BSON fields of a run summary. */
export const MAX_PLAIN_OUTPUT_BYTES = 4096;

/** Encodes a commit, refusing it (before any write) when its payload exceeds `maxBytes`. */
export function toCommitDoc(c: StoredCommit, maxBytes: number): CommitDoc {
  const events = sealPayload(encodeEvents(c.events));
  const commands = sealPayload(encodePayload(c.commands));
  const size = events.length + commands.length;
  const closes = closingStatusOf(c.events);
  if (size > maxBytes) {
    throw new PayloadTooLargeError(
      `commit seq ${c.seq} of run ${c.runId} encodes to ${formatBytes(size)} (events ${formatBytes(events.length)}, ` +
        `commands ${formatBytes(commands.length)}); the limit is ${formatBytes(maxBytes)} (maxPayloadBytes). ` +
        'Pass large data by reference (e.g. an object-store key) instead.',
      { details: { runId: c.runId, seq: c.seq, bytes: size, limit: maxBytes } },
    );
  }
  return {
    _id: commitId(c.runId, c.seq),
    runId: c.runId,
    workflowId: c.workflowId,
    seq: c.seq,
    runPage: historyPageKey(c.runId, historyPageOf(c.seq)),
    at: c.at,
    events: new Binary(events),
    commands: new Binary(commands),
    ...(closes === undefined ? {} : { closes }),
  };
}

/** Decodes a stored commit; CorruptHistoryError names the run and seq when it cannot. */
export function fromCommitDoc(d: CommitDoc): StoredCommit {
  const where = { runId: d.runId, seq: d.seq };
  const commands = decodePayload(openPayload(bytesOf(d.commands)), { ...where, what: 'commands' });
  return {
    runId: d.runId,
    workflowId: d.workflowId,
    seq: d.seq,
    at: d.at,
    events: decodeEvents(openPayload(bytesOf(d.events)), where),
    commands: Array.isArray(commands) ? (commands as Command[]) : [],
  };
}

/** The fields a saveRun writes (everything but `_id` and `startMsgId`). */
export function toRunFields(
  state: RunState,
  maxBytes: number,
  retentionMs: number,
): Omit<RunDoc, '_id' | 'startMsgId'> {
  const bytes = sealPayload(encodePayload(state));
  if (bytes.length > maxBytes) {
    throw new PayloadTooLargeError(
      `the state of run ${state.runId} encodes to ${formatBytes(bytes.length)}; the limit is ` +
        `${formatBytes(maxBytes)} (maxPayloadBytes). Keep large data out of the machine's context.`,
      { details: { runId: state.runId, bytes: bytes.length, limit: maxBytes } },
    );
  }
  const fields: Omit<RunDoc, '_id' | 'startMsgId'> = {
    workflowId: state.workflowId,
    workflowType: state.workflowType,
    version: state.version,
    status: state.status,
    stateValue: plainOrJson(stateValueOf(state.snapshot), MAX_PLAIN_OUTPUT_BYTES),
    lastSeq: state.lastSeq,
    startedAt: state.startedAt,
    updatedAt: state.updatedAt,
    state: new Binary(bytes),
  };
  if (state.closedAt !== undefined) fields.closedAt = state.closedAt;
  const expireAt = expiryOf(state, retentionMs);
  if (expireAt !== undefined) {
    fields.expireAt = expireAt;
    fields.sweepBucket = sweepBucketOf(expireAt);
  }
  // Concealed payloads keep no plain copy: output, memo and error messages may hold user data.
  const concealed = payloadsConcealed();
  if (state.output !== undefined && !concealed) {
    const plain = plainOrJson(state.output, MAX_PLAIN_OUTPUT_BYTES);
    if (plain !== undefined) fields.output = plain;
  }
  if (state.error !== undefined) {
    fields.error = { name: state.error.name, message: concealed ? '(concealed)' : state.error.message };
    if (state.error.code !== undefined) fields.error.code = state.error.code;
  }
  if (state.parent !== undefined) fields.parentRunId = state.parent.runId;
  if (state.memo !== undefined && !concealed) fields.memo = state.memo;
  if (state.searchAttributes !== undefined) fields.searchAttributes = state.searchAttributes;
  return fields;
}

/**
 * The tombstone a swept run's summary becomes: ids, type, status, times and the error's name and
 * message stay; the state shrinks to tombstoneState; output, memo, search attributes and the
 * expiry fields go (so no sweep finds it again).
 */
export function toTombstone(d: RunDoc, sweptAt: Millis): RunDoc {
  const state = decodePayload(bytesOf(d.state), { runId: d._id, what: 'state' }) as RunState;
  const t: RunDoc = {
    _id: d._id,
    workflowId: d.workflowId,
    workflowType: d.workflowType,
    version: d.version,
    status: d.status,
    stateValue: null,
    lastSeq: d.lastSeq,
    startedAt: d.startedAt,
    updatedAt: d.updatedAt,
    swept: sweptAt,
    state: new Binary(encodePayload(tombstoneState(state, sweptAt))),
  };
  if (d.closedAt !== undefined) t.closedAt = d.closedAt;
  if (d.error !== undefined) t.error = d.error;
  if (d.startMsgId !== undefined) t.startMsgId = d.startMsgId;
  if (d.parentRunId !== undefined) t.parentRunId = d.parentRunId;
  return t;
}

/**
 * `d` with a state rebuilt from its plain fields, for a summary whose state cannot be read (its
 * out-of-band chunks or its encryption key gone): what toTombstone keeps of a state is in them
 * but the engine counter (`nextSeq`, 0 here), so such a run's sweep still ends.
 */
export function withStateOfFields(d: RunDoc): RunDoc {
  const state: RunState = {
    workflowId: d.workflowId,
    runId: d._id,
    workflowType: d.workflowType,
    version: d.version,
    status: d.status,
    snapshot: undefined,
    lastSeq: d.lastSeq,
    nextSeq: 0,
    activities: {},
    timers: {},
    children: {},
    mailbox: [],
    startedAt: d.startedAt,
    updatedAt: d.updatedAt,
  };
  if (d.closedAt !== undefined) state.closedAt = d.closedAt;
  return { ...d, state: new Binary(encodePayload(state)) };
}

/** Decodes a run summary; the RunState is the truth, the plain fields are copies of it. */
export function fromRunDoc(d: RunDoc): RunRecord {
  const state = decodePayload(openPayload(bytesOf(d.state)), { runId: d._id, what: 'state' }) as RunState;
  const record: RunRecord = {
    runId: d._id,
    workflowId: d.workflowId,
    workflowType: d.workflowType,
    version: d.version,
    status: d.status,
    stateValue: stateValueOf(state.snapshot),
    lastSeq: d.lastSeq,
    startedAt: d.startedAt,
    updatedAt: d.updatedAt,
    state,
  };
  if (d.closedAt !== undefined) record.closedAt = d.closedAt;
  if (state.output !== undefined) record.output = state.output;
  if (state.error !== undefined) record.error = state.error;
  if (d.startMsgId !== undefined) record.startMsgId = d.startMsgId;
  if (d.swept !== undefined) record.swept = d.swept;
  if (state.memo !== undefined) record.memo = state.memo;
  if (state.searchAttributes !== undefined) record.searchAttributes = state.searchAttributes;
  return record;
}

/** Converts a stored timer and its current lease (if any) to the public shape. */
export function fromTimerDoc(d: TimerDoc, lease?: TimerLeaseDoc): TimerRecord {
  const t: TimerRecord = {
    runId: d.runId,
    workflowId: d.workflowId,
    timerSeq: d.timerSeq,
    fireAt: d.fireAt,
    status: d.status,
  };
  if (d.bucket !== undefined) t.bucket = d.bucket;
  if (lease) {
    t.leaseOwner = lease.owner;
    t.leaseUntil = lease.until;
    t.leaseEpoch = lease.epoch;
  }
  return t;
}

function stateValueOf(snapshot: unknown): unknown {
  if (typeof snapshot === 'object' && snapshot !== null && 'value' in snapshot) {
    return (snapshot as { value: unknown }).value;
  }
  return undefined;
}

function bytesOf(b: Binary): Uint8Array {
  return b.value();
}

/**
 * Returns `value` when it is small, JSON-like and has BSON-safe keys (no leading `$`, no `.`);
 * else its JSON text when that is small; else undefined. Keeps odd user data out of queries.
 */
export function plainOrJson(value: unknown, maxBytes: number): unknown {
  if (value === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    return undefined;
  }
  if (json === undefined || json.length > maxBytes) return undefined;
  return isBsonSafe(value, 0) ? value : json;
}

function isBsonSafe(value: unknown, depth: number): boolean {
  if (depth > 20) return false;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isBsonSafe(v, depth + 1));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.entries(value as Record<string, unknown>).every(
      ([k, v]) => k.length > 0 && !k.startsWith('$') && !k.includes('.') && v !== undefined && isBsonSafe(v, depth + 1),
    );
  }
  return false;
}

/** `1.2 MB`, `830 B`: sizes for error messages. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/**
 * Whether a summary can be read as it stands: any summary but a closed one written beside its
 * closing commit (RunDoc.closeToken), which stands once the commit at its `lastSeq` is stored and
 * closes the run with its status. Until then the run is open as far as anyone can tell: the
 * commit may still be on its way, or may never come (its router died, or lost the append).
 * `closingStatus` tells the status the commit of that `_id` closes its run with (undefined when
 * there is none, or when it leaves the run open): see commitCloses.
 */
export async function closeConfirmed(
  d: Pick<RunDoc, '_id' | 'status' | 'lastSeq' | 'closeToken' | 'swept'>,
  closingStatus: (id: string) => Promise<RunStatus | undefined>,
): Promise<boolean> {
  if (d.closeToken === undefined || d.status === 'running' || d.swept !== undefined) return true;
  return (await closingStatus(commitId(d._id, d.lastSeq))) === d.status;
}

/**
 * The status a stored commit closes its run with: its plain `closes`; for a commit without one,
 * what its events say. A closing commit written by a version from before `closes` has none, and
 * the summary that version wrote after it may still carry the token of an earlier close another
 * router wrote beside a commit that lost (`$set` keeps it): its events confirm that summary.
 */
export async function commitCloses(
  doc: CommitDoc | null | undefined,
  decode: (d: CommitDoc) => Promise<{ events: readonly HistoryEvent[] }>,
): Promise<RunStatus | undefined> {
  if (!doc || doc.closes !== undefined) return doc?.closes;
  return closingStatusOf((await decode(doc)).events);
}

/**
 * Whether a summary write of a state at `lastSeq` lands over the stored summary: over an older
 * one; at the same seq, only over a close written beside its commit (RunDoc.closeToken), which
 * the same close written again refreshes, and an open state at that seq proves was never to be
 * (the commit at that seq leaves the run open).
 */
export function landsOver(stored: Pick<RunDoc, 'lastSeq' | 'status' | 'closeToken'>, lastSeq: number): boolean {
  if (stored.lastSeq !== lastSeq) return stored.lastSeq < lastSeq;
  return stored.closeToken !== undefined && stored.status !== 'running';
}
