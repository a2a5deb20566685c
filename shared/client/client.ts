/**
 * The Squall client: starts runs, signals, cancels, terminates and queries them, reads their results and
 * history, and watches completions. It only talks NATS; routers answer every request. This file holds
 * the connection's lifecycle and the requests; result.ts and watch.ts the long-lived reads.
 */

import { randomUUID } from 'node:crypto';
import { type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect as natsConnect } from '@nats-io/transport-node';
import { explainConnectFailure, type NatsSecurity, natsConnectOptions, serversForLog } from '../bus/auth.js';
import { jetStreamBlobBackend } from '../bus/blobs.js';
import { type BranchRequest, parseBranchRequest } from '../bus/branch-request.js';
import { validateSignal } from '../engine/input.js';
import { validateSearchAttributes } from '../engine/search-attributes.js';
import { type ErrorInfo, InvalidInputError, UnavailableError } from '../errors.js';
import { DEFAULT_PRIORITY } from '../flow/priority.js';
import type { SignalEvent } from '../history/events.js';
import { type Subjects, subjects, validateToken } from '../names.js';
import type { BlobBackend } from '../payload/blobs.js';
import { usePayloadCodecs } from '../payload/codec.js';
import { traceStart } from '../telemetry/start.js';
import {
  type CallbackFailure,
  completeCallbackBody,
  failCallbackBody,
  heartbeatCallbackBody,
  startBody,
} from './bodies.js';
import { type PublishEventOptions, type PublishedEventReceipt, publishEvent } from './events.js';
import {
  type ClientOptions,
  type ClientSession,
  defaultClientOptions,
  definedOnly,
  type ResolvedClientOptions,
  type Stoppable,
} from './options.js';
import { expectShape, safeDecode } from './replies.js';
import { awaitResult } from './result.js';
import { type ScheduleClient, scheduleClient } from './schedules.js';
import type {
  AcceptedReply,
  BranchOptions,
  DescribeOptions,
  HistoryOptions,
  HistoryPage,
  ListFilter,
  ListPage,
  QueryResult,
  ResetOptions,
  ResultOptions,
  ResumeOptions,
  RunSummary,
  SignalWithStartOptions,
  SignalWithStartResult,
  StartOptions,
  StartResult,
  WatchOptions,
  WatchStream,
} from './types.js';
import { openWatch } from './watch.js';
import { call, isRecord, typedError } from './wire.js';

/** A connection to a Squall namespace. Every method validates its ids before sending anything. */
export interface SquallClient {
  /** The subject builders of this client's namespace. */
  readonly subjects: Subjects;
  /** The underlying NATS connection. */
  readonly nc: NatsConnection;
  /** Schedules: workflows started on a cron or an interval (answered by timer services). */
  readonly schedules: ScheduleClient;
  /**
   * Starts a run of `workflowType` (a workflowId is generated when none is given). Retries with the
   * same message id on timeout, so a start is never applied twice.
   */
  start(workflowType: string, input?: unknown, opts?: StartOptions): Promise<StartResult>;
  /**
   * Signal-with-start: delivers `event` to the open run of `workflowId`, or starts a run of
   * `workflowType` (with `opts.input`) and delivers it right after the start, in the same commit.
   * Concurrent calls for one workflowId never create two runs nor lose a signal.
   */
  signalWithStart(
    workflowType: string,
    workflowId: string,
    event: SignalEvent,
    opts?: SignalWithStartOptions,
  ): Promise<SignalWithStartResult>;
  /**
   * Starts a new run (under `opts.newWorkflowId`) whose history is the run's up to commit
   * `opts.atSeq`, going on live from there under the current definition of its version. The source
   * must be closed unless `opts.allowOpen`. See docs/workflows.md#branch-reset-and-resume.
   */
  branch(workflowId: string, opts: BranchOptions): Promise<StartResult>;
  /** Like branch, on the same workflowId: its open run (if any) is terminated first. */
  reset(workflowId: string, opts: ResetOptions): Promise<StartResult>;
  /** Re-enters a failed run at its last commit before the failure, as a new run of the same workflowId. */
  resume(workflowId: string, opts?: ResumeOptions): Promise<StartResult>;
  /** Sends an XState event `{ type, ...data }` to the open run of `workflowId`. NotFoundError for no such run. */
  signal(workflowId: string, event: SignalEvent): Promise<AcceptedReply>;
  /** Publishes a user event: every run waiting on `key` whose filter matches gets it once (docs/events.md). */
  publishEvent(key: string, payload?: unknown, opts?: PublishEventOptions): Promise<PublishedEventReceipt>;
  /** Asks the open run of `workflowId` to cancel. */
  cancel(workflowId: string, reason?: string): Promise<AcceptedReply>;
  /**
   * Ends the open run of `workflowId` at once: its machine is not consulted, pending activities
   * and timers are cancelled, children get their parent close policy; it closes `terminated`.
   */
  terminate(workflowId: string, reason?: string): Promise<AcceptedReply>;
  /**
   * Completes the callback a run handed out as `token`: its invoke finishes with
   * `xstate.done.actor.<id>` carrying `output`. CallbackClosedError when the callback was already
   * completed, failed, timed out or cancelled, or its run is closed.
   */
  completeCallback(token: string, output?: unknown): Promise<AcceptedReply>;
  /** Fails the callback of `token`: its invoke finishes with `xstate.error.actor.<id>` carrying `error`. */
  failCallback(token: string, error: CallbackFailure): Promise<AcceptedReply>;
  /**
   * Tells the run that the callback of `token` is still being worked on: its heartbeat window
   * (`heartbeatTimeoutMs`) starts again. CallbackClosedError when the callback is over.
   */
  heartbeatCallback(token: string): Promise<AcceptedReply>;
  /** Reads a run's current state, status and what it accepts; changes nothing. */
  query(workflowId: string): Promise<QueryResult>;
  /**
   * Waits for a run's completion, even one that happened before the call: resolves with the output
   * of a completed run, throws WorkflowFailedError (failed, terminated) or CancelledError, and
   * UnavailableError once NATS has stayed disconnected past `disconnectTimeoutMs`.
   */
  result<T = unknown>(workflowId: string, opts?: ResultOptions): Promise<T>;
  /** The summary of a run (the latest of the workflowId unless `runId` is given). */
  describe(workflowId: string, opts?: DescribeOptions): Promise<RunSummary>;
  /** One page of a run's history, oldest commit first. */
  history(workflowId: string, opts?: HistoryOptions): Promise<HistoryPage>;
  /** One page of run summaries matching `filter`. */
  list(filter?: ListFilter): Promise<ListPage>;
  /**
   * Completions and emitted events from `opts.from` on (default: new ones), narrowed by workflowId
   * and/or type; each once, in stream order, also those stored while the client was disconnected.
   */
  watch(opts?: WatchOptions): WatchStream;
  /** Stops watches and closes the connection if the client opened it. */
  close(): Promise<void>;
}

/** Connects to NATS (or uses `opts.nc`) and returns a client for one namespace. */
export async function connect(opts: ClientOptions = {}): Promise<SquallClient> {
  const { codecs, ...rest } = opts;
  if (codecs !== undefined) usePayloadCodecs(codecs);
  const o = { ...defaultClientOptions(), ...definedOnly(rest) };
  const s = subjects(o.prefix);
  const owned = opts.nc === undefined;
  const nc = opts.nc ?? (await openConnection(o.servers, o.name, o.nats, o.requestTimeoutMs));
  return new Client(nc, owned, s, o);
}

/**
 * Connects once. Refused credentials and failed TLS are a ConfigError, anything else an
 * UnavailableError; both name the servers without credentials and never show a secret.
 */
async function openConnection(
  servers: string | string[],
  name: string,
  security: NatsSecurity | undefined,
  timeoutMs: number,
): Promise<NatsConnection> {
  const auth = natsConnectOptions(security);
  try {
    return await natsConnect({ ...auth, servers, name, maxReconnectAttempts: -1, timeout: timeoutMs });
  } catch (err) {
    throw (
      (await explainConnectFailure(err, servers, security, timeoutMs)) ??
      new UnavailableError(`cannot connect to NATS at ${serversForLog(servers)}: ${(err as Error).message}`, {
        cause: err,
      })
    );
  }
}

class Client implements SquallClient, ClientSession {
  readonly open = new Set<Stoppable>();
  readonly schedules: ScheduleClient;
  readonly blobs: BlobBackend;

  constructor(
    readonly nc: NatsConnection,
    private readonly owned: boolean,
    readonly subjects: Subjects,
    readonly opts: ResolvedClientOptions,
  ) {
    this.schedules = scheduleClient(nc, subjects, () => this.retry());
    let jsm: Promise<JetStreamManager> | undefined;
    this.blobs = jetStreamBlobBackend(jetstream(nc), () => (jsm ??= jetstreamManager(nc)), subjects.prefix);
  }

  async start(workflowType: string, input?: unknown, opts: StartOptions = {}): Promise<StartResult> {
    const workflowId = validateToken('workflowId', opts.workflowId ?? randomUUID());
    return traceStart(workflowType, workflowId, () =>
      this.sendStart(workflowType, workflowId, startBody(workflowId, input, opts)),
    );
  }

  async signalWithStart(
    workflowType: string,
    workflowId: string,
    event: SignalEvent,
    opts: SignalWithStartOptions = {},
  ): Promise<SignalWithStartResult> {
    validateToken('workflowId', workflowId);
    checkSignal(event);
    validateSignal(event);
    const body = startBody(workflowId, opts.input, opts);
    body.signal = event;
    const r = await traceStart(workflowType, workflowId, () => this.sendStart(workflowType, workflowId, body));
    return { workflowId: r.workflowId, runId: r.runId, started: r.created };
  }

  branch(workflowId: string, opts: BranchOptions): Promise<StartResult> {
    const target = opts.newWorkflowId ?? `${workflowId}-branch-${randomUUID().slice(0, 8)}`;
    const { atSeq, runId, allowOpen } = opts;
    return this.startFrom(target, { kind: 'branch', workflowId, runId, atSeq, allowOpen: allowOpen || undefined });
  }

  reset(workflowId: string, opts: ResetOptions): Promise<StartResult> {
    return this.startFrom(workflowId, { kind: 'reset', workflowId, runId: opts.runId, atSeq: opts.atSeq });
  }

  resume(workflowId: string, opts: ResumeOptions = {}): Promise<StartResult> {
    return this.startFrom(workflowId, { kind: 'resume', workflowId, runId: opts.runId });
  }

  /**
   * A start whose run is rebuilt from a source's history: the source's type and runId come from
   * describe (NotFoundError for an unknown run), the request is checked before it is sent.
   */
  private async startFrom(target: string, from: Omit<BranchRequest, 'runId'> & { runId?: string }) {
    validateToken('workflowId', target);
    const source = await this.describe(from.workflowId, from.runId === undefined ? {} : { runId: from.runId });
    const checked = parseBranchRequest({ ...from, runId: source.runId });
    const body = { workflowId: target, from: checked };
    return traceStart(source.workflowType, target, () => this.sendStart(source.workflowType, target, body));
  }

  private async sendStart(workflowType: string, workflowId: string, body: Record<string, unknown>) {
    // A prioritised start goes on its level's subject, which routers take by priority.
    const subject = this.subjects.startAt(
      workflowType,
      typeof body.priority === 'number' ? body.priority : DEFAULT_PRIORITY,
    );
    const requestId = randomUUID();
    const reply = await call(this.nc, subject, body, {
      ...this.retry(),
      msgId: requestId,
      notification: {
        subject: this.subjects.started(workflowId),
        accept: (msg) => {
          const b = safeDecode(msg);
          return isRecord(b) && b.msgId === requestId;
        },
      },
    });
    // A `started` notice reports a refused start in its body rather than as an error reply.
    if (isRecord(reply) && isRecord(reply.error) && reply.runId === undefined) {
      throw typedError(reply.error as unknown as ErrorInfo);
    }
    const r = expectShape<StartResult>(reply, subject, ['workflowId', 'runId']);
    return { workflowId: r.workflowId, runId: r.runId, created: r.created === true };
  }

  publishEvent(key: string, payload?: unknown, opts?: PublishEventOptions): Promise<PublishedEventReceipt> {
    return publishEvent(this.nc, this.subjects, this.retry(), key, payload, opts);
  }

  async signal(workflowId: string, event: SignalEvent): Promise<AcceptedReply> {
    const subject = this.subjects.signal(workflowId);
    checkSignal(event);
    const reply = await call(this.nc, subject, event, { ...this.retry(), msgId: randomUUID() });
    return expectShape<AcceptedReply>(reply, subject, ['accepted']);
  }

  async cancel(workflowId: string, reason?: string): Promise<AcceptedReply> {
    const subject = this.subjects.cancel(workflowId);
    if (reason !== undefined && typeof reason !== 'string') {
      throw new InvalidInputError(`cancel reason must be a string, got ${typeof reason}`);
    }
    const reply = await call(this.nc, subject, reason === undefined ? {} : { reason }, {
      ...this.retry(),
      msgId: randomUUID(),
    });
    return expectShape<AcceptedReply>(reply, subject, ['accepted']);
  }

  async terminate(workflowId: string, reason?: string): Promise<AcceptedReply> {
    const subject = this.subjects.terminate(workflowId);
    if (reason !== undefined && typeof reason !== 'string') {
      throw new InvalidInputError(`terminate reason must be a string, got ${typeof reason}`);
    }
    const reply = await call(this.nc, subject, reason === undefined ? {} : { reason }, {
      ...this.retry(),
      msgId: randomUUID(),
    });
    return expectShape<AcceptedReply>(reply, subject, ['accepted']);
  }

  async completeCallback(token: string, output?: unknown): Promise<AcceptedReply> {
    const subject = this.subjects.callback('complete');
    const body = completeCallbackBody(token, output);
    return expectShape<AcceptedReply>(await this.send(subject, body), subject, ['accepted']);
  }

  async failCallback(token: string, error: CallbackFailure): Promise<AcceptedReply> {
    const subject = this.subjects.callback('fail');
    const body = failCallbackBody(token, error);
    return expectShape<AcceptedReply>(await this.send(subject, body), subject, ['accepted']);
  }

  async heartbeatCallback(token: string): Promise<AcceptedReply> {
    const subject = this.subjects.callback('heartbeat');
    const body = heartbeatCallbackBody(token);
    return expectShape<AcceptedReply>(await this.send(subject, body), subject, ['accepted']);
  }

  private send(subject: string, body: unknown): Promise<unknown> {
    return call(this.nc, subject, body, { ...this.retry(), msgId: randomUUID() });
  }

  async query(workflowId: string): Promise<QueryResult> {
    const subject = this.subjects.query(workflowId);
    return expectShape<QueryResult>(await call(this.nc, subject, {}, this.retry()), subject, ['runId', 'status']);
  }

  async describe(workflowId: string, opts: DescribeOptions = {}): Promise<RunSummary> {
    validateToken('workflowId', workflowId);
    if (opts.runId !== undefined) validateToken('runId', opts.runId);
    const subject = this.subjects.api('describe');
    const reply = await call(this.nc, subject, { workflowId, ...definedOnly(opts) }, this.retry());
    return expectShape<RunSummary>(reply, subject, ['runId', 'status']);
  }

  async history(workflowId: string, opts: HistoryOptions = {}): Promise<HistoryPage> {
    validateToken('workflowId', workflowId);
    if (opts.runId !== undefined) validateToken('runId', opts.runId);
    checkPositiveInt('fromSeq', opts.fromSeq);
    checkPositiveInt('limit', opts.limit);
    const subject = this.subjects.api('history');
    const reply = await call(this.nc, subject, { workflowId, ...definedOnly(opts) }, this.retry());
    return expectShape<HistoryPage>(reply, subject, ['commits']);
  }

  async list(filter: ListFilter = {}): Promise<ListPage> {
    const { type, ...rest } = filter;
    const wire = type !== undefined && rest.workflowType === undefined ? { ...rest, workflowType: type } : rest;
    if (wire.workflowType !== undefined) validateToken('workflowType', wire.workflowType);
    if (wire.where !== undefined) validateSearchAttributes(wire.where, 'where');
    checkPositiveInt('limit', filter.limit);
    const subject = this.subjects.api('list');
    const reply = await call(this.nc, subject, definedOnly(wire), this.retry());
    return expectShape<ListPage>(reply, subject, ['runs']);
  }

  async result<T = unknown>(workflowId: string, opts: ResultOptions = {}): Promise<T> {
    return awaitResult<T>(this, workflowId, opts);
  }

  watch(opts: WatchOptions = {}): WatchStream {
    return openWatch(this, opts);
  }

  async close(): Promise<void> {
    for (const h of [...this.open]) h.stop();
    if (!this.owned || this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch {
      // Draining needs the server: while the connection is down (reconnecting) there is nothing
      // left to flush, and closing must still end the connection rather than fail.
      if (!this.nc.isClosed()) await this.nc.close();
    }
  }

  private retry(): { timeoutMs: number; attempts: number; blobs: BlobBackend } {
    return { timeoutMs: this.opts.requestTimeoutMs, attempts: this.opts.attempts, blobs: this.blobs };
  }
}

function checkSignal(event: unknown): asserts event is SignalEvent {
  if (!isRecord(event)) throw new InvalidInputError('a signal must be an object { type, ...data }');
  if (typeof event.type !== 'string' || event.type.length === 0) {
    throw new InvalidInputError('a signal needs a non-empty string "type"');
  }
  if (event.type.startsWith('xstate.')) {
    throw new InvalidInputError(`signal type ${JSON.stringify(event.type)} is reserved: "xstate." events are internal`);
  }
}

function checkPositiveInt(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw new InvalidInputError(`${name} must be a positive integer, got ${String(value)}`);
  }
}
