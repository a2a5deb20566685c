/**
 * result(): waits for a run's completion through the outcomes stream, so one that finished before
 * the call is found too, and follows continue-as-new to the run that ends the chain.
 */
import { type ConsumerMessages, DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection, Status } from '@nats-io/transport-node';
import { isRetryableNatsError } from '../bus/errors.js';
import { CancelledError, SquallError, TimeoutError, UnavailableError, WorkflowFailedError } from '../errors.js';
import { streamNames, validateToken } from '../names.js';
import type { ClientSession } from './options.js';
import { isOutcome, safeRead } from './replies.js';
import type { ResultOptions, RunOutcome } from './types.js';
import { typedError } from './wire.js';

/**
 * Resolves with the output of the run of `workflowId` once it completes; rejects with
 * WorkflowFailedError, CancelledError, TimeoutError (opts.timeoutMs), UnavailableError once NATS has
 * stayed disconnected past opts.disconnectTimeoutMs, or CancelledError on close().
 */
export function awaitResult<T>(session: ClientSession, workflowId: string, opts: ResultOptions): Promise<T> {
  validateToken('workflowId', workflowId);
  let wantRunId = opts.runId === undefined ? undefined : validateToken('runId', opts.runId);
  const filter = session.subjects.doneFilter(undefined, workflowId);
  const stream = streamNames(session.subjects.prefix).outcomes;

  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timeout: NodeJS.Timeout | undefined;
    let messages: ConsumerMessages | undefined;
    const downMs = opts.disconnectTimeoutMs ?? session.opts.resultDisconnectTimeoutMs;
    const guard = guardDisconnection(session.nc, downMs, () =>
      finish(() => reject(disconnectedTooLong(session.nc, workflowId, downMs))),
    );
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      guard.stop();
      messages?.stop();
      session.open.delete(handle);
      fn();
    };
    const handle = { stop: () => finish(() => reject(new CancelledError('client closed while waiting'))) };
    session.open.add(handle);
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
      const js = jetstream(session.nc);
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
          // No outcomes stream yet (no router has run in this namespace), or NATS is away or was
          // just now (a request sent before a reconnect times out after it): look again shortly.
          // The disconnect guard and timeoutMs bound the wait.
          if (!isStreamNotFound(err) && !isRetryableNatsError(err) && !guard.down()) throw err;
          await new Promise((r) => setTimeout(r, session.opts.resultPollMs));
        }
      }
      if (settled) {
        messages?.stop();
        return;
      }
      for await (const m of messages ?? []) {
        consider(await safeRead(m, session.blobs));
        if (settled) break;
      }
    };
    follow().catch((err: unknown) => finish(() => reject(asSquallError(err))));
  });
}

/** A running disconnection deadline: `down()` while the connection is away or not yet confirmed up. */
interface DisconnectionGuard {
  down(): boolean;
  stop(): void;
}

/**
 * Calls `onTooLong` once the connection has been away `ms` in a row. Whether it is up right now is
 * not exposed by nats.js, so the clock starts at once and an answered flush stops it.
 */
function guardDisconnection(nc: NatsConnection, ms: number, onTooLong: () => void): DisconnectionGuard {
  let timer: NodeJS.Timeout | undefined;
  let wentDown = false;
  let stopped = false;
  const arm = (): void => {
    if (!stopped) timer ??= setTimeout(onTooLong, ms);
  };
  const disarm = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  arm();
  nc.flush().then(
    () => {
      if (!wentDown) disarm();
    },
    () => {},
  );
  // nats.js returns a QueuedIterator: its stop() unregisters it, which a pending for-await cannot.
  const status: AsyncIterable<Status> & { stop?: () => void } = nc.status();
  void (async () => {
    for await (const s of status) {
      if (s.type === 'disconnect' || s.type === 'reconnecting') {
        wentDown = true;
        arm();
      } else if (s.type === 'reconnect') disarm();
    }
  })();
  return {
    down: () => timer !== undefined,
    stop: () => {
      stopped = true;
      disarm();
      status.stop?.();
    },
  };
}

/** The error of a wait cut short by a lost server: names the server (host:port only) and the wait. */
function disconnectedTooLong(nc: NatsConnection, workflowId: string, ms: number): UnavailableError {
  const server = nc.getServer() || 'its server';
  return new UnavailableError(
    `NATS at ${server} stayed disconnected for ${ms} ms while waiting for the result of ${workflowId}`,
    { details: { workflowId, server, waitedMs: ms } },
  );
}

/** Turns an outcome into the promise's value or its typed error. */
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

/** Is `err` JetStream saying the stream does not exist? */
export function isStreamNotFound(err: unknown): boolean {
  return err instanceof Error && (err.name === 'StreamNotFoundError' || /stream not found/i.test(err.message));
}

/** Any failure while following the stream, as a retryable UNAVAILABLE unless already typed. */
function asSquallError(err: unknown): SquallError {
  if (err instanceof SquallError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SquallError('UNAVAILABLE', message, { cause: err, retryable: true });
}
