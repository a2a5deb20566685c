/**
 * Progress notices on a request: a requester that can wait through them (the Squall client) says
 * so with `Squall-Progress: <its per-attempt timeout in ms>`, and a router that holds its answer
 * until the request's durable copy is decided sends it empty messages marked
 * `Squall-Progress: pending` meanwhile, a few per attempt timeout. The requester then keeps
 * waiting instead of timing out and re-sending, however long the routers' queue is; when the
 * notices stop (the router died), its attempt times out and it sends again. A requester without
 * the header (a plain `nats req`) never gets one: it would take the first as its reply.
 */
import { type Msg, type MsgHdrs, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { isNoResponders } from './errors.js';
import { openReplyInbox, type ReplyInbox } from './reply-mux.js';

/** The header of both sides: the requester's per-attempt timeout on a request, `pending` on a notice. */
export const PROGRESS_HEADER = 'Squall-Progress';

const PENDING = 'pending';
/** Notices per requester timeout: one lost or late still leaves the requester waiting. */
const NOTICES_PER_TIMEOUT = 3;
/** No more often than this, whatever timeout the requester gave. */
const MIN_NOTICE_EVERY_MS = 100;

/** The value a requester sets: its per-attempt timeout. */
export function progressRequestValue(timeoutMs: number): string {
  return String(Math.max(1, Math.round(timeoutMs)));
}

/** True for a progress notice (not a reply). */
export function isProgressNotice(msg: Pick<Msg, 'headers'>): boolean {
  return msg.headers?.get(PROGRESS_HEADER) === PENDING;
}

/** The requester's per-attempt timeout when it takes progress notices, else undefined. */
export function progressTimeoutOf(msg: Pick<Msg, 'headers'>): number | undefined {
  const raw = msg.headers?.get(PROGRESS_HEADER);
  if (!raw || !/^\d+$/.test(raw)) return undefined;
  const ms = Number(raw);
  return ms > 0 ? ms : undefined;
}

/**
 * Sends progress notices to `msg`'s reply subject until the returned function is called (or
 * `maxMs` passed: a safety for an answer that never comes), when the requester asked for them (a
 * no-op otherwise). A notice that cannot be sent (the connection closing) is skipped: the
 * requester then times out and asks again.
 */
export function keepRequesterWaiting(msg: Pick<Msg, 'headers' | 'reply' | 'respond'>, maxMs?: number): () => void {
  const timeoutMs = progressTimeoutOf(msg);
  if (timeoutMs === undefined || !msg.reply) return () => {};
  const every = Math.max(MIN_NOTICE_EVERY_MS, Math.floor(timeoutMs / NOTICES_PER_TIMEOUT));
  const until = maxMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + maxMs;
  const timer = setInterval(() => {
    if (Date.now() >= until) {
      clearInterval(timer);
      return;
    }
    const h = natsHeaders();
    h.set(PROGRESS_HEADER, PENDING);
    try {
      msg.respond(new Uint8Array(0), { headers: h });
    } catch {
      // closing: the requester's attempt times out and it sends again
    }
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}

/** What requestWithProgress came to: the reply, nobody listening, or no reply in time (or unsent). */
export type ProgressReply = { kind: 'reply'; msg: Msg } | { kind: 'noResponders' } | { kind: 'noReply' };

/**
 * One request whose responder may send progress notices: `headers` get PROGRESS_HEADER, and
 * the wait for the reply starts again (for `timeoutMs`) at each notice, up to `maxWaitMs` in all
 * (or until `signal` aborts).
 */
export function requestWithProgress(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  opts: { headers: MsgHdrs; timeoutMs: number; maxWaitMs: number; signal?: AbortSignal | undefined },
): Promise<ProgressReply> {
  const deadline = Date.now() + opts.maxWaitMs;
  opts.headers.set(PROGRESS_HEADER, progressRequestValue(opts.timeoutMs));
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const abandon = (): void => done({ kind: 'noReply' });
    const done = (r: ProgressReply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', abandon);
      inbox?.close();
      resolve(r);
    };
    const wait = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => done({ kind: 'noReply' }), Math.max(0, Math.min(opts.timeoutMs, deadline - Date.now())));
    };
    let inbox: ReplyInbox | undefined;
    wait();
    opts.signal?.addEventListener('abort', abandon, { once: true });
    try {
      if (opts.signal?.aborted) throw opts.signal.reason;
      inbox = openReplyInbox(nc, (msg) => {
        if (isNoResponders(msg)) done({ kind: 'noResponders' });
        else if (isProgressNotice(msg)) wait();
        else done({ kind: 'reply', msg });
      });
      nc.publish(subject, data, { reply: inbox.subject, headers: opts.headers });
    } catch {
      done({ kind: 'noReply' });
    }
  });
}
