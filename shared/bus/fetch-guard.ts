/**
 * A bounded pull that cannot outlive its expiry by much, whatever the server does.
 *
 * nats-server before 2.10 (Debian's 2.9.10) silently drops a pull request that a message reaches
 * just after the request expired; 2.10+ answers it with a 408. nats.js's `fetch` then learns
 * nothing until two idle heartbeats are missed (about `expires` more), so a partition or an
 * activity sat for 2-3 s without a pull. The guard ends such a pull itself a little after
 * `expires`: the loop around it pulls again at once, so no consumer waits more than about
 * `expires + margin` for its next pull on any server version.
 */
import type { Consumer, ConsumerMessages, FetchOptions } from '@nats-io/jetstream';

/** How long past its expiry a pull may run before the guard ends it. */
export const FETCH_GUARD_MARGIN_MS = 500;

/**
 * The part of a pull the guard needs: stop() ends its iterator, `closed()` settles when it ended,
 * getPending() counts messages delivered to it and not yet taken by the loop.
 */
export interface GuardablePull {
  stop(err?: Error): void;
  closed(): Promise<unknown>;
  getPending(): number;
}

/**
 * Arms the guard on a pull already open: it is stopped at `expiresMs + marginMs` unless it ended
 * before. A pull whose loop is still working through messages it delivered is never stopped (that
 * would drop them until their ack wait): the guard looks again `marginMs` later. Returns the
 * function that disarms it (called by the guard itself once the pull closes).
 */
export function guardPull(
  pull: GuardablePull,
  expiresMs: number,
  marginMs: number = FETCH_GUARD_MARGIN_MS,
  onStall?: () => void,
): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const arm = (ms: number): void => {
    timer = setTimeout(() => {
      if (pull.getPending() > 0) return arm(marginMs);
      onStall?.();
      pull.stop();
    }, ms);
    timer.unref?.();
  };
  arm(expiresMs + marginMs);
  const disarm = (): void => clearTimeout(timer);
  pull.closed().then(disarm, disarm);
  return disarm;
}

/** `consumer.fetch(opts)` with the guard armed (see the module comment). `expires` is required. */
export async function guardedFetch(
  consumer: Pick<Consumer, 'fetch'>,
  opts: Partial<FetchOptions> & { expires: number },
  onStall?: () => void,
): Promise<ConsumerMessages> {
  const messages = await consumer.fetch(opts);
  guardPull(messages, opts.expires, FETCH_GUARD_MARGIN_MS, onStall);
  return messages;
}
