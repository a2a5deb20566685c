/**
 * Running services until the process is told to stop: wait for SIGTERM/SIGINT (or a service
 * closing on its own), then stop them all within a deadline.
 */
import type { Logger } from '../../shared/log.js';
import type { ServiceHealth } from '../common/service.js';
import type { CliIO } from './io.js';

/** How long a service may finish in-flight work after SIGTERM/SIGINT. */
export const SHUTDOWN_DEADLINE_MS = 8_000;

/** A started service, as far as the CLI needs it. */
export interface Stoppable {
  readonly name: string;
  stop(opts?: { deadlineMs?: number }): Promise<void>;
  readonly closed: Promise<void>;
  health?(): ServiceHealth;
}

/**
 * Waits for SIGTERM/SIGINT (or the services closing on their own), then stops them: in-flight work
 * gets SHUTDOWN_DEADLINE_MS, closing connections a little more; past that the process gives up on
 * a clean close (unacked work is redelivered to another instance) and exits non-zero.
 */
export async function serveUntilSignal(handles: Stoppable | Stoppable[], io: CliIO, log: Logger): Promise<number> {
  const list = Array.isArray(handles) ? handles : [handles];
  const ended = Promise.race(list.map((h) => h.closed.then(() => h.name)));
  const why = await Promise.race([io.shutdownSignal(), ended.then((name) => `${name} closed`)]);
  log.info('shutting down', { reason: why, deadlineMs: SHUTDOWN_DEADLINE_MS });
  let timer: NodeJS.Timeout | undefined;
  const hardDeadline = new Promise<'late'>((r) => {
    timer = setTimeout(() => r('late'), SHUTDOWN_DEADLINE_MS + 5_000);
  });
  const outcome = await Promise.race([
    Promise.all(list.map((h) => h.stop({ deadlineMs: SHUTDOWN_DEADLINE_MS }))).then(() => 'stopped' as const),
    hardDeadline,
  ]);
  clearTimeout(timer);
  if (outcome === 'late') {
    log.error('shutdown deadline passed; exiting without a clean close', { deadlineMs: SHUTDOWN_DEADLINE_MS + 5_000 });
    return 1;
  }
  log.info('shut down', { reason: why });
  return why === 'SIGTERM' || why === 'SIGINT' ? 0 : 1;
}
