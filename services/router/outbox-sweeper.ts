/**
 * The router's outbox sweep: every so often, finds commits a crash (or a store failure) left
 * unpublished past a grace period and has the decider republish them, and writes again the run
 * summaries whose writes failed. Any router may sweep; a repeated publish is deduplicated.
 */

import type { Clock } from '../../shared/clock.js';
import { forEachLimited } from '../../shared/concurrency.js';
import type { Logger } from '../../shared/log.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';
import type { RunDecider } from './decider.js';

/** Runs whose unpublished commits one outbox sweep republishes at once. */
const SWEEP_CONCURRENCY = 8;
/** Unpublished commits one outbox sweep reads per round. */
const SWEEP_BATCH = 256;

/** Options of startOutboxSweeper. */
export interface OutboxSweeperOptions {
  store: Store;
  decider: Pick<RunDecider, 'payOwedSummaries' | 'republish'>;
  log: Logger;
  /** Ages commits against their grace period. */
  clock: Clock;
  /** How often the outbox is swept. */
  intervalMs: number;
  /** How long a commit stays unpublished before a sweep republishes it. */
  graceMs: number;
  /** True once the router is stopping: a sweep under way reads no further batch. */
  isStopping: () => boolean;
}

/** Sweeps the outbox now and then every `intervalMs`, until stopped. */
export function startOutboxSweeper(opts: OutboxSweeperOptions): { stop(): void } {
  const { store, decider, log } = opts;
  const sweepOutbox = async (): Promise<void> => {
    await decider.payOwedSummaries();
    // Batch after batch while a full one comes back: a crash under load can leave thousands.
    for (let round = 0; !opts.isStopping(); round++) {
      const olderThan = opts.clock.now() - opts.graceMs;
      const stale = await store.findUnpublished({ olderThan, limit: SWEEP_BATCH });
      // A run's commits in order; runs side by side, in random order so that two routers sweeping
      // the same backlog mostly work on different runs. One run failing does not stop the rest.
      const byRun = new Map<string, StoredCommit[]>();
      for (const c of stale) byRun.set(c.runId, [...(byRun.get(c.runId) ?? []), c]);
      // Entries come in the order they were written, by routers whose clocks may differ.
      for (const commits of byRun.values()) commits.sort((a, b) => a.seq - b.seq);
      let republished = 0;
      await forEachLimited(shuffled([...byRun.values()]), SWEEP_CONCURRENCY, async (commits) => {
        try {
          for (const c of commits) {
            if (!(await decider.republish(c))) continue;
            republished++;
            log.info('republishing commands of a commit left unpublished', { runId: c.runId, seq: c.seq });
          }
        } catch (err) {
          log.warn('republishing a commit left unpublished failed; the next sweep tries again', {
            runId: commits[0]?.runId,
            err,
          });
        }
      });
      if (stale.length < SWEEP_BATCH || republished === 0) break;
      log.info('outbox sweep continues with the next batch', { round, republished });
    }
  };
  let sweeping = false;
  const sweepOnce = (): void => {
    if (sweeping) return; // a slow sweep (a scan on FerretDB) must not pile up behind itself
    sweeping = true;
    sweepOutbox()
      .catch((err: unknown) => log.warn('outbox sweep failed', { err }))
      .finally(() => {
        sweeping = false;
      });
  };
  sweepOnce();
  const sweeper = setInterval(sweepOnce, opts.intervalMs);
  sweeper.unref();
  return {
    stop() {
      clearInterval(sweeper);
    },
  };
}

/** A copy of `items` in random order (Fisher-Yates). */
function shuffled<T>(items: T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
