/**
 * The router's Prometheus metrics: decisions by input kind and outcome with their latency, the
 * commit appends' latency, and (read at scrape time from counts the router keeps anyway) append
 * races, redeliveries and the run cache. Dead letters and connection events are ServiceMetrics'.
 */
import { Counter, type CounterConfiguration, Histogram, type Registry } from 'prom-client';
import type { Store } from '../../shared/store/types.js';
import { LATENCY_BUCKETS, readCounter, readGauge, ServiceMetrics, secondsSince } from '../common/metrics.js';
import type { DecideOutcome } from './decider.js';
import type { InboundInput } from './inputs.js';
import type { RunCacheStats } from './run-cache.js';

/** How the decision of one input ended: the decider's outcome, or `failed` (it threw). */
export type DecisionOutcome = DecideOutcome['kind'] | 'failed';

/** What the router keeps counts of, read at each scrape. */
export interface RouterCounts {
  /** Append races the decider lost (RunDecider.appendRaces). */
  appendRaces(): number;
  /** Inputs given back for a later delivery (RouterCounters.redelivered). */
  redelivered(): number;
  /** The run cache: runs and bytes held, loads that found their run there or not, evictions. */
  cache(): RunCacheStats;
}

/** The metrics of one router instance. */
export class RouterMetrics extends ServiceMetrics {
  readonly #decisions: Counter<'input' | 'outcome' | 'workflowType'>;
  readonly #decisionSeconds: Histogram<'input' | 'workflowType'>;
  readonly #givenUp: Counter<'workflowType' | 'activity' | 'reason'>;
  readonly #appendSeconds: Histogram;
  readonly #appended: Counter;

  constructor(registry: Registry) {
    super(registry);
    const registers = [registry];
    this.#decisions = new Counter({
      name: 'squall_router_decisions_total',
      help: 'Inputs decided, by input kind (start, signal, activityCompleted, timerFired, …), outcome (started, applied, dropped, failed) and workflow type ("" when the input reached no run)',
      labelNames: ['input', 'outcome', 'workflowType'],
      registers,
    });
    this.#decisionSeconds = new Histogram({
      name: 'squall_router_decision_seconds',
      help: 'Time to decide one input: load the run, fold the input, append the commit, publish its commands',
      labelNames: ['input', 'workflowType'],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.#givenUp = new Counter({
      name: 'squall_router_activities_given_up_total',
      help: 'Activities a decision gave up on, their error handed to the workflow, by workflow type, activity and reason (attemptsExhausted, timedOut, notRetryable)',
      labelNames: ['workflowType', 'activity', 'reason'],
      registers,
    });
    this.#appendSeconds = new Histogram({
      name: 'squall_router_append_seconds',
      help: 'Time of one batched commit append to the store',
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.#appended = new Counter({
      name: 'squall_router_commits_appended_total',
      help: 'Commits the store took (append races excluded)',
      registers,
    });
  }

  /**
   * Starts timing the decision of `input`; the function returned records how it ended: the
   * decider's outcome (its workflow type and the activities it gave up on), or `failed`.
   */
  decision(input: InboundInput): (outcome: DecideOutcome | 'failed') => void {
    const startMs = performance.now();
    const kind = input.kind === 'run' ? input.decision.kind : input.kind;
    return (outcome) => {
      // A failed input may name a type no router knows: only a decided run's type is a label value.
      const workflowType = outcome === 'failed' ? '' : (outcome.workflowType ?? '');
      const outcomeKind: DecisionOutcome = outcome === 'failed' ? outcome : outcome.kind;
      this.#decisions.inc({ input: kind, outcome: outcomeKind, workflowType });
      this.#decisionSeconds.observe({ input: kind, workflowType }, secondsSince(startMs));
      if (outcome !== 'failed' && outcome.kind === 'applied') {
        for (const g of outcome.gaveUp ?? [])
          this.#givenUp.inc({ workflowType, activity: g.activity, reason: g.reason });
      }
    };
  }

  /** Reports the router's own counts at each scrape. */
  follow(counts: RouterCounts): void {
    const r = this.registry;
    readCounter(
      r,
      'squall_router_append_races_total',
      'Commit appends lost to another router (reloaded, decided again)',
      () => counts.appendRaces(),
    );
    readCounter(r, 'squall_router_inputs_redelivered_total', 'Inputs given back for a later delivery (nak)', () =>
      counts.redelivered(),
    );
    readGauge(
      r,
      'squall_router_run_cache_size',
      'Runs whose state the router holds in memory',
      () => counts.cache().runs,
    );
    readGauge(
      r,
      'squall_router_run_cache_waiting_runs',
      'Cached runs with no activity or inline step in flight (evicted first)',
      () => counts.cache().waitingRuns,
    );
    readGauge(
      r,
      'squall_router_run_cache_packed_runs',
      'Waiting runs kept encoded to fit the byte budget (unpacked when they wake)',
      () => counts.cache().packedRuns,
    );
    readGauge(
      r,
      'squall_router_run_cache_bytes',
      'Estimated bytes of the runs the router holds in memory (runCacheBytes bounds it)',
      () => counts.cache().bytes,
    );
    const evictions: CounterConfiguration<'reason'> = {
      name: 'squall_router_run_cache_evictions_total',
      help: 'Runs dropped from memory, by reason: runs (runCacheSize), bytes (runCacheBytes), ttl (runCacheTtlMs)',
      labelNames: ['reason'],
      registers: [r],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(counts.cache().evictions)) this.inc({ reason }, n);
      },
    };
    new Counter(evictions);
    readCounter(r, 'squall_router_run_cache_hits_total', 'Run loads answered from memory', () => counts.cache().hits);
    readCounter(
      r,
      'squall_router_run_cache_misses_total',
      'Run loads that read the store (summary and history tail)',
      () => counts.cache().misses,
    );
  }

  /** `store` with appendCommits timed and its stored commits counted; every other method as it is. */
  timeAppends(store: Store): Store {
    const appendCommits: Store['appendCommits'] = async (commits) => {
      const startMs = performance.now();
      const results = await store.appendCommits(commits);
      this.#appendSeconds.observe(secondsSince(startMs));
      this.#appended.inc(results.filter((r) => r === undefined).length);
      return results;
    };
    // A proxy, not a spread: a store may be a class instance whose methods live on its prototype
    // and use private fields, so they are bound to the store itself (once each).
    const bound = new Map<PropertyKey, unknown>([['appendCommits', appendCommits]]);
    return new Proxy(store, {
      get: (target, prop) => {
        if (bound.has(prop)) return bound.get(prop);
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        const fn: unknown = value.bind(target);
        bound.set(prop, fn);
        return fn;
      },
    });
  }
}
