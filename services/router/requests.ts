/**
 * The router's request/reply side, on core NATS queue subscriptions: answers to start, signal
 * and cancel requests (the durable copy of each is processed from the inbox stream, whose
 * `no_ack` keeps JetStream from answering in our place), queries, and describe/history/list.
 * Slightly over 400 lines: each answer's race with its durable copy is explained next to it.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import { keepRequesterWaiting, progressTimeoutOf } from '../../shared/bus/progress.js';
import { pendingCallback } from '../../shared/engine/callback.js';
import type { RunState, WorkflowRegistry } from '../../shared/engine/index.js';
import { validateSearchAttributes } from '../../shared/engine/search-attributes.js';
import {
  AlreadyStartedError,
  CallbackClosedError,
  fromErrorInfo,
  InvalidInputError,
  NotFoundError,
  TimeoutError,
  toSquallError,
} from '../../shared/errors.js';
import type { RunStatus } from '../../shared/history/events.js';
import type { Logger } from '../../shared/log.js';
import type { Subjects } from '../../shared/names.js';
import { validateToken } from '../../shared/names.js';
import type { RunFilter, RunRecord, Store } from '../../shared/store/types.js';
import type { RunDecider } from './decider.js';
import { outsideInputKey } from './decisions.js';
import { checkInputSize, isOutsideInput, parseInbound, parseStartAt, type RunDecisionInput } from './inputs.js';
import { inspectRun } from './inspect.js';
import { type StartedNotice, type TakenNotice, waitForNotice } from './notices.js';

/** Queue group shared by every router, so each request is answered once. */
const ROUTER_QUEUE = 'squall-router';

/**
 * A start request is answered by the notice of its durable copy; only when none came within this
 * long is the workflowId's record read, for the start sent again within JetStream's duplicate
 * window (deduplicated, so no copy will be processed). Reading first would cost every start a read.
 */
const START_RECORD_AFTER_MS = 1000;

/** The same for a signal's `taken` notice: when none came this soon, the run's recent inputs are read. */
const TAKEN_RECORD_AFTER_MS = 1000;

/** RouterRequestsOptions.takenWaitMs's default. */
const TAKEN_WAIT_MS = 60_000;

/** Sends a reply (JSON when the request was JSON); an Error becomes an error reply. */
export type Reply = (msg: Msg, body: unknown) => void;

/** Options of the request handlers. */
export interface RouterRequestsOptions {
  nc: NatsConnection;
  subjects: Subjects;
  store: Store;
  registry: WorkflowRegistry;
  decider: RunDecider;
  reply: Reply;
  log: Logger;
  /** Largest request body accepted, in bytes. */
  maxInputBytes: number;
  /** Decodes a request body, loading it first when it was sent out of band (Bus.readBody). */
  readBody: Bus['readBody'];
  /** How long a start request waits for its durable copy to be processed. @default 30_000 */
  startReplyTimeoutMs?: number;
  /**
   * How long a plain signal, cancel or terminate request (one without progress notices: a `nats
   * req`) waits for its durable copy to be taken before it is answered anyway. @default 12_000
   */
  takenReplyTimeoutMs?: number;
  /**
   * How long such a request from a requester that takes progress notices (the Squall client)
   * waits for it, before it is answered TimeoutError. @default 60_000
   */
  takenWaitMs?: number;
}

/** Subscribes every request handler; returns the subscriptions to drain on stop. */
export function serveRouterRequests(o: RouterRequestsOptions): Subscription[] {
  const { nc, subjects } = o;
  const serve = (subject: string, handle: (msg: Msg) => Promise<void>): Subscription =>
    nc.subscribe(subject, {
      queue: ROUTER_QUEUE,
      callback: (err, msg) => {
        if (err) {
          o.log.warn('request subscription error', { subject, err });
          return;
        }
        if (!msg.reply) return; // a plain publish: only the durable copy matters
        Promise.resolve()
          .then(() => {
            checkInputSize(msg.subject, msg.data, o.maxInputBytes);
            return handle(msg);
          })
          .catch((e: unknown) => o.reply(msg, toSquallError(e)));
      },
    });
  return [
    serve(subjects.all.start, (m) => answerStart(o, m)),
    serve(subjects.all.startLevels, (m) => answerStart(o, m)),
    serve(subjects.all.signal, (m) => answerAccepted(o, m)),
    serve(subjects.all.cancel, (m) => answerAccepted(o, m)),
    serve(subjects.all.terminate, (m) => answerAccepted(o, m)),
    serve(subjects.all.query, (m) => answerQuery(o, m)),
    serve(subjects.all.api, (m) => answerApi(o, m)),
    serve(subjects.all.callback, (m) => answerCallback(o, m)),
  ];
}

function lastToken(subject: string): string {
  return subject.slice(subject.lastIndexOf('.') + 1);
}

async function answerStart(o: RouterRequestsOptions, msg: Msg): Promise<void> {
  const input = parseStartAt(o.subjects, msg.subject, await o.readBody(msg));
  if (!o.registry.latest(input.workflowType)) {
    throw new InvalidInputError(`unknown workflow type ${JSON.stringify(input.workflowType)}`, {
      details: { reason: 'unknown-type', workflowType: input.workflowType, known: o.registry.names() },
    });
  }
  if (input.workflowId === undefined) {
    // JetStream keeps no reply subject, so without an id we cannot tell which run is ours.
    o.reply(msg, {
      accepted: true,
      workflowId: null,
      note: 'the start was accepted; put workflowId in the body (or a Nats-Msg-Id header) to get { workflowId, runId } back',
    });
    return;
  }
  const workflowId = input.workflowId;
  const msgId = msg.headers?.get('Nats-Msg-Id') || undefined;
  const notice = waitForStarted(o, workflowId, msgId);
  const stopProgress = keepRequesterWaiting(msg);
  try {
    // The durable copy's notice answers nearly every start, so the record is read only when none
    // came soon: a start sent again within JetStream's duplicate window has no durable copy.
    let n = await Promise.race([notice.promise, delay(START_RECORD_AFTER_MS, null)]);
    if (n === null) {
      const rec = await holderRecord(o, workflowId);
      // A signal-with-start is answered only once its signal is in (an open run seen now may close first).
      // So is a branch, reset or resume: the holder seen now may be the run it replaces.
      const known =
        rec &&
        ((input.signal === undefined && input.from === undefined) || (msgId !== undefined && rec.startMsgId === msgId))
          ? startAnswerFromRecord(rec, input.idReusePolicy, msgId)
          : undefined;
      if (known) {
        o.reply(msg, known);
        return;
      }
      n = await notice.promise;
    }
    if (n === undefined) return; // no answer in time: the client retries with the same msg id
    o.reply(
      msg,
      n.error ? fromErrorInfo(n.error, { relay: true }) : { workflowId, runId: n.runId, created: n.created ?? false },
    );
  } finally {
    stopProgress();
    notice.cancel();
  }
}

/** Resolves with `value` after `ms`. */
function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

/** What a start needs to know of a workflowId's holder: its run, whether open, and its start's msg id. */
interface HolderRecord {
  workflowId: string;
  runId: string;
  status: RunStatus;
  startMsgId?: string;
}

/** The workflowId's holder (a holder without a summary yet is a run still starting: open). */
async function holderRecord(o: RouterRequestsOptions, workflowId: string): Promise<HolderRecord | undefined> {
  const holder = await o.decider.holder(workflowId);
  if (!holder) return undefined;
  const status = (await o.store.getRun(holder.runId))?.status ?? 'running';
  return { workflowId, runId: holder.runId, status, ...(holder.startMsgId ? { startMsgId: holder.startMsgId } : {}) };
}

function startAnswerFromRecord(rec: HolderRecord, policy: string, msgId: string | undefined): unknown {
  if (msgId !== undefined && rec.startMsgId === msgId)
    return { workflowId: rec.workflowId, runId: rec.runId, created: true };
  if (rec.status === 'running') {
    if (policy === 'rejectWhileOpen' || policy === 'rejectDuplicate') {
      return new AlreadyStartedError(`workflowId ${rec.workflowId} is taken by open run ${rec.runId}`, {
        details: { workflowId: rec.workflowId, runId: rec.runId },
      });
    }
    return { workflowId: rec.workflowId, runId: rec.runId, created: false };
  }
  if (policy === 'rejectDuplicate') {
    return new AlreadyStartedError(`workflowId ${rec.workflowId} was used by run ${rec.runId} (${rec.status})`, {
      details: { workflowId: rec.workflowId, runId: rec.runId, status: rec.status },
    });
  }
  return undefined; // closed: a new run will start, wait for it
}

function waitForStarted(
  o: RouterRequestsOptions,
  workflowId: string,
  msgId: string | undefined,
): { promise: Promise<StartedNotice | undefined>; cancel(): void } {
  return waitForNotice<StartedNotice>(
    o.nc,
    o.subjects.started(workflowId),
    (n) => msgId === undefined || n.msgId === msgId,
    o.startReplyTimeoutMs ?? 30_000,
  );
}

async function answerAccepted(o: RouterRequestsOptions, msg: Msg): Promise<void> {
  const input = parseInbound(o.subjects, msg.subject, await o.readBody(msg));
  if (input.kind !== 'run' || !isOutsideInput(input.decision)) return;
  // Listening before anything else: the durable copy may be decided while the holder is read.
  const msgId = msg.headers?.get('Nats-Msg-Id') || undefined;
  const waits = progressTimeoutOf(msg) !== undefined;
  const notice =
    msgId === undefined
      ? undefined
      : waitForNotice<TakenNotice>(
          o.nc,
          o.subjects.taken(input.workflowId),
          (n) => n.msgId === msgId,
          waits ? (o.takenWaitMs ?? TAKEN_WAIT_MS) : (o.takenReplyTimeoutMs ?? 12_000),
        );
  const stopProgress = keepRequesterWaiting(msg);
  try {
    // One summary read where this router knows the holder (the decision then needs no read at all).
    const rec = await o.decider.holderStatus(input.workflowId);
    if (!rec)
      throw new NotFoundError(`no run for workflowId ${input.workflowId}`, {
        details: { workflowId: input.workflowId },
      });
    if (rec.status !== 'running' && !(await closedByThis(o, rec.runId, input.decision, msg))) {
      throw new NotFoundError(
        `run ${rec.runId} of workflowId ${input.workflowId} is ${rec.status}; it takes no more ${input.decision.kind}s`,
        {
          details: { workflowId: input.workflowId, runId: rec.runId, status: rec.status },
        },
      );
    }
    if (notice && msgId !== undefined && rec.status === 'running')
      await untilTaken(o, notice.promise, {
        kind: input.decision.kind,
        workflowId: input.workflowId,
        runId: rec.runId,
        msgId,
        waits,
      });
    o.reply(msg, { accepted: true, workflowId: input.workflowId, runId: rec.runId });
  } finally {
    stopProgress();
    notice?.cancel();
  }
}

/**
 * Holds a signal's (cancel's, terminate's) reply until its durable copy is in the run's history,
 * told by the deciding router's `taken` notice, or seen in the run's recent inputs when none came
 * soon (one published before this router listened). So a sender that sends its next signal after
 * this one's reply has it decided after this one, whichever routers take the two. Throws the
 * refusal a notice carries. A requester that takes progress notices (the Squall client) is kept
 * waiting up to `takenWaitMs` (60 s), however long the routers' queue, and is then answered
 * TimeoutError unless the message is in by then: an `accepted` reply always means "in history".
 * A plain request is answered after `takenReplyTimeoutMs` (12 s) all the same, as it could not
 * wait longer: the inbox holds the message durably, but that reply promises no order.
 */
async function untilTaken(
  o: RouterRequestsOptions,
  notice: Promise<TakenNotice | undefined>,
  asked: { kind: string; workflowId: string; runId: string; msgId: string; waits: boolean },
): Promise<void> {
  let n = await Promise.race([notice, delay(TAKEN_RECORD_AFTER_MS, null)]);
  if (n === null) {
    if (await takenOrUnreadable(o, asked.runId, asked.msgId)) return;
    n = await notice;
  }
  if (n === undefined) {
    if (!asked.waits || (await takenOrUnreadable(o, asked.runId, asked.msgId))) return;
    throw new TimeoutError(
      `${asked.kind} ${asked.msgId} for run ${asked.runId} (workflowId ${asked.workflowId}) is not in the run's history after ${o.takenWaitMs ?? TAKEN_WAIT_MS} ms (routers busy or away); it waits in the inbox and is taken once a router can: do not send it again`,
      { details: { workflowId: asked.workflowId, runId: asked.runId, msgId: asked.msgId } },
    );
  }
  if (n.error) throw fromErrorInfo(n.error, { relay: true });
}

/**
 * True when the run's history holds the message (a fresh read), or when this router cannot read
 * the run: a router that lacks the run's version (likely not alone in a rolling deploy) answers
 * as before, and leaves the order to the routers that can decide it.
 */
async function takenOrUnreadable(o: RouterRequestsOptions, runId: string, msgId: string): Promise<boolean> {
  const run = await o.decider.load(runId, { fresh: true }).catch((err: unknown) => {
    if (err instanceof NotFoundError) return null;
    throw err;
  });
  return run === null || (run?.state.recentInputs?.includes(outsideInputKey({ startKey: '', msgId })) ?? false);
}

type OutsideInput = Extract<RunDecisionInput, { kind: 'signal' | 'cancel' | 'terminate' }>;

/**
 * Whether a closed run was closed by this very message, whose durable copy the router took before
 * the request was answered: the run remembers the message's `Nats-Msg-Id` among its recent
 * inputs, or, for a message without one, its closing commit was made by an equal input.
 */
async function closedByThis(o: RouterRequestsOptions, runId: string, input: OutsideInput, msg: Msg): Promise<boolean> {
  const run = await o.decider.load(runId, { fresh: true });
  if (!run) return false;
  const msgId = msg.headers?.get('Nats-Msg-Id') || undefined;
  if (msgId !== undefined) return run.state.recentInputs?.includes(outsideInputKey({ startKey: '', msgId })) ?? false;
  for await (const commit of o.store.loadHistory(runId, run.state.lastSeq - 1)) {
    for (const e of commit.events) {
      if (e.type === 'SignalReceived' && input.kind === 'signal') return isDeepStrictEqual(e.signal, input.event);
      if (e.type === 'CancelRequested' && input.kind === 'cancel') return e.reason === input.reason;
      if (e.type === 'TerminateRequested' && input.kind === 'terminate') return e.reason === input.reason;
    }
  }
  return false;
}

/**
 * Answers a callback completion once its run is known to still wait for it, or to have recorded
 * exactly this outcome (the durable copy of the same message may win the race to the run); the
 * durable copy is what moves the run. Two different completions racing may both be accepted
 * here: the later one is then recorded as ignored and parked (`callback-closed`).
 */
async function answerCallback(o: RouterRequestsOptions, msg: Msg): Promise<void> {
  const input = parseInbound(o.subjects, msg.subject, await o.readBody(msg));
  if (input.kind !== 'run') return;
  const resolution = input.decision;
  const kind = resolution.kind;
  if (kind !== 'callbackCompleted' && kind !== 'callbackFailed' && kind !== 'callbackHeartbeat') return;
  // A callback token always names its run (see parseCallback).
  const { workflowId, runId = '' } = input;
  const { callbackSeq } = resolution;
  const details = { workflowId, runId, callbackSeq };
  const run = await o.decider.load(runId, { fresh: true });
  if (!run) throw new NotFoundError(`no run ${runId} (workflowId ${workflowId}) for this callback token`, { details });
  const open = run.state.status === 'running' && pendingCallback(run.state, callbackSeq);
  // The durable copy of this very message may have been processed before this check: a
  // resolution recorded with the same outcome is this request's, so it is accepted.
  if (!open && kind !== 'callbackHeartbeat' && (await resolvedAs(o.store, runId, resolution))) {
    o.reply(msg, { accepted: true, workflowId, runId });
    return;
  }
  if (run.state.status !== 'running') {
    throw new CallbackClosedError(`run ${runId} of ${workflowId} is ${run.state.status}; its callbacks are closed`, {
      details: { ...details, status: run.state.status },
    });
  }
  if (!pendingCallback(run.state, callbackSeq)) {
    throw new CallbackClosedError(
      `callback ${callbackSeq} of run ${runId} (${workflowId}) was already completed, failed, timed out or cancelled`,
      { details },
    );
  }
  o.reply(msg, { accepted: true, workflowId, runId });
}

type CallbackResolution = Extract<RunDecisionInput, { kind: 'callbackCompleted' | 'callbackFailed' }>;

/** Whether the run's history holds this callback's resolution with exactly this outcome. */
async function resolvedAs(store: Store, runId: string, input: CallbackResolution): Promise<boolean> {
  for await (const commit of store.loadHistory(runId)) {
    for (const e of commit.events) {
      if ((e.type !== 'CallbackCompleted' && e.type !== 'CallbackFailed') || e.callbackSeq !== input.callbackSeq) {
        continue;
      }
      if (e.ignored !== undefined) continue;
      return e.type === 'CallbackCompleted'
        ? input.kind === 'callbackCompleted' && isDeepStrictEqual(e.output, input.output)
        : input.kind === 'callbackFailed' && isDeepStrictEqual(e.error, input.error);
    }
  }
  return false;
}

async function answerQuery(o: RouterRequestsOptions, msg: Msg): Promise<void> {
  const workflowId = validateToken('workflowId', lastToken(msg.subject));
  const run = await o.decider.current(workflowId, { fresh: true });
  if (!run) throw new NotFoundError(`no run for workflowId ${workflowId}`, { details: { workflowId } });
  o.reply(msg, inspectRun(run.def, run.state));
}

function field(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new InvalidInputError(`${name} must be a string`);
  return v;
}

function num(body: Record<string, unknown>, name: string): number | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidInputError(`${name} must be a number`);
  return v;
}

/** The summary fields as the run's current state has them (fresher than a stored summary). */
function summaryOf(state: RunState): Record<string, unknown> {
  const persisted = state.snapshot as { value?: unknown } | undefined;
  return {
    status: state.status,
    stateValue: persisted?.value,
    lastSeq: state.lastSeq,
    updatedAt: state.updatedAt,
    ...(state.closedAt === undefined ? {} : { closedAt: state.closedAt }),
    ...(state.output === undefined ? {} : { output: state.output }),
    ...(state.error === undefined ? {} : { error: state.error }),
    ...(state.searchAttributes === undefined ? {} : { searchAttributes: state.searchAttributes }),
  };
}

/** A run summary without the engine's internal state, for describe and list. */
export function summarize(rec: RunRecord): Record<string, unknown> {
  const { state: _state, ...rest } = rec;
  return rest;
}

/** The run a describe or history request names: by runId, or the workflowId's current holder. */
async function runNamed(
  o: RouterRequestsOptions,
  body: Record<string, unknown>,
): Promise<{ runId: string; workflowId?: string }> {
  const runId = field(body, 'runId');
  const workflowId = field(body, 'workflowId');
  if (runId !== undefined) return { runId: validateToken('runId', runId) };
  if (workflowId === undefined) throw new InvalidInputError('give workflowId or runId');
  const holder = await o.decider.holder(validateToken('workflowId', workflowId));
  if (!holder) throw new NotFoundError(`no run for workflowId ${workflowId}`, { details: { workflowId } });
  return { runId: holder.runId, workflowId };
}

/** The workflowId of a run known by id: its summary's, else its first commit's (no summary yet). */
async function workflowIdOf(o: RouterRequestsOptions, runId: string): Promise<string> {
  const rec = await o.store.getRun(runId);
  if (rec) return rec.workflowId;
  for await (const c of o.store.loadHistory(runId)) return c.workflowId;
  throw new NotFoundError(`no run for runId ${runId}`, { details: { runId } });
}

/**
 * A run as describe shows it: from its state (hot, else summary plus history), so a run whose
 * start summary is not written yet is described too; the summary adds the start's msg id.
 */
async function describeRun(o: RouterRequestsOptions, runId: string): Promise<Record<string, unknown>> {
  const run = await o.decider.load(runId, { fresh: true });
  if (!run) throw new NotFoundError(`no run for runId ${runId}`, { details: { runId } });
  const s = run.state;
  if (s.swept !== undefined) {
    throw new NotFoundError(
      `run ${runId} of ${s.workflowId} closed ${s.status}; its history was removed after its retention period`,
      { details: { runId, workflowId: s.workflowId, status: s.status, swept: s.swept } },
    );
  }
  return {
    runId: s.runId,
    workflowId: s.workflowId,
    workflowType: s.workflowType,
    version: s.version,
    startedAt: s.startedAt,
    ...(s.memo === undefined ? {} : { memo: s.memo }),
    ...(s.origin === undefined ? {} : { origin: s.origin }),
    ...summaryOf(s),
    query: inspectRun(run.def, s),
  };
}

async function answerApi(o: RouterRequestsOptions, msg: Msg): Promise<void> {
  const op = lastToken(msg.subject);
  const raw = decodeBody(msg.data, msg.headers, msg.subject) ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new InvalidInputError(`${op}: body must be an object`);
  const body = raw as Record<string, unknown>;
  switch (op) {
    case 'describe': {
      o.reply(msg, await describeRun(o, (await runNamed(o, body)).runId));
      return;
    }
    case 'history': {
      const named = await runNamed(o, body);
      const { runId } = named;
      const workflowId = named.workflowId ?? (await workflowIdOf(o, runId));
      // `fromSeq` is the first commit to return (client.history's contract), `nextSeq` the next one.
      const fromSeq = Math.max(1, num(body, 'fromSeq') ?? 1);
      const limit = Math.min(num(body, 'limit') ?? 1000, 10_000);
      const commits: { seq: number; at: number; events: unknown[] }[] = [];
      let nextSeq: number | undefined;
      for await (const c of o.store.loadHistory(runId, fromSeq - 1)) {
        if (commits.length >= limit) {
          nextSeq = c.seq;
          break;
        }
        commits.push({ seq: c.seq, at: c.at, events: c.events });
      }
      o.reply(msg, { workflowId, runId, commits, ...(nextSeq ? { nextSeq } : {}) });
      return;
    }
    case 'list': {
      const filter: RunFilter = {};
      const status = body.status;
      if (status !== undefined) filter.status = status as RunFilter['status'];
      const type = field(body, 'workflowType');
      if (type) filter.workflowType = type;
      const from = num(body, 'startedFrom');
      if (from !== undefined) filter.startedFrom = from;
      const to = num(body, 'startedTo');
      if (to !== undefined) filter.startedTo = to;
      if (body.where !== undefined) filter.where = validateSearchAttributes(body.where, 'list.where');
      const cursor = field(body, 'cursor');
      const limit = num(body, 'limit');
      const page = await o.store.listRuns(filter, {
        ...(cursor ? { cursor } : {}),
        ...(limit ? { limit } : {}),
      });
      o.reply(msg, { runs: page.items.map(summarize), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) });
      return;
    }
    default:
      throw new InvalidInputError(`unknown api operation ${JSON.stringify(op)}; known: describe, history, list`);
  }
}
