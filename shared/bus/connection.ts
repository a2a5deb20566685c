/**
 * The NATS connection itself: the first connect retried until a deadline (a server may still be
 * starting), reconnects forever with a jittered backoff, and a close that drains when it can.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { SquallError } from '../errors.js';
import type { Logger } from '../log.js';
import { quietAnsweredRequests } from './answered-requests.js';
import {
  describeNatsSecurity,
  explainConnectFailure,
  type NatsSecurity,
  natsConnectOptions,
  serversForLog,
} from './auth.js';
import { backoffDelay, retryWithBackoff } from './backoff.js';
import { watchConnection } from './connection-status.js';
import { isRetryableConnectError, natsErrorToSquall } from './errors.js';
import { coalesceWrites, flushHeldWrites } from './write-coalescing.js';

/** What openConnection needs; connectBus fills it from BusOptions and their defaults. */
export interface ConnectionSettings {
  servers: string | string[];
  /** Connection name shown by the server. */
  name: string;
  /** Timeout of the connect handshake. */
  timeoutMs: number;
  /** Keep retrying the first connection this long. */
  connectDeadlineMs: number;
  /** Credentials and TLS. @default none */
  security?: NatsSecurity | undefined;
}

/** An open connection and whether it is up right now. */
export interface Connection {
  readonly nc: NatsConnection;
  /** False from a disconnect until the client has reconnected, and once closed. */
  readonly connected: boolean;
}

/** Reconnect waits: fully jittered, capped exponential, and restarted by each successful reconnect. */
class ReconnectBackoff {
  private attempt = 0;

  next(): number {
    return Math.max(50, backoffDelay(this.attempt++, { initialMs: 250, maxMs: 15_000 }));
  }

  reset(): void {
    this.attempt = 0;
  }
}

/**
 * Connects, retrying passing failures until `connectDeadlineMs`, and starts following the status.
 * Refused credentials and failed TLS handshakes throw ConfigError at once; other failures a
 * SquallError (UnavailableError when NATS stayed away). Servers are logged without credentials.
 */
export async function openConnection(settings: ConnectionSettings, log: Logger): Promise<Connection> {
  const backoff = new ReconnectBackoff();
  const security = natsConnectOptions(settings.security);
  const servers = serversForLog(settings.servers);
  const nc = await retryWithBackoff(
    async () => {
      try {
        return await connect({
          ...security,
          servers: settings.servers,
          name: settings.name,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectDelayHandler: () => backoff.next(),
          timeout: settings.timeoutMs,
          // Otherwise every request and publish builds an Error up front for its stack trace (5.6% of
          // a busy service's CPU in the profile); our errors name the operation and subject instead.
          noAsyncTraces: true,
        });
      } catch (err) {
        // Refused credentials or TLS end the retries (a ConfigError is not retryable): the same
        // settings cannot succeed.
        throw (await explainConnectFailure(err, settings.servers, settings.security, settings.timeoutMs)) ?? err;
      }
    },
    {
      isRetryable: isRetryableConnectError,
      deadlineMs: settings.connectDeadlineMs,
      onRetry: (err, attempt, delayMs) =>
        log.warn('nats connect failed, retrying', {
          err,
          attempt,
          delayMs,
          servers,
          ...describeNatsSecurity(settings.security),
        }),
    },
  ).catch((err: unknown) => {
    throw err instanceof SquallError ? err : natsErrorToSquall(err, `connecting to NATS at ${servers}`);
  });
  if (!coalesceWrites(nc))
    log.warn('this nats.js writes each command apart (its internals changed); messages flow all the same');
  if (!quietAnsweredRequests(nc))
    log.warn(
      'this nats.js builds an Error for every answered request (its internals changed); requests work all the same',
    );
  const state = watchConnection(nc, log, (up) => {
    if (up) backoff.reset();
  });
  return {
    nc,
    get connected() {
      return state.connected && !nc.isClosed();
    },
  };
}

/**
 * Drains subscriptions and closes; a drain that does not finish within `drainTimeoutMs` (the
 * server is away) or that fails is cut short by a close. Does nothing on a closed connection.
 */
export async function closeConnection(nc: NatsConnection, log: Logger, drainTimeoutMs: number): Promise<void> {
  if (nc.isClosed()) return;
  // Acks held back for the next write (sendLazily) go now, whatever the drain does.
  flushHeldWrites(nc);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), drainTimeoutMs);
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
}
