/**
 * Core notices between routers: the router that decides an inbox input tells the router that
 * answers its request (a queue subscription: often another one) what came of it. Not stored: a
 * notice missed (published before the waiter subscribed, or by a router that died) is made up
 * for by the waiter reading the store (see requests.ts).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeBody } from '../../shared/bus/codec.js';
import type { ErrorInfo } from '../../shared/errors.js';

/** Body of the notice a router publishes on `started.<workflowId>` after processing a start. */
export interface StartedNotice {
  workflowId: string;
  runId?: string;
  created?: boolean;
  msgId?: string;
  error?: ErrorInfo;
}

/**
 * Body of the notice a router publishes on `taken.<workflowId>` once a signal, cancel or terminate
 * with a `Nats-Msg-Id` is in its run's history (or refused: `error`), so its request is answered
 * only then and the next one its sender sends is decided after it.
 */
export interface TakenNotice {
  workflowId: string;
  msgId: string;
  runId?: string;
  error?: ErrorInfo;
}

/** A wait for the first notice on `subject` that `match` accepts; undefined after `timeoutMs`. */
export function waitForNotice<T>(
  nc: NatsConnection,
  subject: string,
  match: (n: T) => boolean,
  timeoutMs: number,
): { promise: Promise<T | undefined>; cancel(): void } {
  let settle: (n: T | undefined) => void = () => {};
  const promise = new Promise<T | undefined>((resolve) => {
    settle = resolve;
  });
  const timer = setTimeout(() => settle(undefined), timeoutMs);
  const sub = nc.subscribe(subject, {
    callback: (err, m) => {
      if (err) return;
      try {
        const n = decodeBody(m.data, m.headers, m.subject) as T;
        if (match(n)) settle(n);
      } catch {
        // a malformed notice is not ours to answer
      }
    },
  });
  return {
    promise,
    cancel() {
      clearTimeout(timer);
      sub.unsubscribe();
    },
  };
}
