/**
 * Reads a connection's status stream: passing trouble (disconnects, reconnects, lame duck mode,
 * slow consumers) is logged and reported as data, never thrown.
 */
import type { NatsConnection, Status } from '@nats-io/transport-node';
import type { Logger } from '../log.js';

/** Whether the connection is up, as its status stream last said. */
export interface ConnectionState {
  /** False from a disconnect until the client has reconnected, and once closed. */
  readonly connected: boolean;
}

/**
 * Follows `nc.status()` for the connection's lifetime, logging each change; `onChange` hears every
 * transition between up and down. The connection is taken as up when this is called.
 */
export function watchConnection(
  nc: NatsConnection,
  log: Logger,
  onChange: (connected: boolean) => void = () => {},
): ConnectionState {
  const state = { connected: true };
  const update = (up: boolean): void => {
    state.connected = up;
    onChange(up);
  };
  void (async () => {
    for await (const s of nc.status()) logStatus(log, s, update);
  })();
  return state;
}

function logStatus(log: Logger, s: Status, onChange: (connected: boolean) => void): void {
  switch (s.type) {
    case 'disconnect':
      onChange(false);
      log.warn('nats disconnected', { server: s.server });
      break;
    case 'reconnect':
      onChange(true);
      log.info('nats reconnected', { server: s.server });
      break;
    case 'reconnecting':
      log.debug('nats reconnecting');
      break;
    case 'error':
      log.warn('nats error', { err: s.error });
      break;
    case 'ldm':
      log.warn('nats server entering lame duck mode', { server: s.server });
      break;
    case 'staleConnection':
      log.warn('nats connection stale');
      break;
    case 'slowConsumer':
      log.warn('nats slow consumer', { subject: s.sub.getSubject(), pending: s.pending });
      break;
    case 'close':
      onChange(false);
      log.info('nats connection closed');
      break;
    default:
      log.debug('nats status', { type: s.type });
  }
}
