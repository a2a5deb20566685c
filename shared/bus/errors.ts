/**
 * Retry predicates for NATS and JetStream failures, next to the error types they read
 * (like the MongoDB driver's `isRetryableWriteError`), plus the conversion to SquallError.
 */
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
// JetStreamNotEnabled is only reachable through the package's `internal` entry point.
import { jserrors } from '@nats-io/jetstream/internal';
import { type Msg, errors as natsErrors, RequestError } from '@nats-io/transport-node';
import { type SquallError, toSquallError, UnavailableError } from '../errors.js';

/** True for the 503 status the server sends when nobody subscribes to a request's subject. */
export function isNoResponders(msg: Pick<Msg, 'data' | 'headers'>): boolean {
  return msg.data.length === 0 && msg.headers?.code === 503;
}

/** JetStream API error codes Squall reads that nats.js does not name in `JetStreamApiCodes`. */
export const JsErrorCodes = {
  /** Stream or consumer create raced with another creator using other settings. */
  StreamNameInUse: 10058,
  ConsumerNameExists: 10013,
  /** The message is larger than the stream's `max_msg_size`. */
  MessageSizeExceedsMaximum: 10054,
  /** Cluster has no leader / peers right now. */
  ClusterNotAvail: 10008,
  StreamOffline: 10118,
  InsufficientResources: 10023,
  /** A stream with more than one replica was asked of a server that is not clustered. */
  ReplicasNotSupported: 10074,
  /** A publish's expected last (subject) sequence did not hold. */
  StreamWrongLastSequence: 10071,
} as const;

/** HTTP-like JetStream statuses that mean "try again later". */
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 503, 504]);
const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  JsErrorCodes.ClusterNotAvail,
  JsErrorCodes.StreamOffline,
  JsErrorCodes.InsufficientResources,
]);

/**
 * True when the same NATS/JetStream call may succeed later without any change: a timeout, no
 * responders (JetStream briefly gone, e.g. while a server restarts or the client reconnects),
 * a disconnect, or a JetStream API error that reports unavailability. A closed or draining
 * connection, a permission violation, a bad argument or an oversize message are not retryable.
 */
export function isRetryableNatsError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof natsErrors.ClosedConnectionError || err instanceof natsErrors.DrainingConnectionError) {
    return false;
  }
  if (err instanceof natsErrors.TimeoutError) return true;
  if (err instanceof natsErrors.NoRespondersError) return true;
  if (err instanceof RequestError) return err.isNoResponders() || err.cause instanceof natsErrors.TimeoutError;
  if (err instanceof natsErrors.ConnectionError) return true;
  // nats.js turns "no responders" on a JetStream publish into JetStreamNotEnabled; when the cause
  // is a no-responders request error, JetStream is merely not answering right now.
  if (err instanceof jserrors.JetStreamNotEnabled) return err.cause !== undefined && isRetryableNatsError(err.cause);
  if (err instanceof JetStreamApiError) return RETRYABLE_STATUSES.has(err.status) || RETRYABLE_CODES.has(err.code);
  return false;
}

/** Node's errors for a server that is not there (yet), or that dropped the connection while it was being made. */
const CONNECT_SOCKET_ERRORS =
  /\b(ECONNREFUSED|ECONNRESET|ECONNABORTED|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN)\b/;

/**
 * True when a first connection to NATS failed for a reason that passes: the retryable NATS errors,
 * or a socket error (on the error or its cause). A server being restarted can reset the
 * connection between accepting it and its INFO, which nats.js reports as a plain `read ECONNRESET`.
 */
export function isRetryableConnectError(err: unknown): boolean {
  if (isRetryableNatsError(err)) return true;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (CONNECT_SOCKET_ERRORS.test(`${typeof code === 'string' ? code : ''} ${e.message}`)) return true;
  }
  return false;
}

/** True when JetStream refused a publish because the message exceeds the stream's max size. */
export function isMessageTooLarge(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === JsErrorCodes.MessageSizeExceedsMaximum;
  return err instanceof Error && /maximum payload|max(imum)? (message|payload) size/i.test(err.message);
}

/** True when a JetStream API call failed because the stream does not exist. */
export function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

/** True when a JetStream API call failed because the consumer does not exist. */
export function isConsumerNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;
}

/** Converts a NATS failure into a SquallError: retryable ones become UnavailableError. */
export function natsErrorToSquall(err: unknown, what: string): SquallError {
  if (isRetryableNatsError(err)) {
    return new UnavailableError(`${what}: NATS unavailable (${(err as Error).message})`, { cause: err });
  }
  return toSquallError(err);
}
