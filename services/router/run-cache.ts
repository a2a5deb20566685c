/**
 * The router's hot-run cache: run states kept in memory between decisions, bounded by a count of
 * runs and by an estimate of their bytes, with an optional time to live. When over a bound it
 * drops waiting runs first (a run with no activity or inline step in flight, or a closed one:
 * waiting on a timer, signal, event or child, it costs nothing until its next input wakes it),
 * least recently decided first; then busy runs, least recently decided first. A run dropped is
 * loaded from its summary and history tail on its next input (RunDecider.load), so eviction is
 * only ever a cost, never a loss. Before any waiting run is dropped for bytes, the waiting runs
 * are packed, oldest first: their state kept encoded with the store's codec (what its summary
 * holds: about 2/3 of the memory of the live objects), unpacked when they wake, a few µs against
 * a load from the store, and exactly the state a load would give. Under no byte pressure nothing
 * is packed, so a cached run's context stays the live objects the machine made. Pure
 * bookkeeping: no I/O; the time comes from the given clock.
 */
import type { Clock } from '../../shared/clock.js';
import type { WorkflowDefinition } from '../../shared/engine/index.js';
import type { RunState } from '../../shared/engine/types.js';
import { decodePayload, encodePayload } from '../../shared/history/codec.js';

/**
 * Heap bytes per encoded byte of a live (busy) run's state, and the fixed bytes of each entry (the
 * cache's map slot, the entry object, a packed state's buffer objects, the workflowId's holder):
 * fitted on `hold` and `steps` runs held in a Map (live: 1.1 to 1.25 KB of heap each for 320 to
 * 470 encoded bytes; packed: ~350 bytes of heap plus the encoded bytes); bench/scenarios/cache.ts
 * measures how close the estimate is to a router's real heap growth.
 */
export const HEAP_BYTES_PER_ENCODED_BYTE = 2;
export const ENTRY_OVERHEAD_BYTES = 400;

/**
 * The bytes a cached run is estimated to hold, from the size of its state encoded with the store's
 * codec (what its summary holds): a packed (waiting) run holds those bytes, a live one about twice
 * as many as objects; each plus the fixed overhead of an entry. One encode per decision under a
 * byte bound (a few µs against the decision's hundreds, the XState transition); without one, a
 * run is weighed only when the figures are read.
 */
export function estimateRunBytes(encodedBytes: number, packed: boolean): number {
  return encodedBytes * (packed ? 1 : HEAP_BYTES_PER_ENCODED_BYTE) + ENTRY_OVERHEAD_BYTES;
}

/**
 * Whether a run costs nothing until an input wakes it: closed, or open with no activity (inline
 * step included) in flight. Activities waiting on a retry still count as in flight: their next
 * attempt is the router's or an executor's work already under way.
 */
export function isWaiting(state: RunState): boolean {
  if (state.status !== 'running') return true;
  for (const _ in state.activities) return false;
  return true;
}

/** Why runs left the cache. */
export type EvictionReason = 'runs' | 'bytes' | 'ttl';

/** What the cache holds of a run: its definition and state (RunDecider's hot run). */
export interface CachedRun {
  def: WorkflowDefinition;
  state: RunState;
}

/** Options of a RunCache. */
export interface RunCacheOptions {
  /** Most runs held; 0 holds none. */
  maxRuns: number;
  /** Most estimated bytes held; 0 = no byte bound. */
  maxBytes: number;
  /** Runs not decided for this long are dropped; 0 = no time to live. */
  ttlMs: number;
  clock: Clock;
  /** A run's bytes from its encoded size and whether it is kept packed. @default estimateRunBytes */
  weigh?: (encodedBytes: number, packed: boolean) => number;
}

/** The cache's figures, for health, metrics and logs. */
export interface RunCacheStats {
  runs: number;
  /** Runs with nothing in flight (see isWaiting): the first to go. */
  waitingRuns: number;
  /** Waiting runs kept packed (encoded) to fit the byte budget. */
  packedRuns: number;
  /** Estimated bytes held (see estimateRunBytes). */
  bytes: number;
  /** Lookups that found their run (hits) or not (misses). */
  hits: number;
  misses: number;
  evictions: Record<EvictionReason, number>;
}

/**
 * A run kept live, or packed (its state encoded). `bytes` is 0 for a live run not weighed yet
 * (no byte bound: it is weighed when the figures are read, see RunCache.stats).
 */
type Entry = { def: WorkflowDefinition; bytes: number; storedAt: number } & (
  | { state: RunState; packed?: undefined }
  | { packed: Uint8Array; state?: undefined }
);

/** The run cache of a router. */
export class RunCache {
  /**
   * Insertion order is recency: the first entry of each map is its least recently stored. Runs
   * are packed oldest first, so every packed run is older than every live waiting one.
   */
  private readonly packed = new Map<string, Entry>();
  private readonly waiting = new Map<string, Entry>();
  private readonly busy = new Map<string, Entry>();
  private bytes = 0;
  /** Live runs stored since the figures were last read, not weighed yet (only without a byte bound). */
  private readonly unweighed = new Set<string>();
  private hits = 0;
  private misses = 0;
  private readonly evictions: Record<EvictionReason, number> = { runs: 0, bytes: 0, ttl: 0 };

  private readonly weigh: (encodedBytes: number, packed: boolean) => number;

  constructor(private readonly opts: RunCacheOptions) {
    this.weigh = opts.weigh ?? estimateRunBytes;
  }

  /** The most runs held (the count bound). */
  get maxRuns(): number {
    return this.opts.maxRuns;
  }

  /** Runs held. */
  get size(): number {
    return this.packed.size + this.waiting.size + this.busy.size;
  }

  /** A run's cached value, or undefined (expired ones are dropped); counted as a hit or a miss. */
  lookup(runId: string): CachedRun | undefined {
    const value = this.get(runId);
    if (value) this.hits++;
    else this.misses++;
    return value;
  }

  /**
   * A run's cached value (a packed one unpacked) without counting a lookup or changing its
   * recency; expired ones are dropped.
   */
  get(runId: string): CachedRun | undefined {
    const entry = this.entry(runId);
    if (!entry) return undefined;
    if (this.expired(entry, this.opts.clock.now())) {
      this.drop(runId, 'ttl');
      return undefined;
    }
    if (entry.state) return { def: entry.def, state: entry.state };
    return { def: entry.def, state: decodePayload(entry.packed, { runId, what: 'state' }) as RunState };
  }

  /**
   * Stores a run, live, as the most recently decided; then, over the count, evicts; over the
   * bytes, packs waiting runs, then evicts (see the file's header).
   */
  set(runId: string, run: CachedRun): void {
    this.remove(runId);
    if (this.opts.maxRuns <= 0) return;
    const entry: Entry = { def: run.def, state: run.state, bytes: 0, storedAt: this.opts.clock.now() };
    (isWaiting(run.state) ? this.waiting : this.busy).set(runId, entry);
    // Weighing encodes the state: without a byte bound only the figures need it, so it waits for
    // them (once per upkeep round or scrape, not once per decision of a busy run).
    if (this.opts.maxBytes > 0) this.weighEntry(entry);
    else this.unweighed.add(runId);
    this.sweep();
    while (this.size > this.opts.maxRuns) this.evictOne('runs');
    while (this.opts.maxBytes > 0 && this.bytes > this.opts.maxBytes && this.size > 0) {
      if (!this.packOldestWaiting()) this.evictOne('bytes');
    }
  }

  /** Forgets a run (not counted as an eviction: a conflict, or a caller's choice). */
  delete(runId: string): void {
    this.remove(runId);
  }

  /** Drops the runs past their time to live; returns how many. Cheap: it looks at the oldest only. */
  sweep(): number {
    if (this.opts.ttlMs <= 0) return 0;
    const now = this.opts.clock.now();
    let dropped = 0;
    for (const map of [this.packed, this.waiting, this.busy]) {
      for (const [runId, entry] of map) {
        if (!this.expired(entry, now)) break;
        this.drop(runId, 'ttl');
        dropped++;
      }
    }
    return dropped;
  }

  /** The cache's figures now (weighing the runs stored since they were last read). */
  stats(): RunCacheStats {
    for (const runId of this.unweighed) {
      const entry = this.entry(runId);
      if (entry) this.weighEntry(entry);
    }
    this.unweighed.clear();
    return {
      runs: this.size,
      waitingRuns: this.packed.size + this.waiting.size,
      packedRuns: this.packed.size,
      bytes: this.bytes,
      hits: this.hits,
      misses: this.misses,
      evictions: { ...this.evictions },
    };
  }

  /** Sets a live entry's estimated bytes from its encoded state, and counts them. */
  private weighEntry(entry: Entry): void {
    if (!entry.state) return;
    entry.bytes = this.weigh(encodePayload(entry.state).length, false);
    this.bytes += entry.bytes;
  }

  private expired(entry: Entry, now: number): boolean {
    return this.opts.ttlMs > 0 && now - entry.storedAt >= this.opts.ttlMs;
  }

  /** Packs the least recently decided live waiting run; false when there is none. */
  private packOldestWaiting(): boolean {
    const first = this.waiting.entries().next().value;
    if (first === undefined) return false;
    const [runId, entry] = first;
    if (!entry.state) return false;
    const packed = encodePayload(entry.state);
    const bytes = this.weigh(packed.length, true);
    this.waiting.delete(runId);
    this.packed.set(runId, { def: entry.def, packed, bytes, storedAt: entry.storedAt });
    this.bytes += bytes - entry.bytes;
    return true;
  }

  /** Evicts the least recently decided waiting run, else the least recently decided busy one. */
  private evictOne(reason: EvictionReason): void {
    const oldest = this.packed.keys().next().value ?? this.waiting.keys().next().value ?? this.busy.keys().next().value;
    if (oldest !== undefined) this.drop(oldest, reason);
  }

  private drop(runId: string, reason: EvictionReason): void {
    if (this.remove(runId)) this.evictions[reason]++;
  }

  private entry(runId: string): Entry | undefined {
    return this.waiting.get(runId) ?? this.busy.get(runId) ?? this.packed.get(runId);
  }

  private remove(runId: string): boolean {
    const entry = this.entry(runId);
    if (!entry) return false;
    this.packed.delete(runId);
    this.waiting.delete(runId);
    this.busy.delete(runId);
    this.unweighed.delete(runId);
    this.bytes -= entry.bytes;
    return true;
  }
}
