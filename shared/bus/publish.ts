/**
 * Sending on a connection: acked JetStream publishes retried through passing trouble, core
 * publishes, and replies to requests in the encoding they came in.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { headers as createHeaders, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { PayloadTooLargeError, toErrorInfo, toSquallError } from '../errors.js';
import type { Logger } from '../log.js';
import { type BlobBackend, defaultPayloadLimits, offloadLarge, type PayloadLimits } from '../payload/blobs.js';
import { injectTraceContext } from '../telemetry/tracing.js';
import { retryWithBackoff } from './backoff.js';
import { CONTENT_TYPE_HEADER, encodeBody, isJson, JSON_CONTENT_TYPE } from './codec.js';
import { isMessageTooLarge, isRetryableNatsError, natsErrorToSquall } from './errors.js';

/** Header carrying an error code on error replies. */
export const ERROR_HEADER = 'Squall-Error';

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

/** The publish operations of a Bus (see Bus for each contract). */
export interface Publisher {
  publish(subject: string, body: unknown, opts?: PublishOptions): Promise<PubAck>;
  publishBytes(subject: string, data: Uint8Array, opts?: Omit<PublishOptions, 'json'>): Promise<PubAck>;
  publishCore(subject: string, body: unknown, opts?: Omit<PublishOptions, 'msgId' | 'signal' | 'deadlineMs'>): void;
}

/** Timeouts of a Publisher. */
export interface PublisherSettings {
  /** Timeout of one JetStream publish. */
  timeoutMs: number;
  /** Keep retrying a publish that fails for a passing reason this long, unless the call says otherwise. */
  publishDeadlineMs: number;
  /** Where MessagePack bodies over `payloadLimits.offloadBytes` go; without it they are sent whole. */
  blobs?: BlobBackend;
  /** When bodies go out of band and when they are refused. @default defaultPayloadLimits() */
  payloadLimits?: PayloadLimits;
}

// Headers come as NATS headers or as a plain record; either is copied, never mutated.
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

function withContentType(h: MsgHdrs | Record<string, string> | undefined, json: boolean | undefined): MsgHdrs {
  const out = toHeaders(h);
  if (json) out.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
  return out;
}

/**
 * The publish operations over one connection. A JetStream publish is retried while the failure
 * passes; an oversize message throws PayloadTooLargeError, anything else a SquallError.
 */
export function createPublisher(
  nc: NatsConnection,
  js: JetStreamClient,
  log: Logger,
  settings: PublisherSettings,
): Publisher {
  const limits = settings.payloadLimits ?? defaultPayloadLimits();
  const publishBytes = async (
    subject: string,
    data: Uint8Array,
    o: Omit<PublishOptions, 'json'> = {},
  ): Promise<PubAck> => {
    const h = toHeaders(o.headers);
    injectTraceContext(h);
    try {
      return await retryWithBackoff(
        () =>
          js.publish(subject, data, {
            headers: h,
            ...(o.msgId ? { msgID: o.msgId } : {}),
            timeout: settings.timeoutMs,
          }),
        {
          isRetryable: isRetryableNatsError,
          deadlineMs: o.deadlineMs ?? settings.publishDeadlineMs,
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

  return {
    async publish(subject, body, o = {}) {
      const { json, ...rest } = o;
      let data = encodeBody(body, { json });
      if (!json) data = await offloadLarge(data, settings.blobs, limits, `message body on ${subject}`);
      return publishBytes(subject, data, { ...rest, headers: withContentType(o.headers, json) });
    },
    publishBytes,
    publishCore(subject, body, o = {}) {
      const data = encodeBody(body, { json: o.json });
      try {
        const h = withContentType(o.headers, o.json);
        injectTraceContext(h);
        nc.publish(subject, data, { headers: h });
      } catch (err) {
        if (isMessageTooLarge(err)) {
          throw new PayloadTooLargeError(`message of ${data.length} bytes on ${subject} exceeds max_payload`, {
            cause: err,
          });
        }
        throw natsErrorToSquall(err, `publishing to ${subject}`);
      }
    },
  };
}

/**
 * Answers a request in the encoding it came in. An Error is sent as an error reply: header
 * `Squall-Error: <code>` and body `{ error: ErrorInfo }`. A MessagePack reply over the offload
 * threshold is sent as a reference once its chunks are in `blobs` (true is then returned at
 * once; a failure is logged and the requester times out). Returns false when there is no reply
 * subject or the reply could not be sent (logged: the requester times out and may ask again).
 */
export function replyTo(
  msg: Msg,
  body: unknown,
  log: Logger,
  blobs?: BlobBackend,
  limits: PayloadLimits = defaultPayloadLimits(),
): boolean {
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
    const data = encodeBody(payload, { json });
    if (json || blobs === undefined || data.length <= limits.offloadBytes) return msg.respond(data, { headers: h });
    offloadLarge(data, blobs, limits, `reply on ${msg.subject}`)
      .then((ref) => msg.respond(ref, { headers: h }))
      .catch((err: unknown) => log.warn('reply failed', { subject: msg.subject, err }));
    return true;
  } catch (err) {
    log.warn('reply failed', { subject: msg.subject, err });
    return false;
  }
}
