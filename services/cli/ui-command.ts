/** `squall ui`, and the console `squall dev` serves: the web console as a CLI-run service. */
import type { Logger } from '../../shared/log.js';
import { DEFAULT_NATS_URL } from '../common/options.js';
import type { CliIO } from './io.js';
import { type Stoppable, serveUntilSignal } from './serve.js';
import type { CommandOf, Connection } from './types.js';

/** Starts the console on `port`/`host` for the connection's namespace; stop() closes it and its client. */
export async function startUi(
  c: Connection,
  port: number,
  host: string,
  log: Logger,
): Promise<Stoppable & { url: string }> {
  const { startConsole } = await import('../console/index.js');
  const handle = await startConsole({
    port,
    host,
    log: log.child({ service: 'console' }),
    connection: {
      servers: c.natsUrl ?? DEFAULT_NATS_URL,
      prefix: c.prefix,
      name: 'squall-console',
      ...(c.nats ? { nats: c.nats } : {}),
    },
  });
  return { name: 'console', url: handle.url, closed: handle.closed, stop: () => handle.close() };
}

/** Runs `squall ui` until SIGTERM/SIGINT; prints `{"console":"http://…"}` once it listens. */
export async function runUi(command: CommandOf<'ui'>, c: Connection, log: Logger, io: CliIO): Promise<number> {
  const ui = await startUi(c, command.port, command.host, log);
  io.stdout(JSON.stringify({ console: ui.url }));
  return await serveUntilSignal(ui, io, log);
}
