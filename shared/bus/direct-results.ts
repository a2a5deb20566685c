/**
 * Direct results: an executor first offers an attempt's result to the router holding its run's
 * events partition, as a core NATS request on `<prefix>.direct.<partition>.<runId>`, and
 * publishes it to the events stream only when that router does not settle it. The router decides
 * the result as it would the stream's message and replies `settled` once its commit is stored and
 * the commit's commands are published (or the result was found in history, or parked as a dead
 * letter), sending progress notices while the offer waits its turn; anything else (a `retry`
 * reply, no router listening, no reply or notice in time, a lost connection) sends the result the
 * durable way. Either way the executor acks its task only after that.
 *
 * A result thus skips the stream when its router is there and has room: no store, no delivery,
 * no ack, no consumer state write in nats-server. Nothing is decided twice for it: a result
 * offered directly and then published (the reply lost, the router slow) is found in history the
 * second time, as a redelivered one is.
 */
import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { headers as createHeaders } from '@nats-io/transport-node';
import { injectTraceContext } from '../telemetry/tracing.js';
import { requestWithProgress } from './progress.js';

/**
 * On a result: the earliest time (ms) a router may have decided it already, with its commands
 * perhaps unpublished. Executors set it on every result to the time its task was first stored
 * (the task may have run before and its result been decided: its delivery count cannot tell, as
 * a nats-server killed forgets the deliveries of its last moments), or, without that, to the
 * time a direct offer went unanswered (a router may have stored its decision and died, or failed
 * to publish, before answering). A router that finds the result already in history republishes
 * the run's commits since then (see services/router/outbox.ts).
 */
export const MAYBE_DECIDED_HEADER = 'Squall-Maybe-Decided-Since';

/** The time a result says it may have been decided since (MAYBE_DECIDED_HEADER); undefined when none or malformed. */
export function maybeDecidedSince(headers: MsgHdrs | undefined): number | undefined {
  const v = headers?.get(MAYBE_DECIDED_HEADER);
  if (!v) return undefined;
  const ms = Number(v);
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/** The router's reply: the result is in history (or parked); the executor may ack its task. */
export const DIRECT_SETTLED = 'settled';
/** The router's reply: not taken (no room, stopping, a failed decision); publish it to the stream. */
export const DIRECT_RETRY = 'retry';

/**
 * How long an executor waits for a router's reply, or its next progress notice (the offer is
 * queued behind the router's other decisions: shared/bus/progress.ts), before publishing the
 * result to the stream: a router killed while deciding never replies.
 */
export const DIRECT_REPLY_TIMEOUT_MS = 5_000;

/**
 * Longest an executor waits for a router's reply, progress notices or not: a decision slower than
 * this is then taken twice, and found in history the second time.
 */
export const DIRECT_MAX_WAIT_MS = 60_000;

/**
 * Bodies larger than this go to the stream only: a direct request is one core message, never
 * sent out of band, and well under any server's max_payload.
 */
export const DIRECT_MAX_BYTES = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * What a direct offer came to: `settled` (the router says so); `declined`, surely taken by no
 * router (not sent: too large, the connection closed; or no router listening); `unanswered`, sent
 * and not settled (a `retry` reply, a timeout, a lost connection), so a router may have stored
 * its decision. The caller publishes anything but `settled` to the stream, an `unanswered` one
 * with MAYBE_DECIDED_HEADER.
 */
export type DirectOutcome = 'settled' | 'declined' | 'unanswered';

/** Offers an encoded result to the router holding its run's partition (see DirectOutcome). Never throws. */
export async function offerDirect(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  opts: {
    msgId: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
    maxWaitMs?: number;
    /** Stops waiting (the offer is then `unanswered`). */
    signal?: AbortSignal;
  },
): Promise<DirectOutcome> {
  if (data.length > DIRECT_MAX_BYTES || nc.isClosed()) return 'declined';
  const h = createHeaders();
  for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
  h.set('Nats-Msg-Id', opts.msgId);
  injectTraceContext(h);
  const reply = await requestWithProgress(nc, subject, data, {
    headers: h,
    timeoutMs: opts.timeoutMs ?? DIRECT_REPLY_TIMEOUT_MS,
    maxWaitMs: opts.maxWaitMs ?? DIRECT_MAX_WAIT_MS,
    signal: opts.signal,
  });
  if (reply.kind === 'noResponders') return 'declined';
  return reply.kind === 'reply' && decoder.decode(reply.msg.data) === DIRECT_SETTLED ? 'settled' : 'unanswered';
}

/** Answers a direct offer (see the module comment); false when it could not be sent. */
export function answerDirect(msg: Pick<Msg, 'respond'>, answer: typeof DIRECT_SETTLED | typeof DIRECT_RETRY): boolean {
  try {
    return msg.respond(encoder.encode(answer));
  } catch {
    return false;
  }
}
