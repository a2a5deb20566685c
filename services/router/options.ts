/**
 * The router's options: the connection, identity and clock options every service shares, plus
 * the router's own. `startRouter` takes `Partial<RouterOptions>` (with `workflows`) and compiles it
 * here, once, over `defaultRouterOptions()`. Nothing in services/router reads the environment: the
 * command line (services/cli) passes what it read.
 */
import type { Registry } from 'prom-client';
import type { ActivityDefinition, WorkflowDefinition } from '../../shared/engine/index.js';
import { isActivityDefinition, WorkflowRegistry } from '../../shared/engine/index.js';
import { ConfigError } from '../../shared/errors.js';
import { DEFAULT_RETENTION_MS } from '../../shared/store/types.js';
import {
  type BusConnectionOptions,
  defaultBusConnectionOptions,
  defaultServiceIdentityOptions,
  defaultStoreConnectionOptions,
  mergeOptions,
  type ServiceIdentityOptions,
  type StoreConnectionOptions,
} from '../common/options.js';
import { newServiceId } from '../common/service.js';
import { checkInlineActivities } from './inline-steps.js';

/** Options of startRouter. */
export interface RouterOptions extends BusConnectionOptions, StoreConnectionOptions, ServiceIdentityOptions {
  /** Workflow definitions (every version of each) or a registry. Required: there is no default. */
  workflows: WorkflowDefinition[] | WorkflowRegistry;
  /**
   * The activities this router runs itself: those its workflows declare inline
   * (`activity({ inline: true })`). Every inline activity of `workflows` must be here. @default []
   */
  activities: ActivityDefinition[];
  /** Most inputs being decided at once. @default 1024 */
  maxInFlight: number;
  /**
   * Take results offered directly by executors for the events partitions this router holds
   * (shared/bus/direct-results.ts); false leaves every result to the events stream. @default true
   */
  directResults: boolean;
  /** Largest input body accepted, in bytes; larger ones are dead-lettered as `oversize`. @default 262_144 */
  maxInputBytes: number;
  /**
   * How often the router writes again the run summaries whose writes failed (and, until it
   * succeeds once, drains an outbox collection an earlier version left). @default 5_000
   */
  upkeepIntervalMs: number;
  /**
   * How long a closed run's history is kept when its start gave no `retentionMs`: the
   * namespace's default (a router given its own `store` uses the store's). @default 30 days
   */
  retentionMs: number;
  /** How often the router sweeps out closed runs past their retention; 0 never. @default 60_000 */
  retentionSweepIntervalMs: number;
  /**
   * How long an open run's summary write waits for the run's next state: list rows of open runs
   * lag by up to this much, 5 times this much for a busy run (see RunProjectionsOptions);
   * describe and query read history. 0 writes every state. @default 1000
   */
  summaryDelayMs: number;
  /**
   * Most runs whose state the router keeps in memory (see runCacheBytes for which go first); a run
   * not kept is loaded from its summary and history tail on its next input. 0 keeps none.
   * @default 10_000, or no count bound when runCacheBytes is given and this is not
   */
  runCacheSize: number;
  /**
   * Most estimated bytes of the runs kept in memory (`--cache-mb`): over it (or runCacheSize),
   * waiting runs (no activity or inline step in flight) are dropped first, then busy ones, least
   * recently decided first. A run's bytes: its encoded state scaled to heap, plus a fixed
   * overhead (services/router/run-cache.ts). 0 = no byte bound. @default 0
   */
  runCacheBytes: number;
  /** Runs not decided for this long are dropped from memory (`--cache-ttl-ms`); 0 = none. @default 0 */
  runCacheTtlMs: number;
  /**
   * How long a signal, cancel or terminate request from the Squall client waits for its message to
   * be in the run's history (kept waiting by progress notices, shared/bus/progress.ts) before it
   * is answered TimeoutError; the message stays in the inbox. @default 60_000
   */
  takenWaitMs: number;
  /** Ack wait of the router's consumers. @default 30_000 */
  ackWaitMs: number;
  /**
   * Refuse to start (ConfigError) when open runs use a (workflowType, version) that `workflows`
   * lacks. Turn off only for a router that deliberately serves a subset. @default true
   */
  requireOpenRunVersions: boolean;
  /**
   * The Prometheus registry this router's metrics go in (one per service instance; the handle's
   * `metrics` is it). @default a new registry labelled `service="router"`
   */
  metrics?: Registry | undefined;
}

/** What startRouter accepts: any options, and the workflows it decides. */
export type RouterOptionsInput = Partial<RouterOptions> & Pick<RouterOptions, 'workflows'>;

/** RouterOptions once compiled: every default filled in, the id chosen, the registry built. */
export interface CompiledRouterOptions extends RouterOptions {
  id: string;
  workflows: WorkflowRegistry;
  /** `activities` by name. */
  inlineActivities: ReadonlyMap<string, ActivityDefinition>;
}

/** The defaults of every RouterOptions field but `workflows`. */
export function defaultRouterOptions(): Omit<RouterOptions, 'workflows'> {
  return {
    ...defaultBusConnectionOptions(),
    ...defaultStoreConnectionOptions(),
    ...defaultServiceIdentityOptions(),
    activities: [],
    maxInFlight: 1024,
    directResults: true,
    maxInputBytes: 262_144,
    upkeepIntervalMs: 5_000,
    retentionMs: DEFAULT_RETENTION_MS,
    retentionSweepIntervalMs: 60_000,
    summaryDelayMs: 1000,
    runCacheSize: 10_000,
    runCacheBytes: 0,
    runCacheTtlMs: 0,
    takenWaitMs: 60_000,
    ackWaitMs: 30_000,
    requireOpenRunVersions: true,
  };
}

/**
 * Merges `given` over the defaults. A given bus lends its prefix when none is given (the prefix
 * must match the bus's, see resolveBus); the logger is tagged with the service and instance.
 */
export function compileRouterOptions(given: RouterOptionsInput): CompiledRouterOptions {
  const merged = mergeOptions<RouterOptions>({ ...defaultRouterOptions(), workflows: given.workflows }, given);
  const id = merged.id ?? newServiceId('router');
  const workflows =
    merged.workflows instanceof WorkflowRegistry ? merged.workflows : new WorkflowRegistry(merged.workflows);
  const inlineActivities = new Map<string, ActivityDefinition>();
  for (const a of merged.activities) {
    if (!isActivityDefinition(a)) {
      throw new ConfigError(`router activities: ${String(a)} is not an activity (make it with defineActivity)`);
    }
    inlineActivities.set(a.name, a);
  }
  checkInlineActivities(workflows, inlineActivities);
  for (const key of ['runCacheSize', 'runCacheBytes', 'runCacheTtlMs'] as const) {
    const n = merged[key];
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new ConfigError(`router ${key} must be a whole number of at least 0, got ${String(n)}`, {
        details: { option: key, value: String(n) },
      });
    }
  }
  // A byte budget alone bounds the cache: the count's default would cut it at 10,000 runs.
  const countBound = given.runCacheSize === undefined && merged.runCacheBytes > 0;
  return {
    ...merged,
    runCacheSize: countBound ? Number.POSITIVE_INFINITY : merged.runCacheSize,
    inlineActivities,
    prefix: given.prefix ?? given.bus?.prefix ?? merged.prefix,
    id,
    workflows,
    log: merged.log.child({ service: 'router', instance: id }),
  };
}

/** The run cache's bounds that apply, for health and logs (null: no such bound). */
export function cacheLimits(o: Pick<RouterOptions, 'runCacheSize' | 'runCacheBytes' | 'runCacheTtlMs'>): {
  maxRuns: number | null;
  maxBytes: number | null;
  ttlMs: number | null;
} {
  return {
    maxRuns: Number.isFinite(o.runCacheSize) ? o.runCacheSize : null,
    maxBytes: o.runCacheBytes > 0 ? o.runCacheBytes : null,
    ttlMs: o.runCacheTtlMs > 0 ? o.runCacheTtlMs : null,
  };
}
