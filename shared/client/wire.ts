/**
 * The client's side of request/reply: one reply inbox per call that survives retries (JetStream
 * dedupes a re-sent start by its `Nats-Msg-Id`, so the router answers the first send only), error
 * replies turned back into typed errors, and the retry rule for timeouts and missing responders.
 */
import { type Msg, type MsgHdrs, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { readLargeBody } from '../bus/codec.js';
import { isNoResponders } from '../bus/errors.js';
import { decodeBody, ERROR_HEADER, encodeBody } from '../bus/index.js';
import { isProgressNotice, PROGRESS_HEADER, progressRequestValue } from '../bus/progress.js';
import { openReplyInbox } from '../bus/reply-mux.js';
import {
  ActivityFailure,
  AlreadyStartedError,
  CallbackClosedError,
  CancelledError,
  ConfigError,
  ConflictError,
  CorruptHistoryError,
  type ErrorInfo,
  fromErrorInfo,
  InvalidInputError,
  NondeterminismError,
  NotFoundError,
  PayloadCodecError,
  PayloadTooLargeError,
  SquallError,
  type SquallErrorOptions,
  StartSkippedError,
  StartSupersededError,
  TimeoutError,
  UnavailableError,
  WorkflowFailedError,
} from '../errors.js';
import { type BlobBackend, defaultPayloadLimits, offloadLarge } from '../payload/blobs.js';
import { injectTraceContext } from '../telemetry/tracing.js';

/** JetStream's dedup header; the client sets it on start, signal and cancel. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';
/**
 * Where to send the reply. Set on every request as well as the NATS reply subject, because a
 * message read back from the inbox stream no longer carries its reply subject.
 */
export const REPLY_TO_HEADER = 'Squall-Reply-To';

type ErrorClass = new (message: string, opts?: SquallErrorOptions) => SquallError;

const CLASSES: Readonly<Record<string, ErrorClass>> = {
  CONFLICT: ConflictError,
  NOT_FOUND: NotFoundError,
  ALREADY_STARTED: AlreadyStartedError,
  NONDETERMINISM: NondeterminismError,
  INVALID_INPUT: InvalidInputError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  PAYLOAD_CODEC: PayloadCodecError,
  CORRUPT_HISTORY: CorruptHistoryError,
  ACTIVITY_FAILED: ActivityFailure,
  WORKFLOW_FAILED: WorkflowFailedError,
  TIMEOUT: TimeoutError,
  CANCELLED: CancelledError,
  UNAVAILABLE: UnavailableError,
  CONFIG: ConfigError,
  CALLBACK_CLOSED: CallbackClosedError,
  START_SUPERSEDED: StartSupersededError,
  START_SKIPPED: StartSkippedError,
};

/** Rebuilds the typed SquallError subclass for an error that crossed the wire. */
export function typedError(info: ErrorInfo, fallbackCode?: string): SquallError {
  const code = info.code ?? fallbackCode;
  const Class = code === undefined ? undefined : CLASSES[code];
  if (!Class) return fromErrorInfo({ ...info, code });
  const err = new Class(info.message, {
    retryable: info.retryable,
    details: info.details === undefined ? undefined : { remote: info.details },
  });
  if (info.stack) err.stack = info.stack;
  return err;
}

/** Encodes a request body (MessagePack). */
export function encode(value: unknown): Uint8Array {
  return encodeBody(value);
}

/** Decodes a message body (MessagePack, or JSON when the message says so). */
export function decode(msg: { data: Uint8Array; headers?: MsgHdrs | undefined; subject: string }): unknown {
  return decodeBody(msg.data, msg.headers, msg.subject);
}

/**
 * Decodes a reply (loading it from `blobs` when it was sent out of band), throwing the typed
 * error when it is an error reply (header `Squall-Error`).
 */
export async function readReply(msg: Msg, subject: string, blobs?: BlobBackend): Promise<unknown> {
  const code = msg.headers?.get(ERROR_HEADER) || undefined;
  let body: unknown;
  try {
    body = await readLargeBody(msg, blobs);
  } catch (err) {
    throw new SquallError('INTERNAL', `undecodable reply to ${subject}`, { cause: err });
  }
  if (code !== undefined) {
    const info = isRecord(body) && isRecord(body.error) ? (body.error as unknown as ErrorInfo) : undefined;
    throw typedError(info ?? { name: 'SquallError', message: `${subject} failed with ${code}` }, code);
  }
  return body;
}

/** How a request is sent and retried. */
export interface CallOptions {
  /** Sets `Nats-Msg-Id`, the same on every attempt. */
  msgId?: string;
  /**
   * Wait this long for a reply on each attempt; a router's progress notice (the request's durable
   * copy is still being decided, see shared/bus/progress.ts) starts the wait again.
   */
  timeoutMs: number;
  /** Sends at most this many times before UnavailableError. */
  attempts: number;
  /**
   * Also listen on this subject while waiting; a message for which `accept` returns true counts
   * as the reply (the router's `started` notification for a deduplicated start).
   */
  notification?: { subject: string; accept: (msg: Msg) => boolean };
  /** Where a body over the offload threshold goes (sent as a reference); without it, sent whole. */
  blobs?: BlobBackend;
}

/**
 * Sends `body` to `subject` with one reply inbox for all attempts and returns the decoded reply.
 * A timeout or "no responders" is retried; after `attempts` sends it throws UnavailableError.
 * Progress notices keep an attempt waiting (a busy router's queue is not a lost request).
 */
export async function call(nc: NatsConnection, subject: string, body: unknown, opts: CallOptions): Promise<unknown> {
  const data = await offloadLarge(encode(body), opts.blobs, defaultPayloadLimits(), `request body on ${subject}`);
  const replies: Msg[] = [];
  let wake: (() => void) | undefined;
  const push = (msg: Msg): void => {
    replies.push(msg);
    wake?.();
  };
  const inbox = openReplyInbox(nc, push);
  const note = opts.notification;
  const noteSub = note
    ? nc.subscribe(note.subject, {
        callback: (err, msg) => {
          if (!err && note.accept(msg)) push(msg);
        },
      })
    : undefined;
  try {
    let problem = 'no reply';
    for (let attempt = 1; attempt <= opts.attempts; attempt++) {
      const h = natsHeaders();
      if (opts.msgId !== undefined) h.set(MSG_ID_HEADER, opts.msgId);
      h.set(REPLY_TO_HEADER, inbox.subject);
      h.set(PROGRESS_HEADER, progressRequestValue(opts.timeoutMs));
      injectTraceContext(h);
      try {
        nc.publish(subject, data, { reply: inbox.subject, headers: h });
      } catch (err) {
        throw new UnavailableError(`${subject}: cannot send: ${(err as Error).message}`, { cause: err });
      }
      let msg: Msg | undefined;
      do msg = replies.shift() ?? (await nextOrTimeout(Date.now() + opts.timeoutMs));
      while (msg && isProgressNotice(msg));
      if (!msg) {
        problem = `no reply within ${opts.timeoutMs} ms`;
        continue;
      }
      if (isNoResponders(msg)) {
        problem = 'no responders';
        // Nobody listens yet (a router starting up); pause before sending again.
        await sleep(Math.min(opts.timeoutMs, 250 * attempt));
        continue;
      }
      return await readReply(msg, subject, opts.blobs);
    }
    throw new UnavailableError(`${subject}: ${problem} after ${opts.attempts} attempts; is a router running?`, {
      details: { subject, attempts: opts.attempts },
    });
  } finally {
    inbox.close();
    noteSub?.unsubscribe();
  }

  function nextOrTimeout(deadline: number): Promise<Msg | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        wake = undefined;
        resolve(undefined);
      }, deadline - Date.now());
      wake = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve(replies.shift());
      };
    });
  }
}

/** True for a plain object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
