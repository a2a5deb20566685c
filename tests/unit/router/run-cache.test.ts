/** The router's run cache: waiting runs go first, then LRU; count, byte and time bounds together. */
import { describe, expect, it } from 'vitest';
import {
  type CachedRun,
  ENTRY_OVERHEAD_BYTES,
  estimateRunBytes,
  isWaiting,
  RunCache,
  type RunCacheOptions,
} from '../../../services/router/run-cache.js';
import { cacheReporter } from '../../../services/router/run-cache-report.js';
import { decide } from '../../../shared/engine/index.js';
import { decodePayload, encodePayload } from '../../../shared/history/codec.js';
import { createLogger } from '../../../shared/log.js';
import { ManualClock, steps } from './over-memory.js';

/** A run state: open and waiting, open with an activity in flight (busy), or closed. */
function run(runId: string, kind: 'waiting' | 'busy' | 'closed' = 'waiting'): CachedRun {
  const state = decide(steps, undefined, { kind: 'start', at: 1, workflowId: `w-${runId}`, runId }).state;
  if (kind === 'closed') return { def: steps, state: { ...state, status: 'completed' } };
  if (kind === 'waiting') return { def: steps, state };
  const activity = { activitySeq: 1, activity: 'charge', invokeId: 'charge', scheduledAt: 1 };
  return { def: steps, state: { ...state, activities: { charge: activity } } };
}

function cache(o: Partial<RunCacheOptions> & { clock?: ManualClock } = {}) {
  const clock = o.clock ?? new ManualClock();
  const c = new RunCache({
    maxRuns: 100,
    maxBytes: 0,
    ttlMs: 0,
    weigh: () => 100,
    ...o,
    clock,
  });
  return { c, clock };
}

const held = (c: RunCache, ids: string[]) => ids.filter((id) => c.get(id) !== undefined);

describe('run cache', () => {
  it('tells waiting runs (nothing in flight, or closed) from busy ones', () => {
    expect(isWaiting(run('a').state)).toBe(true);
    expect(isWaiting(run('b', 'closed').state)).toBe(true);
    expect(isWaiting(run('c', 'busy').state)).toBe(false);
  });

  it('without a byte bound, weighs a run when the figures are read, once for all its decisions since', () => {
    let weighed = 0;
    const { c } = cache({
      weigh: () => {
        weighed++;
        return 100;
      },
    });
    for (let i = 0; i < 5; i++) c.set('a', run('a', i % 2 === 0 ? 'busy' : 'waiting'));
    c.set('b', run('b'));
    c.set('gone', run('gone'));
    c.delete('gone');
    expect(weighed).toBe(0);
    expect(c.stats()).toMatchObject({ runs: 2, bytes: 200 });
    expect(weighed).toBe(2);
    expect(c.stats().bytes).toBe(200);
    expect(weighed).toBe(2);
    c.set('a', run('a'));
    c.delete('b');
    expect(c.stats()).toMatchObject({ runs: 1, bytes: 100 });
    expect(weighed).toBe(3);
  });

  it('estimates a run from its encoded state: as is when packed, twice when live, plus a fixed overhead', () => {
    expect(estimateRunBytes(500, true)).toBe(500 + ENTRY_OVERHEAD_BYTES);
    expect(estimateRunBytes(500, false)).toBe(1_000 + ENTRY_OVERHEAD_BYTES);
    const encoded = (r: CachedRun) => encodePayload(r.state).length;
    const [a, b, busy] = [run('a'), run('b'), run('c', 'busy')];
    const live = estimateRunBytes(encoded(a), false) + estimateRunBytes(encoded(b), false);
    const c = new RunCache({ maxRuns: 10, maxBytes: live - 1, ttlMs: 0, clock: new ManualClock() });
    c.set('a', a);
    expect(c.stats().bytes).toBe(estimateRunBytes(encoded(a), false));
    // Over the budget: the oldest waiting run is packed, not dropped.
    c.set('b', b);
    expect(c.stats()).toMatchObject({
      runs: 2,
      packedRuns: 1,
      bytes: estimateRunBytes(encoded(a), true) + estimateRunBytes(encoded(b), false),
      evictions: { bytes: 0 },
    });
    // A busy run over it: the other waiting run is packed too, then the oldest packed one goes.
    c.set('c', busy);
    expect(held(c, ['a', 'b', 'c'])).toEqual(['b', 'c']);
    expect(c.stats()).toMatchObject({ packedRuns: 1, evictions: { bytes: 1 } });
  });

  it('packs nothing without byte pressure; a packed run comes back as the store would give it, live once decided', () => {
    const { c } = cache({ maxBytes: 150, weigh: (_, packed) => (packed ? 50 : 100) });
    const waiting = run('a');
    c.set('a', waiting);
    expect(c.get('a')?.state).toBe(waiting.state);
    c.set('b', run('b', 'busy'));
    expect(c.stats()).toMatchObject({ runs: 2, packedRuns: 1 });
    const back = c.get('a');
    expect(back?.def).toBe(steps);
    expect(back?.state).not.toBe(waiting.state);
    expect(back?.state).toEqual(decodePayload(encodePayload(waiting.state), { runId: 'a', what: 'state' }));
    expect(back?.state).toEqual(waiting.state);
    // Decided again (woken) with room: kept live.
    c.delete('b');
    c.set('a', back as CachedRun);
    expect(c.get('a')?.state).toBe(back?.state);
    expect(c.stats()).toMatchObject({ packedRuns: 0 });
  });

  it('over its byte budget, drops waiting runs before busy ones, least recently decided first', () => {
    const { c } = cache({ maxBytes: 300 });
    c.set('busy1', run('busy1', 'busy'));
    c.set('wait1', run('wait1'));
    c.set('wait2', run('wait2'));
    c.set('busy2', run('busy2', 'busy'));
    // 400 bytes over 300: the oldest waiting run goes, though busy1 is older.
    expect(held(c, ['busy1', 'wait1', 'wait2', 'busy2'])).toEqual(['busy1', 'wait2', 'busy2']);
    c.set('busy3', run('busy3', 'busy'));
    expect(held(c, ['busy1', 'wait2', 'busy2', 'busy3'])).toEqual(['busy1', 'busy2', 'busy3']);
    // No waiting run left: the least recently decided busy one.
    c.set('busy4', run('busy4', 'busy'));
    expect(held(c, ['busy1', 'busy2', 'busy3', 'busy4'])).toEqual(['busy2', 'busy3', 'busy4']);
    expect(c.stats()).toMatchObject({ runs: 3, waitingRuns: 0, bytes: 300, evictions: { bytes: 3, runs: 0, ttl: 0 } });
  });

  it('counts recency from the last store: a run decided again moves to the back', () => {
    const { c } = cache({ maxRuns: 2 });
    c.set('a', run('a'));
    c.set('b', run('b'));
    c.get('a'); // a read is not a decision
    c.set('a', run('a'));
    c.set('c', run('c'));
    expect(held(c, ['a', 'b', 'c'])).toEqual(['a', 'c']);
    expect(c.stats().evictions).toEqual({ runs: 1, bytes: 0, ttl: 0 });
  });

  it('moves a run between waiting and busy as its state changes', () => {
    const { c } = cache({ maxRuns: 2 });
    c.set('a', run('a', 'busy'));
    c.set('b', run('b'));
    c.set('a', run('a')); // its activity finished: waiting now, and the most recent
    c.set('b', run('b', 'busy'));
    c.set('c', run('c', 'busy'));
    expect(held(c, ['a', 'b', 'c'])).toEqual(['b', 'c']);
    expect(c.stats()).toMatchObject({ runs: 2, waitingRuns: 0, bytes: 200 });
  });

  it('applies both bounds: whichever is reached first evicts', () => {
    const { c } = cache({ maxRuns: 3, maxBytes: 1_000 });
    for (const id of ['a', 'b', 'c', 'd']) c.set(id, run(id));
    expect(c.stats()).toMatchObject({ runs: 3, evictions: { runs: 1, bytes: 0 } });
    const small = cache({ maxRuns: 3, maxBytes: 150 }).c;
    for (const id of ['a', 'b']) small.set(id, run(id));
    expect(small.stats()).toMatchObject({ runs: 1, evictions: { runs: 0, bytes: 1 } });
  });

  it('does not keep a run larger than the whole budget, and keeps none with maxRuns 0', () => {
    const { c } = cache({ maxBytes: 1_000, weigh: (_, packed) => (packed ? 100 : 5_000) });
    c.set('a', run('a'));
    c.set('huge', run('huge', 'busy'));
    expect(held(c, ['a', 'huge'])).toEqual([]);
    expect(c.stats()).toMatchObject({ runs: 0, bytes: 0 });
    const none = cache({ maxRuns: 0 }).c;
    none.set('a', run('a'));
    expect(none.get('a')).toBeUndefined();
    expect(none.stats().evictions).toEqual({ runs: 0, bytes: 0, ttl: 0 });
  });

  it('drops runs not decided within the TTL, on lookup and on sweep', () => {
    const { c, clock } = cache({ ttlMs: 1_000 });
    c.set('a', run('a'));
    clock.t += 600;
    c.set('b', run('b', 'busy'));
    c.set('c', run('c'));
    clock.t += 500; // a is 1,100 ms old, b and c 500
    expect(c.lookup('a')).toBeUndefined();
    expect(c.lookup('b')).toBeDefined();
    expect(c.stats()).toMatchObject({ runs: 2, hits: 1, misses: 1, evictions: { ttl: 1 } });
    clock.t += 500;
    expect(c.sweep()).toBe(2);
    expect(c.stats()).toMatchObject({ runs: 0, bytes: 0, evictions: { ttl: 3 } });
  });

  it('counts hits and misses of lookups only; delete is not an eviction', () => {
    const { c } = cache();
    c.set('a', run('a'));
    expect(c.lookup('a')).toBeDefined();
    expect(c.lookup('zz')).toBeUndefined();
    expect(c.get('zz')).toBeUndefined();
    c.delete('a');
    expect(c.stats()).toEqual({
      runs: 0,
      waitingRuns: 0,
      packedRuns: 0,
      bytes: 0,
      hits: 1,
      misses: 1,
      evictions: { runs: 0, bytes: 0, ttl: 0 },
    });
  });

  it('logs evictions with the figures and bounds, at most once a minute', () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    const { c, clock } = cache({ maxRuns: 1 });
    const report = cacheReporter(
      { cacheStats: () => c.stats() },
      { log, clock, runCacheSize: Number.POSITIVE_INFINITY, runCacheBytes: 1_000, runCacheTtlMs: 0 },
    );
    report();
    expect(lines).toEqual([]);
    c.set('a', run('a'));
    c.set('b', run('b'));
    report();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'run cache evicted runs',
      evictedSince: 1,
      runs: 1,
      bytes: 100,
      evictions: { runs: 1 },
      maxRuns: null,
      maxBytes: 1_000,
      ttlMs: null,
    });
    c.set('c', run('c'));
    report();
    expect(lines).toHaveLength(1);
    clock.t += 60_000;
    report();
    expect(lines[1]).toMatchObject({ evictedSince: 1, evictions: { runs: 2 } });
  });
});
