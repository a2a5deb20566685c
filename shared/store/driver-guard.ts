/**
 * A guard around one race in the MongoDB Node driver (7.x, `lib/cmap/connection.js`): a command
 * written to a socket that Node has already destroyed (the server went away: its FIN ended the
 * socket) before the socket's `close` event reached the connection. `socket.write` then returns
 * false without an error, and the driver waits for a `drain` that never comes: the command never
 * settles. Seen after a FerretDB SIGKILL (tests/fault/reconnect.test.ts) in both its forms: an
 * insert that never answered (its run stuck behind it, as the workflowId's inputs are serialized),
 * and the server monitor's heartbeat, whose hang left the server Unknown for good (every operation
 * failed server selection although the server was back).
 *
 * The guard fails such a write with the error the driver gives a closed connection (a
 * MongoNetworkError, so a retryable write is retried on a new connection): at once when the
 * socket is already destroyed, else when the socket closes while the write waits. Installed once
 * per process by createMongoStore; a driver whose connection class no longer has this shape is
 * left alone (tests/integration/store/driver-guard.test.ts fails then, and says so).
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { MongoNetworkError } from 'mongodb';

/** The parts of the driver's internal Connection the guard touches. */
interface DriverConnection {
  readonly id: number | '<monitor>';
  readonly address: string;
  readonly socket: Socket;
  onError(error: Error): void;
  writeCommand(command: unknown, options: unknown): Promise<void>;
}

type WriteCommand = DriverConnection['writeCommand'];

let installed: 'guarded' | 'unsupported' | undefined;

/**
 * Wraps the driver's Connection.writeCommand (see the file header); idempotent. Returns whether
 * the driver is guarded: false when its internals changed shape and nothing was wrapped.
 */
export function guardDriverWrites(): boolean {
  installed ??= install();
  return installed === 'guarded';
}

function install(): 'guarded' | 'unsupported' {
  let proto: Partial<DriverConnection> | undefined;
  try {
    const require = createRequire(import.meta.url);
    const mod = require('mongodb/lib/cmap/connection.js') as { Connection?: { prototype: Partial<DriverConnection> } };
    proto = mod.Connection?.prototype;
  } catch {
    return 'unsupported';
  }
  const original = proto?.writeCommand;
  if (!proto || typeof original !== 'function') return 'unsupported';
  proto.writeCommand = guarded(original);
  return 'guarded';
}

function guarded(original: WriteCommand): WriteCommand {
  return function writeCommand(this: DriverConnection, command, options) {
    const { socket } = this;
    const closedError = (): MongoNetworkError => {
      const err = new MongoNetworkError(`connection ${this.id} to ${this.address} closed`);
      // The driver's own cleanup for a failed write: the connection is destroyed, not reused.
      this.onError(err);
      return err;
    };
    if (socket.destroyed) return Promise.reject(closedError());
    return new Promise<void>((resolve, reject) => {
      const onClose = (): void => reject(closedError());
      socket.once('close', onClose);
      original.call(this, command, options).then(
        () => {
          socket.off('close', onClose);
          resolve();
        },
        (err: unknown) => {
          socket.off('close', onClose);
          reject(err);
        },
      );
    });
  };
}
