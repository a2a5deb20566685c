/**
 * The executor's options: the shared connection and identity options plus its own, their
 * defaults, and the one function that compiles what a caller gives into what the executor runs
 * with. Nothing here reads the environment; the command line does that (services/cli).
 */
import type { Registry } from 'prom-client';
import type { StreamOptions } from '../../shared/bus/streams.js';
import {
  type ActivityDefinition,
  type ActivityFn,
  defineActivity,
  isActivityDefinition,
} from '../../shared/engine/activity.js';
import { ConfigError } from '../../shared/errors.js';
import { validateToken } from '../../shared/names.js';
import {
  type BusConnectionOptions,
  defaultBusConnectionOptions,
  defaultServiceIdentityOptions,
  mergeOptions,
  type ServiceIdentityOptions,
} from '../common/options.js';
import { newServiceId } from '../common/service.js';

/** Everything an executor runs with; callers give a `Partial` of it (see ExecutorStartOptions). */
export interface ExecutorOptions extends BusConnectionOptions, ServiceIdentityOptions {
  /** The activities this executor runs: definitions, or a map of name to function. Required. */
  activities: ActivityDefinition[] | Record<string, ActivityFn>;
  /** Most tasks running at once across all activities of this executor. @default 16 */
  concurrency: number;
  /** How long one pull waits for tasks before asking again (values under 1_000 count as 1_000). @default 5_000 */
  pollExpiresMs: number;
  /**
   * Ack wait of the activity consumers: how long a crashed executor holds a task before it is
   * delivered again. Running tasks are kept alive with `working()` automatically; a heartbeat
   * timeout set by the workflow is enforced by the router, which retries the attempt sooner.
   * @default 30_000
   */
  ackWaitMs: number;
  /** Longest gap between heartbeat reports to the router when the task has no heartbeat timeout. @default 30_000 */
  heartbeatThrottleMs: number;
  /**
   * A task delivered more times than this (crashes, shutdowns) is reported as failed instead of
   * run again, so a task that kills its executor cannot loop forever. @default 10
   */
  maxDeliveries: number;
  /**
   * Offer each result to the router holding its run's partition before publishing it to the
   * events stream (see shared/bus/direct-results.ts); false publishes every result to the stream.
   * @default true
   */
  directResults: boolean;
  /** Stream settings when this executor connects itself. @default undefined (the bus's defaults) */
  streams?: Partial<StreamOptions> | undefined;
  /**
   * The Prometheus registry this executor's metrics go in (one per service instance; the handle's
   * `metrics` is it). @default a new registry labelled `service="executor"`
   */
  metrics?: Registry | undefined;
}

/** What startExecutor takes: any options over the defaults, and the activities. */
export type ExecutorStartOptions = Partial<ExecutorOptions> & Pick<ExecutorOptions, 'activities'>;

/** The options an executor runs with once compiled: an id, and the activities as checked definitions. */
export interface CompiledExecutorOptions extends Omit<ExecutorOptions, 'activities' | 'id'> {
  id: string;
  activities: ActivityDefinition[];
}

/** The defaults of every executor option but `activities`, which has none. */
export function defaultExecutorOptions(): Omit<ExecutorOptions, 'activities'> {
  return {
    ...defaultBusConnectionOptions(),
    ...defaultServiceIdentityOptions(),
    concurrency: 16,
    pollExpiresMs: 5_000,
    ackWaitMs: 30_000,
    heartbeatThrottleMs: 30_000,
    maxDeliveries: 10,
    directResults: true,
  };
}

/**
 * Merges `given` over the defaults once, for startExecutor: a given bus's prefix is the default
 * prefix, the id is drawn when not given, the poll is at least a second, and the activities are
 * checked (ConfigError for none, duplicates or something defineActivity did not make).
 */
export function compileExecutorOptions(given: ExecutorStartOptions): CompiledExecutorOptions {
  const defaults = defaultExecutorOptions();
  if (given.bus) defaults.prefix = given.bus.prefix;
  const merged = mergeOptions<ExecutorOptions>({ ...defaults, activities: given.activities }, given);
  return {
    ...merged,
    id: merged.id ?? newServiceId('executor'),
    pollExpiresMs: Math.max(1000, merged.pollExpiresMs),
    activities: normalizeActivities(merged.activities),
  };
}

/** The activities as definitions, each name a valid token and registered once. */
function normalizeActivities(activities: ExecutorOptions['activities']): ActivityDefinition[] {
  const defs: unknown[] = Array.isArray(activities)
    ? activities
    : Object.entries(activities).map(([name, fn]) => defineActivity(name, fn));
  const seen = new Set<string>();
  for (const d of defs) {
    if (!isActivityDefinition(d)) throw new ConfigError('activities must be made by defineActivity or be functions');
    validateToken('activity', d.name);
    if (seen.has(d.name)) throw new ConfigError(`activity ${d.name} is registered twice`);
    seen.add(d.name);
  }
  if (defs.length === 0) throw new ConfigError('an executor needs at least one activity');
  return defs as ActivityDefinition[];
}

/** Options an activity definition may carry that the executor ignores: retry and timeouts belong to the workflow. */
const WORKFLOW_OWNED_OPTIONS = [
  'retry',
  'scheduleToStartTimeoutMs',
  'startToCloseTimeoutMs',
  'scheduleToCloseTimeoutMs',
  'heartbeatTimeoutMs',
  'semantics',
] as const;

/** The options of `def` that the executor ignores (set by the workflow instead), for a warning. */
export function misplacedActivityOptions(def: ActivityDefinition): string[] {
  return WORKFLOW_OWNED_OPTIONS.filter((k) => def.options[k] !== undefined);
}
