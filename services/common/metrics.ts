/**
 * Prometheus metrics (prom-client): one registry per service instance, so several services in one
 * process (tests, `squall dev`) never share or double-register a metric. This module holds what
 * every service counts (dead letters, NATS and MongoDB connection events), the helpers the
 * services' own metrics use, and the merge the health server's `/metrics` route answers with.
 * Labels stay small and bounded (service, activity, outcome, reason, event): never a run id.
 */
import type { NatsConnection, Status } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import {
  AggregatorRegistry,
  Counter,
  type CounterConfiguration,
  collectDefaultMetrics,
  Gauge,
  Registry,
} from 'prom-client';
import { ConfigError } from '../../shared/errors.js';

export { Registry } from 'prom-client';

/** The content type of the Prometheus text format. */
export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Buckets of latencies in seconds, 1 ms to 30 s: a decision, an append, an activity's run. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
/** Buckets of waits in seconds, 5 ms to 10 min: a task in its queue, a timer past its due time. */
export const WAIT_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600,
];

/**
 * The registry a service instance registers its metrics in: `given` (the caller's, left as it is),
 * else a new one labelled `service="<service>"`.
 */
export function serviceRegistry(service: string, given: Registry | undefined): Registry {
  if (given) return given;
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  return registry;
}

/**
 * Runs `register`, turning prom-client's "already registered" into a ConfigError that says what to
 * do: a registry given in options holds one service instance's metrics.
 */
function registerIn<T>(registry: Registry, register: () => T): T {
  try {
    return register();
  } catch (err) {
    if (err instanceof Error && /already been registered/.test(err.message)) {
      throw new ConfigError(
        `the metrics registry given already holds Squall's metrics (${err.message}): give each service instance a registry of its own`,
        { cause: err, details: { metrics: registry.getMetricsAsArray().map((m) => m.name) } },
      );
    }
    throw err;
  }
}

/** A counter whose value is read from `read()` at scrape time (a count the service keeps anyway). */
export function readCounter(registry: Registry, name: string, help: string, read: () => number): Counter {
  const config: CounterConfiguration<string> = {
    name,
    help,
    registers: [registry],
    collect() {
      // Counters only go up: setting one is a reset followed by an increment.
      this.reset();
      this.inc(read());
    },
  };
  return new Counter(config);
}

/** A gauge whose value is read from `read()` at scrape time. */
export function readGauge(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** The NATS connection events counted, as `event` label values (from the client's status stream). */
const NATS_EVENTS: ReadonlySet<Status['type']> = new Set([
  'disconnect',
  'reconnect',
  'ldm',
  'staleConnection',
  'slowConsumer',
  'error',
] as const);

/** MongoDB events counted: a failed heartbeat, the server seen unreachable, reachable again. */
export type MongoEvent = 'heartbeatFailed' | 'unreachable' | 'reachable';

/** What every service counts: dead letters by reason, and its connections' events. */
export class ServiceMetrics {
  /** Messages parked on the dead-letter stream, by reason (`oversize`, `undecodable`, …). */
  readonly deadLetters: Counter<'reason'>;
  readonly #natsEvents: Counter<'event'>;
  readonly #mongoEvents: Counter<'event'>;
  readonly #stops: (() => void)[] = [];

  constructor(readonly registry: Registry) {
    const registers = [registry];
    this.deadLetters = registerIn(
      registry,
      () =>
        new Counter({
          name: 'squall_dead_letters_total',
          help: 'Messages parked on the dead-letter stream, by reason',
          labelNames: ['reason'],
          registers,
        }),
    );
    this.#natsEvents = new Counter({
      name: 'squall_nats_events_total',
      help: 'NATS connection events: disconnect, reconnect, ldm (lame duck), staleConnection, slowConsumer, error',
      labelNames: ['event'],
      registers,
    });
    this.#mongoEvents = new Counter({
      name: 'squall_mongodb_events_total',
      help: "MongoDB events of the service's connection (its own, or a given store's): heartbeatFailed, unreachable, reachable (again)",
      labelNames: ['event'],
      registers,
    });
  }

  /** Counts the connection's status events and reports `connected` as a gauge, until stop(). */
  watchNats(nc: NatsConnection, connected: () => boolean): void {
    readGauge(this.registry, 'squall_nats_connected', '1 while the NATS connection is up', () => (connected() ? 1 : 0));
    // A status stream of our own: the client hands every listener each status.
    const statuses = nc.status();
    let stopped = false;
    this.#stops.push(() => {
      stopped = true;
      // The client's iterator has stop(), which ends the loop below at once (its type does not say so).
      if (hasStop(statuses)) statuses.stop();
    });
    void (async () => {
      for await (const s of statuses) {
        if (stopped) break;
        if (NATS_EVENTS.has(s.type)) this.#natsEvents.inc({ event: s.type });
      }
    })();
  }

  /**
   * Counts the driver's heartbeat failures and changes of reachability of `mongo` (the service's
   * own client, or the one under a store it was given); reports `connected` (by default, whether
   * the client's last look found the server reachable). One client per service instance.
   */
  watchMongo(mongo: MongoClient, connected?: () => boolean): void {
    let up = true;
    readGauge(this.registry, 'squall_mongodb_connected', '1 while the MongoDB server is reachable', () =>
      (connected ? connected() : up) ? 1 : 0,
    );
    const onHeartbeatFailed = (): void => this.mongoEvent('heartbeatFailed');
    const onChange = (e: { newDescription: { type: string } }): void => {
      const now = e.newDescription.type !== 'Unknown';
      if (now === up) return;
      up = now;
      this.mongoEvent(now ? 'reachable' : 'unreachable');
    };
    mongo.on('serverHeartbeatFailed', onHeartbeatFailed);
    mongo.on('serverDescriptionChanged', onChange);
    this.#stops.push(() => {
      mongo.off('serverHeartbeatFailed', onHeartbeatFailed);
      mongo.off('serverDescriptionChanged', onChange);
    });
  }

  /** Counts one MongoDB event. */
  mongoEvent(event: MongoEvent): void {
    this.#mongoEvents.inc({ event });
  }

  /** Stops following the connections (a given bus or client outlives the service). */
  stop(): void {
    for (const s of this.#stops.splice(0)) s();
  }
}

function hasStop(x: object): x is { stop(): void } {
  return 'stop' in x && typeof x.stop === 'function';
}

/** Seconds since `startMs`, a `performance.now()` reading. */
export function secondsSince(startMs: number): number {
  return (performance.now() - startMs) / 1000;
}

/** The registries a process's `/metrics` answers with (its services'; read at each scrape). */
export type MetricsSource = () => Registry[];

/** A registry of the process's own metrics (CPU, memory, event loop, GC): one per health server. */
export function processRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * The Prometheus text of `registries` together. A metric several of them hold (two services'
 * `squall_nats_connected`) is written once, its series told apart by their labels and summed
 * where the labels are the same (two routers in one process count as one).
 */
export async function metricsText(registries: Registry[]): Promise<string> {
  if (registries.length === 1) return (registries[0] as Registry).metrics();
  const all = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
  const summed = all.map((metrics) => metrics.map((m) => ({ ...m, aggregator: 'sum' as const })));
  return AggregatorRegistry.aggregate(summed).metrics();
}
