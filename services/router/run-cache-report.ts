/**
 * The run cache in the router's log: a line when runs were evicted since the last one, at most one
 * a minute (an eviction is routine under a budget; its rate, not each one, is worth a line).
 * Health and the metrics carry the same figures at any time.
 */
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { cacheLimits, type RouterOptions } from './options.js';
import type { RunCacheStats } from './run-cache.js';

/** Least time between two eviction lines. */
export const CACHE_LOG_INTERVAL_MS = 60_000;

/** A reporter to call at each upkeep round: logs the cache's figures when evictions happened. */
export function cacheReporter(
  cache: { cacheStats(): RunCacheStats },
  o: { log: Logger; clock: Clock } & Pick<RouterOptions, 'runCacheSize' | 'runCacheBytes' | 'runCacheTtlMs'>,
): () => void {
  let reported = 0;
  let lastAt = Number.NEGATIVE_INFINITY;
  return () => {
    const stats = cache.cacheStats();
    const evicted = stats.evictions.runs + stats.evictions.bytes + stats.evictions.ttl;
    const now = o.clock.now();
    if (evicted === reported || now - lastAt < CACHE_LOG_INTERVAL_MS) return;
    o.log.info('run cache evicted runs', { evictedSince: evicted - reported, ...stats, ...cacheLimits(o) });
    reported = evicted;
    lastAt = now;
  };
}
