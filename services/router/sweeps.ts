/**
 * The retention sweep: every `intervalMs`, never overlapping itself, the router asks its store to
 * remove closed runs past their retention (shared/store/retention.ts) and logs what went. Every
 * router sweeps; two sweeping at once delete the same documents, which costs a few writes twice
 * and changes nothing.
 */
import type { Logger } from '../../shared/log.js';
import type { Store } from '../../shared/store/types.js';

/**
 * Starts the sweeps (the first one `intervalMs` after start); returns their stop. 0 never sweeps.
 * `swept` hears the ids of the runs each sweep removed (the router drops them from its cache).
 */
export function startRetentionSweeps(
  store: Store,
  intervalMs: number,
  log: Logger,
  swept: (runIds: readonly string[]) => void,
): () => void {
  if (intervalMs <= 0) return () => {};
  let busy = false;
  const once = (): void => {
    if (busy) return;
    busy = true;
    store
      .sweepExpiredRuns()
      .then((r) => {
        if (r.swept === 0) return;
        swept(r.runIds);
        log.info('swept closed runs past their retention', { swept: r.swept, buckets: r.buckets });
      })
      .catch((err: unknown) => log.warn('retention sweep failed; the next one tries again', { err }))
      .finally(() => {
        busy = false;
      });
  };
  const timer = setInterval(once, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
