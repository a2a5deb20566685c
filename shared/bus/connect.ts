/**
 * One NATS connection with JetStream, the subject and stream names of a prefix, and the few
 * operations every service needs: acked publish with retry, core publish, reply, dead-lettering.
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
} from '@nats-io/jetstream';
import {
  connect,
  headers as createHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  errors as natsErrors,
  type Status,
} from '@nats-io/transport-node';
import { ConfigError, PayloadTooLargeError, SquallError, toErrorInfo, toSquallError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { DEFAULT_PREFIX, type StreamNames, type Subjects, streamNames, subjects, validatePrefix } from '../names.js';
import { backoffDelay, retryWithBackoff } from './backoff.js';
import { CONTENT_TYPE_HEADER, encodeBody, isJson, JSON_CONTENT_TYPE } from './codec.js';
import { isMessageTooLarge, isRetryableConnectError, isRetryableNatsError, natsErrorToSquall } from './errors.js';
import { ensureStreams, type StreamOptions } from './streams.js';

/** Header carrying an error code on error replies. */
export const ERROR_HEADER = 'Squall-Error';
/** Dead-letter headers. */
export const DLQ_HEADERS = {
  reason: 'Squall-Reason',
  error: 'Squall-Error',
  originalSubject: 'Squall-Original-Subject',
  truncated: 'Squall-Truncated',
} as const;

/** Options of connectBus. */
export interface BusOptions {
  /** NATS server URL(s). */
  servers: string | string[];
  /** Connection name shown by the server (`squall-router-<id>`). @default 'squall' */
  name?: string;
  /** Namespace of subjects and streams. @default 'squall' */
  prefix?: string;
  /** @default silentLogger */
  log?: Logger;
  /** Create or update the streams at connect time. @default true */
  ensureStreams?: boolean;
  /** Stream settings used by ensureStreams. */
  streams?: Partial<StreamOptions>;
  /** Keep retrying the first connection (and stream setup) this long. @default 30_000 */
  connectDeadlineMs?: number;
  /** Keep retrying a JetStream publish that fails for a passing reason this long. @default 60_000 */
  publishDeadlineMs?: number;
  /** Timeout of one JetStream API call or publish. @default 5_000 */
  requestTimeoutMs?: number;
}

/** Options of one publish. */
export interface PublishOptions {
  /** `Nats-Msg-Id`: JetStream drops a repeat within the duplicate window. */
  msgId?: string;
  headers?: MsgHdrs | Record<string, string>;
  /** Encode as JSON (and mark it with the content-type header). @default false */
  json?: boolean;
  /** Stop retrying when aborted (the last error is thrown). */
  signal?: AbortSignal;
  /** Overrides BusOptions.publishDeadlineMs for this call. */
  deadlineMs?: number;
}

/** The original message of a dead letter. */
export interface DeadLetterOriginal {
  subject: string;
  data: Uint8Array;
  headers?: MsgHdrs | undefined;
}

/** A connected bus. */
export interface Bus {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
  readonly subjects: Subjects;
  readonly streams: StreamNames;
  readonly log: Logger;
  /** False from a disconnect until the client has reconnected (and once closed). */
  readonly connected: boolean;
  /** Encodes and publishes to JetStream, retrying passing failures; resolves with the PubAck. */
  publish(subject: string, body: unknown, opts?: PublishOptions): Promise<PubAck>;
  /** Publishes already-encoded bytes to JetStream, with the same retries. */
  publishBytes(subject: string, data: Uint8Array, opts?: Omit<PublishOptions, 'json'>): Promise<PubAck>;
  /** Encodes and publishes on core NATS (fire and forget, no persistence). */
  publishCore(subject: string, body: unknown, opts?: Omit<PublishOptions, 'msgId' | 'signal' | 'deadlineMs'>): void;
  /**
   * Answers a request in the encoding it came in. An Error is sent as an error reply: header
   * `Squall-Error: <code>` and body `{ error: ErrorInfo }`. Returns false when there is no reply subject.
   */
  reply(msg: Msg, body: unknown): boolean;
  /**
   * Parks a message on `dlq.<reason>` with the reason, the error and the original subject in
   * headers and the original bytes as body (truncated, and marked so, if too large). Logs it.
   * Throws UnavailableError only when NATS stays unavailable (the caller should then redeliver
   * instead of dropping the message); any other publish failure is logged and swallowed.
   */
  parkDeadLetter(reason: string, original: DeadLetterOriginal, err: unknown): Promise<void>;
  /**
   * Drains subscriptions and closes the connection; a drain that does not finish within
   * `drainTimeoutMs` (the server is away) is cut short by a close. Idempotent.
   */
  close(opts?: { drainTimeoutMs?: number }): Promise<void>;
}

// Headers JetStream interprets that must not be copied onto a dead letter.
const DROP_ON_DLQ = /^nats-(expected-|rollup|ttl|batch-|schedule)/i;
const MAX_HEADER_VALUE = 1024;

/** Makes a string safe as a header value: one line, bounded length. */
export function headerValue(s: string): string {
  const line = s.replace(/[\r\n]+/g, ' ');
  return line.length > MAX_HEADER_VALUE ? `${line.slice(0, MAX_HEADER_VALUE - 1)}…` : line;
}

function toHeaders(h: MsgHdrs | Record<string, string> | undefined): MsgHdrs {
  const out = createHeaders();
  if (!h) return out;
  if (typeof (h as MsgHdrs).keys === 'function' && typeof (h as MsgHdrs).values === 'function') {
    for (const [k, vs] of h as MsgHdrs) for (const v of vs) out.append(k, v);
  } else {
    for (const [k, v] of Object.entries(h as Record<string, string>)) out.set(k, v);
  }
  return out;
}

/** Connects to NATS (retrying the first connection), sets up JetStream and, by default, the streams. */
export async function connectBus(opts: BusOptions): Promise<Bus> {
  const prefix = validatePrefix(opts.prefix ?? DEFAULT_PREFIX);
  const log = opts.log ?? silentLogger;
  const connectDeadlineMs = opts.connectDeadlineMs ?? 30_000;
  const publishDeadlineMs = opts.publishDeadlineMs ?? 60_000;
  const timeout = opts.requestTimeoutMs ?? 5_000;

  let reconnectAttempt = 0;
  const nc = await retryWithBackoff(
    () =>
      connect({
        servers: opts.servers,
        name: opts.name ?? 'squall',
        reconnect: true,
        maxReconnectAttempts: -1,
        // Fully jittered, capped exponential backoff; reset when a reconnect succeeds.
        reconnectDelayHandler: () => Math.max(50, backoffDelay(reconnectAttempt++, { initialMs: 250, maxMs: 15_000 })),
        timeout,
        // Otherwise every request and publish builds an Error up front for its stack trace (5.6% of
        // a busy service's CPU in the profile); our errors name the operation and subject instead.
        noAsyncTraces: true,
      }),
    {
      isRetryable: isRetryableConnectError,
      deadlineMs: connectDeadlineMs,
      onRetry: (err, attempt, delayMs) =>
        log.warn('nats connect failed, retrying', { err, attempt, delayMs, servers: opts.servers }),
    },
  ).catch((err: unknown) => {
    if (err instanceof natsErrors.AuthorizationError || err instanceof natsErrors.UserAuthenticationExpiredError) {
      // Permanent: retrying with the same credentials cannot help.
      throw new ConfigError(`NATS at ${String(opts.servers)} refused the credentials: ${err.message}`, { cause: err });
    }
    throw natsErrorToSquall(err, `connecting to NATS at ${String(opts.servers)}`);
  });

  let connected = true;
  void watchStatus(nc, log, (up) => {
    connected = up;
    if (up) reconnectAttempt = 0;
  });

  const js = jetstream(nc, { timeout });
  const jsm = await retryWithBackoff(() => jetstreamManager(nc, { timeout }), {
    isRetryable: isRetryableNatsError,
    deadlineMs: connectDeadlineMs,
  });
  if (opts.ensureStreams !== false) {
    await retryWithBackoff(() => ensureStreams(jsm, prefix, opts.streams), {
      isRetryable: isRetryableNatsError,
      deadlineMs: connectDeadlineMs,
      onRetry: (err, attempt, delayMs) => log.warn('stream setup failed, retrying', { err, attempt, delayMs }),
    });
  }
  log.info('connected to NATS', { server: nc.getServer(), prefix });

  const publishBytes = async (
    subject: string,
    data: Uint8Array,
    o: Omit<PublishOptions, 'json'> = {},
  ): Promise<PubAck> => {
    const h = toHeaders(o.headers);
    try {
      return await retryWithBackoff(
        () => js.publish(subject, data, { headers: h, ...(o.msgId ? { msgID: o.msgId } : {}), timeout }),
        {
          isRetryable: isRetryableNatsError,
          deadlineMs: o.deadlineMs ?? publishDeadlineMs,
          ...(o.signal ? { signal: o.signal } : {}),
          onRetry: (err, attempt, delayMs) => log.warn('publish failed, retrying', { subject, err, attempt, delayMs }),
        },
      );
    } catch (err) {
      if (isMessageTooLarge(err)) {
        throw new PayloadTooLargeError(`message of ${data.length} bytes on ${subject} exceeds the stream's limit`, {
          cause: err,
          details: { subject, bytes: data.length },
        });
      }
      throw natsErrorToSquall(err, `publishing to ${subject}`);
    }
  };

  const withContentType = (h: MsgHdrs | Record<string, string> | undefined, json: boolean | undefined): MsgHdrs => {
    const out = toHeaders(h);
    if (json) out.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
    return out;
  };

  let closing: Promise<void> | undefined;

  const bus: Bus = {
    nc,
    js,
    jsm,
    prefix,
    subjects: subjects(prefix),
    streams: streamNames(prefix),
    log,
    get connected() {
      return connected && !nc.isClosed();
    },
    publish(subject, body, o = {}) {
      const { json, ...rest } = o;
      return publishBytes(subject, encodeBody(body, { json }), { ...rest, headers: withContentType(o.headers, json) });
    },
    publishBytes,
    publishCore(subject, body, o = {}) {
      const data = encodeBody(body, { json: o.json });
      try {
        nc.publish(subject, data, { headers: withContentType(o.headers, o.json) });
      } catch (err) {
        if (isMessageTooLarge(err)) {
          throw new PayloadTooLargeError(`message of ${data.length} bytes on ${subject} exceeds max_payload`, {
            cause: err,
          });
        }
        throw natsErrorToSquall(err, `publishing to ${subject}`);
      }
    },
    reply(msg, body) {
      if (!msg.reply) return false;
      const json = isJson(msg.headers);
      const h = createHeaders();
      if (json) h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
      let payload: unknown = body;
      if (body instanceof Error) {
        const err = toSquallError(body);
        const { stack: _stack, ...info } = toErrorInfo(err);
        h.set(ERROR_HEADER, err.code);
        payload = { error: info };
      }
      try {
        return msg.respond(encodeBody(payload, { json }), { headers: h });
      } catch (err) {
        log.warn('reply failed', { subject: msg.subject, err });
        return false;
      }
    },
    async parkDeadLetter(reason, original, err) {
      const subject = bus.subjects.dlq(reason);
      const h = createHeaders();
      if (original.headers) {
        for (const [k, vs] of original.headers) {
          if (DROP_ON_DLQ.test(k)) continue;
          for (const v of vs) h.append(k, v);
        }
      }
      const info = err instanceof SquallError || err instanceof Error ? err.message : String(err);
      h.set(DLQ_HEADERS.reason, reason);
      h.set(DLQ_HEADERS.error, headerValue(info));
      h.set(DLQ_HEADERS.originalSubject, original.subject);
      log.warn('dead-lettered a message', {
        reason,
        subject: original.subject,
        error: info,
        bytes: original.data.length,
      });
      try {
        await publishBytes(subject, original.data, { headers: h });
      } catch (first) {
        let pubErr = first;
        if (first instanceof PayloadTooLargeError) {
          h.set(DLQ_HEADERS.truncated, String(original.data.length));
          try {
            await publishBytes(subject, original.data.subarray(0, 64 * 1024), { headers: h });
            return;
          } catch (again) {
            pubErr = again;
          }
        }
        if (pubErr instanceof SquallError && pubErr.code === 'UNAVAILABLE') throw pubErr;
        log.error('could not dead-letter a message; dropping it', {
          reason,
          subject: original.subject,
          err: pubErr,
        });
      }
    },
    close(o = {}) {
      closing ??= (async () => {
        if (nc.isClosed()) return;
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), o.drainTimeoutMs ?? 5_000);
        });
        try {
          if ((await Promise.race([nc.drain(), timedOut])) === 'timeout') {
            log.warn('nats drain did not finish in time; closing');
            await nc.close();
          }
        } catch {
          await nc.close();
        } finally {
          clearTimeout(timer);
        }
      })();
      return closing;
    },
  };
  return bus;
}

async function watchStatus(nc: NatsConnection, log: Logger, onChange: (connected: boolean) => void): Promise<void> {
  for await (const s of nc.status()) logStatus(log, s, onChange);
}

function logStatus(log: Logger, s: Status, onChange: (connected: boolean) => void): void {
  switch (s.type) {
    case 'disconnect':
      onChange(false);
      log.warn('nats disconnected', { server: s.server });
      break;
    case 'reconnect':
      onChange(true);
      log.info('nats reconnected', { server: s.server });
      break;
    case 'reconnecting':
      log.debug('nats reconnecting');
      break;
    case 'error':
      log.warn('nats error', { err: s.error });
      break;
    case 'ldm':
      log.warn('nats server entering lame duck mode', { server: s.server });
      break;
    case 'staleConnection':
      log.warn('nats connection stale');
      break;
    case 'slowConsumer':
      log.warn('nats slow consumer', { subject: s.sub.getSubject(), pending: s.pending });
      break;
    case 'close':
      onChange(false);
      log.info('nats connection closed');
      break;
    default:
      log.debug('nats status', { type: s.type });
  }
}
