/**
 * The Squall client: starts runs, signals, cancels, terminates and queries them, reads their results and
 * history, and watches completions. It only talks NATS; routers answer every request.
 */
import { randomUUID } from 'node:crypto';
import { type ConsumerMessages, DeliverPolicy, jetstream } from '@nats-io/jetstream';
import {
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  connect as natsConnect,
  type Subscription,
} from '@nats-io/transport-node';
import { validateSignal } from '../engine/input.js';
import { validateSearchAttributes } from '../engine/search-attributes.js';
import {
  CancelledError,
  type ErrorInfo,
  InvalidInputError,
  SquallError,
  TimeoutError,
  UnavailableError,
  WorkflowFailedError,
} from '../errors.js';
import type { SignalEvent } from '../history/events.js';
import { type Logger, silentLogger } from '../log.js';
import { DEFAULT_PREFIX, type Subjects, streamNames, subjects, validateToken } from '../names.js';
import { type CallbackFailure, completeCallbackBody, failCallbackBody, startBody } from './bodies.js';
import type {
  AcceptedReply,
  DescribeOptions,
  EmittedEvent,
  HistoryOptions,
  HistoryPage,
  ListFilter,
  ListPage,
  QueryResult,
  ResultOptions,
  RunOutcome,
  RunSummary,
  SignalWithStartOptions,
  SignalWithStartResult,
  StartOptions,
  StartResult,
  WatchEvent,
  WatchOptions,
  WatchStream,
} from './types.js';
import { call, decode, isRecord, typedError } from './wire.js';

/** Options of `connect()`. */
export interface ClientOptions {
  /** NATS server URL(s); ignored when `nc` is given. @default 'nats://127.0.0.1:4222' */
  servers?: string | string[];
  /** Namespace of subjects and streams. @default 'squall' */
  prefix?: string;
  /** An existing connection to use; the client does not close it. */
  nc?: NatsConnection;
  /** How long one request attempt waits for its reply. @default 5000 */
  requestTimeoutMs?: number;
  /** Sends of one request before it fails with UnavailableError. @default 3 */
  attempts?: number;
  /** How often `result()` looks again for an outcomes stream that does not exist yet. @default 1000 */
  resultPollMs?: number;
  /** Connection name shown by the server. @default 'squall-client' */
  name?: string;
  /** @default silentLogger */
  log?: Logger;
}

/** Defaults of ClientOptions. */
export function defaultClientOptions(): Required<Omit<ClientOptions, 'nc'>> {
  return {
    servers: 'nats://127.0.0.1:4222',
    prefix: DEFAULT_PREFIX,
    requestTimeoutMs: 5000,
    attempts: 3,
    resultPollMs: 1000,
    name: 'squall-client',
    log: silentLogger,
  };
}

/** A connection to a Squall namespace. Every method validates its ids before sending anything. */
export interface SquallClient {
  /** The subject builders of this client's namespace. */
  readonly subjects: Subjects;
  /** The underlying NATS connection. */
  readonly nc: NatsConnection;
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
  /** Sends an XState event `{ type, ...data }` to the open run of `workflowId`. NotFoundError for no such run. */
  signal(workflowId: string, event: SignalEvent): Promise<AcceptedReply>;
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
  /** Reads a run's current state, status and what it accepts; changes nothing. */
  query(workflowId: string): Promise<QueryResult>;
  /**
   * Waits for a run's completion, even one that happened before the call: resolves with the output
   * of a completed run, throws WorkflowFailedError (failed, terminated) or CancelledError.
   */
  result<T = unknown>(workflowId: string, opts?: ResultOptions): Promise<T>;
  /** The summary of a run (the latest of the workflowId unless `runId` is given). */
  describe(workflowId: string, opts?: DescribeOptions): Promise<RunSummary>;
  /** One page of a run's history, oldest commit first. */
  history(workflowId: string, opts?: HistoryOptions): Promise<HistoryPage>;
  /** One page of run summaries matching `filter`. */
  list(filter?: ListFilter): Promise<ListPage>;
  /** Live completions and emitted events from now on, narrowed by workflowId and/or type. */
  watch(opts?: WatchOptions): WatchStream;
  /** Stops watches and closes the connection if the client opened it. */
  close(): Promise<void>;
}

/** Connects to NATS (or uses `opts.nc`) and returns a client for one namespace. */
export async function connect(opts: ClientOptions = {}): Promise<SquallClient> {
  const o = { ...defaultClientOptions(), ...definedOnly(opts) };
  const s = subjects(o.prefix);
  const owned = opts.nc === undefined;
  const nc = opts.nc ?? (await openConnection(o.servers, o.name));
  return new Client(nc, owned, s, o);
}

async function openConnection(servers: string | string[], name: string): Promise<NatsConnection> {
  try {
    return await natsConnect({ servers, name, maxReconnectAttempts: -1 });
  } catch (err) {
    const where = Array.isArray(servers) ? servers.join(', ') : servers;
    throw new UnavailableError(`cannot connect to NATS at ${where}: ${(err as Error).message}`, { cause: err });
  }
}

class Client implements SquallClient {
  private readonly open = new Set<{ stop(): void }>();

  constructor(
    readonly nc: NatsConnection,
    private readonly owned: boolean,
    readonly subjects: Subjects,
    private readonly opts: Required<Omit<ClientOptions, 'nc'>>,
  ) {}

  async start(workflowType: string, input?: unknown, opts: StartOptions = {}): Promise<StartResult> {
    const workflowId = validateToken('workflowId', opts.workflowId ?? randomUUID());
    return this.sendStart(workflowType, workflowId, startBody(workflowId, input, opts));
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
    const r = await this.sendStart(workflowType, workflowId, body);
    return { workflowId: r.workflowId, runId: r.runId, started: r.created };
  }

  private async sendStart(workflowType: string, workflowId: string, body: Record<string, unknown>) {
    const subject = this.subjects.start(workflowType);
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
    validateToken('workflowId', workflowId);
    let wantRunId = opts.runId === undefined ? undefined : validateToken('runId', opts.runId);
    const filter = this.subjects.doneFilter(undefined, workflowId);
    const stream = streamNames(this.subjects.prefix).outcomes;

    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let timeout: NodeJS.Timeout | undefined;
      let messages: ConsumerMessages | undefined;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        messages?.stop();
        this.open.delete(handle);
        fn();
      };
      const handle = { stop: () => finish(() => reject(new CancelledError('client closed while waiting'))) };
      this.open.add(handle);
      if (opts.timeoutMs !== undefined) {
        timeout = setTimeout(
          () => finish(() => reject(new TimeoutError(`no result for ${workflowId} within ${opts.timeoutMs} ms`))),
          opts.timeoutMs,
        );
      }

      // Completions of this workflowId kept in the outcomes stream, then live ones: a run that
      // finished before the call is found, and continue-as-new is followed in order.
      const consider = (body: unknown): void => {
        if (!isOutcome(body) || body.workflowId !== workflowId) return;
        if (wantRunId !== undefined && body.runId !== wantRunId) return;
        if (body.status === 'continued') {
          wantRunId = undefined;
          return;
        }
        finish(() => settleOutcome<T>(body, resolve, reject));
      };
      const follow = async (): Promise<void> => {
        const js = jetstream(this.nc);
        while (!settled) {
          try {
            const consumer = await js.consumers.get(stream, {
              filter_subjects: filter,
              // A given run: search every kept completion. Otherwise: the newest one, then live ones.
              deliver_policy: opts.runId === undefined ? DeliverPolicy.LastPerSubject : DeliverPolicy.All,
            });
            messages = await consumer.consume();
            break;
          } catch (err) {
            // No outcomes stream yet (no router has run in this namespace): look again shortly.
            if (!isStreamNotFound(err)) throw err;
            await new Promise((r) => setTimeout(r, this.opts.resultPollMs));
          }
        }
        if (settled) {
          messages?.stop();
          return;
        }
        for await (const m of messages ?? []) {
          consider(safeDecode(m));
          if (settled) break;
        }
      };
      follow().catch((err: unknown) => finish(() => reject(asSquallError(err))));
    });
  }

  watch(opts: WatchOptions = {}): WatchStream {
    const queue: WatchEvent[] = [];
    let wake: (() => void) | undefined;
    let stopped = false;
    const subs: Subscription[] = [];
    const onMsg = (kind: WatchEvent['kind']) => (err: Error | null, msg: Msg) => {
      if (err) return stop();
      const body = safeDecode(msg);
      if (kind === 'done' && isOutcome(body)) queue.push({ kind, subject: msg.subject, body });
      else if (kind === 'emit' && isEmitted(body)) queue.push({ kind, subject: msg.subject, body });
      else this.opts.log.warn('watch: skipping an unreadable message', { subject: msg.subject });
      wake?.();
    };
    subs.push(this.nc.subscribe(this.subjects.doneFilter(opts.type, opts.workflowId), { callback: onMsg('done') }));
    if (opts.workflowId !== undefined || opts.type === undefined) {
      const emit = opts.workflowId === undefined ? this.subjects.all.emit : this.subjects.emit(opts.workflowId);
      subs.push(this.nc.subscribe(emit, { callback: onMsg('emit') }));
    }
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      for (const s of subs) s.unsubscribe();
      this.open.delete(handle);
      wake?.();
    };
    const handle = { stop };
    this.open.add(handle);
    return {
      stop,
      [Symbol.asyncIterator]: (): AsyncIterator<WatchEvent> => ({
        next: async (): Promise<IteratorResult<WatchEvent>> => {
          while (queue.length === 0 && !stopped) await new Promise<void>((r) => (wake = r));
          wake = undefined;
          const value = queue.shift();
          return value === undefined ? { done: true, value: undefined } : { done: false, value };
        },
        return: async (): Promise<IteratorResult<WatchEvent>> => {
          stop();
          return { done: true, value: undefined };
        },
      }),
    };
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

  private retry(): { timeoutMs: number; attempts: number } {
    return { timeoutMs: this.opts.requestTimeoutMs, attempts: this.opts.attempts };
  }
}

function settleOutcome<T>(body: RunOutcome, resolve: (v: T) => void, reject: (e: unknown) => void): void {
  const { workflowId, runId, status } = body;
  if (status === 'completed') {
    resolve(body.output as T);
    return;
  }
  const cause = body.error ? typedError(body.error) : undefined;
  const details = { workflowId, runId, status, error: body.error };
  if (status === 'cancelled') {
    reject(new CancelledError(`run ${workflowId} (${runId}) was cancelled`, { cause, details }));
    return;
  }
  const why = cause ? `: ${cause.message}` : '';
  reject(new WorkflowFailedError(`run ${workflowId} (${runId}) ${status}${why}`, { cause, details }));
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

function expectShape<T>(reply: unknown, subject: string, keys: string[]): T {
  if (!isRecord(reply) || keys.some((k) => !(k in reply))) {
    throw new SquallError('INTERNAL', `unexpected reply to ${subject}: expected fields ${keys.join(', ')}`, {
      details: { subject },
    });
  }
  return reply as T;
}

function isOutcome(body: unknown): body is RunOutcome {
  return (
    isRecord(body) &&
    typeof body.workflowId === 'string' &&
    typeof body.runId === 'string' &&
    typeof body.status === 'string'
  );
}

function isEmitted(body: unknown): body is EmittedEvent {
  return (
    isRecord(body) && typeof body.workflowId === 'string' && isRecord(body.event) && typeof body.event.type === 'string'
  );
}

function safeDecode(msg: { data: Uint8Array; headers?: MsgHdrs | undefined; subject: string }): unknown {
  try {
    return decode(msg);
  } catch {
    return undefined;
  }
}

function isStreamNotFound(err: unknown): boolean {
  return err instanceof Error && (err.name === 'StreamNotFoundError' || /stream not found/i.test(err.message));
}

function asSquallError(err: unknown): SquallError {
  if (err instanceof SquallError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SquallError('UNAVAILABLE', message, { cause: err, retryable: true });
}

function definedOnly<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
