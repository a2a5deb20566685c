/**
 * connectBus(): one NATS connection with JetStream, the subject and stream names of a prefix, and
 * the few operations every service needs. Each concern lives in its own module: the connection
 * and its status (connection.ts, connection-status.ts), the streams (streams.ts), publishing and
 * replies (publish.ts), dead letters (dead-letter.ts); this one assembles them.
 */
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
} from '@nats-io/jetstream';
import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { type Logger, silentLogger } from '../log.js';
import { DEFAULT_PREFIX, type StreamNames, type Subjects, streamNames, subjects, validatePrefix } from '../names.js';
import { type BlobBackend, defaultPayloadLimits, type PayloadLimits } from '../payload/blobs.js';
import { describeNatsSecurity, type NatsSecurity } from './auth.js';
import { retryWithBackoff } from './backoff.js';
import { jetStreamBlobBackend } from './blobs.js';
import { readLargeBody } from './codec.js';
import { closeConnection, openConnection } from './connection.js';
import { type DeadLetterOriginal, parkDeadLetter } from './dead-letter.js';
import { isRetryableNatsError } from './errors.js';
import { createPublisher, type PublishOptions, replyTo } from './publish.js';
import { ensureStreams, type StreamOptions } from './streams.js';

// The bus's public names keep their one import path (shared/bus/connect.js) whichever module holds them.
export { type DeadLetterOriginal, DLQ_HEADERS, headerValue } from './dead-letter.js';
export { ERROR_HEADER, type PublishOptions } from './publish.js';

/** Options of connectBus. */
export interface BusOptions {
  /** NATS server URL(s). Credentials in a URL work but are better given in `nats`. */
  servers: string | string[];
  /** Credentials and TLS (see docs/security.md). @default none */
  nats?: NatsSecurity | undefined;
  /** Connection name shown by the server (`squall-router-<id>`). @default 'squall' */
  name?: string;
  /** Namespace of subjects and streams. @default 'squall' */
  prefix?: string;
  /** @default silentLogger */
  log?: Logger;
  /** When message payloads go out of band (the blobs stream) and when they are refused. @default defaultPayloadLimits() */
  payloadLimits?: Partial<PayloadLimits>;
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
  /** Chunks of large message payloads (the blobs stream). */
  readonly blobs: BlobBackend;
  /**
   * Decodes a consumed message body, first loading it from the blobs stream when it was sent out
   * of band (decodeBody for everything else).
   */
  readBody(msg: { data: Uint8Array; headers?: MsgHdrs | undefined; subject: string }): Promise<unknown>;
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

/** Connects to NATS (retrying the first connection), sets up JetStream and, by default, the streams. */
export async function connectBus(opts: BusOptions): Promise<Bus> {
  const prefix = validatePrefix(opts.prefix ?? DEFAULT_PREFIX);
  const log = opts.log ?? silentLogger;
  const connectDeadlineMs = opts.connectDeadlineMs ?? 30_000;
  const timeoutMs = opts.requestTimeoutMs ?? 5_000;

  const connection = await openConnection(
    { servers: opts.servers, name: opts.name ?? 'squall', timeoutMs, connectDeadlineMs, security: opts.nats },
    log,
  );
  const { nc } = connection;
  const js = jetstream(nc, { timeout: timeoutMs });
  const jsm = await setUpJetStream(nc, prefix, opts, log, { timeoutMs, connectDeadlineMs });
  log.info('connected to NATS', { server: nc.getServer(), prefix, ...describeNatsSecurity(opts.nats) });

  const blobs = jetStreamBlobBackend(js, async () => jsm, prefix);
  const payloadLimits = { ...defaultPayloadLimits(), ...opts.payloadLimits };
  const publisher = createPublisher(nc, js, log, {
    timeoutMs,
    publishDeadlineMs: opts.publishDeadlineMs ?? 60_000,
    blobs,
    payloadLimits,
  });
  const names = subjects(prefix);
  let closing: Promise<void> | undefined;
  return {
    nc,
    js,
    jsm,
    prefix,
    subjects: names,
    streams: streamNames(prefix),
    log,
    blobs,
    readBody: (msg) => readLargeBody(msg, blobs),
    get connected() {
      return connection.connected;
    },
    ...publisher,
    reply: (msg, body) => replyTo(msg, body, log, blobs, payloadLimits),
    parkDeadLetter: (reason, original, err) => parkDeadLetter(publisher, log, names.dlq(reason), reason, original, err),
    close(o = {}) {
      closing ??= closeConnection(nc, log, o.drainTimeoutMs ?? 5_000);
      return closing;
    },
  };
}

/**
 * The JetStream manager and, unless `ensureStreams: false`, every stream of the prefix, both
 * retried through passing trouble until the connect deadline (JetStream may still be starting).
 */
async function setUpJetStream(
  nc: NatsConnection,
  prefix: string,
  opts: Pick<BusOptions, 'ensureStreams' | 'streams'>,
  log: Logger,
  limits: { timeoutMs: number; connectDeadlineMs: number },
): Promise<JetStreamManager> {
  const jsm = await retryWithBackoff(() => jetstreamManager(nc, { timeout: limits.timeoutMs }), {
    isRetryable: isRetryableNatsError,
    deadlineMs: limits.connectDeadlineMs,
  });
  if (opts.ensureStreams !== false) {
    await retryWithBackoff(() => ensureStreams(jsm, prefix, opts.streams), {
      isRetryable: isRetryableNatsError,
      deadlineMs: limits.connectDeadlineMs,
      onRetry: (err, attempt, delayMs) => log.warn('stream setup failed, retrying', { err, attempt, delayMs }),
    });
  }
  return jsm;
}
