/**
 * What every long-running Squall service shares: a handle to stop it and read its health, health
 * answered over NATS request/reply, and the bus it runs on (given, or connected and owned).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Subscription } from '@nats-io/transport-node';
import { MongoClient, MongoServerError } from 'mongodb';
import type { Registry } from 'prom-client';
import type { NatsSecurity } from '../../shared/bus/auth.js';
import { retryWithBackoff } from '../../shared/bus/backoff.js';
import { type Bus, type BusOptions, connectBus } from '../../shared/bus/connect.js';
import { ConfigError, SquallError } from '../../shared/errors.js';
import { type Logger, redactUrl } from '../../shared/log.js';
import { isRetryableStoreError } from '../../shared/store/errors.js';
import { createMongoStore } from '../../shared/store/index.js';
import type { Store } from '../../shared/store/types.js';
import {
  type MetricsSource,
  metricsText,
  PROMETHEUS_CONTENT_TYPE,
  processRegistry,
  type ServiceMetrics,
} from './metrics.js';

export {
  type BackoffOptions,
  backoffDelay,
  type RetryOptions,
  retryWithBackoff,
  sleep,
} from '../../shared/bus/backoff.js';

/** A service's view of itself: `live` = not broken, `ready` = doing its work. */
export interface ServiceHealth {
  live: boolean;
  ready: boolean;
  details: Record<string, unknown>;
}

/** Options of ServiceHandle.stop. */
export interface StopOptions {
  /** Time allowed for in-flight work to finish before it is aborted. @default 10_000 */
  deadlineMs?: number;
}

/** A running service. */
export interface ServiceHandle {
  /** `executor`, `timer`, `router`. */
  readonly name: string;
  /** This instance's id (unique per process start unless given). */
  readonly id: string;
  /** Stops taking work, lets in-flight work finish until the deadline, aborts the rest, closes. Idempotent. */
  stop(opts?: StopOptions): Promise<void>;
  /** Resolves once the service has fully stopped (by stop() or a fatal error). */
  readonly closed: Promise<void>;
  health(): ServiceHealth;
  /** The Prometheus registry of this instance's metrics (see docs/services.md#metrics). */
  readonly metrics: Registry;
}

/** Body of a health reply on `subjects.health(<service>)`. */
export interface HealthReply {
  service: string;
  id: string;
  live: boolean;
  ready: boolean;
  details: Record<string, unknown>;
}

/** A short random instance id: `<service>-<8 hex>`. */
export function newServiceId(service: string): string {
  return `${service}-${randomBytes(4).toString('hex')}`;
}

/**
 * Answers health requests on `subjects.health(service)`. A plain subscription (not a queue group)
 * so every instance answers: gather them with `requestMany`.
 */
export function serveHealth(bus: Bus, service: string, id: string, health: () => ServiceHealth): Subscription {
  return bus.nc.subscribe(bus.subjects.health(service), {
    callback: (err, msg) => {
      if (err) return;
      const h = health();
      const body: HealthReply = { service, id, live: h.live, ready: h.ready, details: h.details };
      bus.reply(msg, body);
    },
  });
}

/** Either an existing bus (the caller keeps owning it) or what to connect to. */
export interface BusSource {
  natsUrl?: string | string[] | undefined;
  /** Credentials and TLS when this service connects itself. */
  nats?: NatsSecurity | undefined;
  bus?: Bus;
  prefix?: string;
  log: Logger;
  /** Stream settings when this service connects (and so ensures the streams) itself. */
  streams?: BusOptions['streams'];
}

/** Returns the given bus, or connects one that the service owns and must close. */
export async function resolveBus(src: BusSource, connectionName: string): Promise<{ bus: Bus; owned: boolean }> {
  if (src.bus) {
    if (src.prefix !== undefined && src.prefix !== src.bus.prefix) {
      throw new ConfigError(`prefix ${src.prefix} differs from the given bus's prefix ${src.bus.prefix}`);
    }
    return { bus: src.bus, owned: false };
  }
  if (!src.natsUrl) throw new ConfigError(`${connectionName}: pass either natsUrl or bus`);
  const bus = await connectBus({
    servers: src.natsUrl,
    nats: src.nats,
    name: connectionName,
    log: src.log,
    // A service waits for its server however long it takes (logging each try), never busy-looping.
    connectDeadlineMs: Number.POSITIVE_INFINITY,
    ...(src.prefix !== undefined ? { prefix: src.prefix } : {}),
    ...(src.streams ? { streams: src.streams } : {}),
  });
  return { bus, owned: true };
}

/** A promise with its resolver, for `closed`. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A MongoDB connection a service owns, with the store over it and the server's reachability. */
export interface OwnedStore {
  mongo: MongoClient;
  store: Store;
  /** False while the driver sees no reachable server (from its monitoring; logged on change). */
  readonly connected: () => boolean;
}

/** MongoDB server error codes that retrying with the same settings cannot fix. */
const PERMANENT_MONGO_CODES: ReadonlySet<number> = new Set([
  13, // Unauthorized
  18, // AuthenticationFailed
]);

/**
 * Connects to MongoDB and initialises the store, retrying a server that is not there yet with
 * capped, jittered backoff (each try logged) until `signal` aborts. Bad credentials are a
 * ConfigError at once. Logs every change of the server's reachability afterwards.
 */
export async function connectStore(o: {
  mongoUrl: string;
  dbName: string;
  collectionPrefix: string;
  log: Logger;
  signal?: AbortSignal;
  /** Counts the client's heartbeat failures and reachability changes. @default none */
  metrics?: ServiceMetrics;
  /** Retention of closed runs whose start gave none (StoreOptions.retentionMs). @default 30 days */
  retentionMs?: number;
}): Promise<OwnedStore> {
  // Short server selection: an operation fails fast (retryable) while the server is away, and the
  // callers' own backoff paces the retries. Heartbeats every 5 s notice an outage while idle.
  const mongo = new MongoClient(o.mongoUrl, { serverSelectionTimeoutMS: 5_000, heartbeatFrequencyMS: 5_000 });
  let connected = true;
  const onChange = (up: boolean): void => {
    if (up === connected) return;
    connected = up;
    if (up) o.log.info('mongodb reachable again');
    else o.log.warn('mongodb unreachable');
  };
  // A failed heartbeat or a network error in any operation turns the server's description Unknown.
  mongo.on('serverDescriptionChanged', (e) => onChange(e.newDescription.type !== 'Unknown'));
  o.metrics?.watchMongo(mongo, () => connected);
  const store = createMongoStore(mongo, {
    dbName: o.dbName,
    collectionPrefix: o.collectionPrefix,
    ...(o.retentionMs === undefined ? {} : { retentionMs: o.retentionMs }),
  });
  try {
    await retryWithBackoff(
      async () => {
        try {
          await mongo.connect();
          await store.init();
        } catch (err) {
          if (err instanceof MongoServerError && typeof err.code === 'number' && PERMANENT_MONGO_CODES.has(err.code)) {
            throw new ConfigError(`MongoDB at ${redactUrl(o.mongoUrl)} refused the credentials: ${err.message}`, {
              cause: err,
            });
          }
          throw err;
        }
      },
      {
        isRetryable: (err) => !(err instanceof ConfigError) && (isRetryableStoreError(err) || isNetworkish(err)),
        ...(o.signal ? { signal: o.signal } : {}),
        onRetry: (err, attempt, delayMs) =>
          o.log.warn('mongodb connect failed, retrying', { err, attempt, delayMs, url: redactUrl(o.mongoUrl) }),
      },
    );
  } catch (err) {
    await mongo.close().catch(() => undefined);
    throw err;
  }
  connected = true;
  return { mongo, store, connected: () => connected };
}

function isNetworkish(err: unknown): boolean {
  if (err instanceof SquallError) return err.retryable;
  return err instanceof Error && /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Server selection timed out/i.test(err.message);
}

/** The health of everything a process runs; before its services exist, `starting` answers. */
export type HealthSource = () => ServiceHealth[];

/** Options of serveHttpHealth. */
export interface HttpHealthOptions {
  /** Address to listen on. @default '0.0.0.0' */
  host?: string;
  /** The registries `GET /metrics` answers with, asked at each scrape. @default none: no service metrics */
  metrics?: MetricsSource;
  /** Whether `/metrics` also carries the process's own (CPU, memory, event loop, GC). @default true */
  processMetrics?: boolean;
}

/**
 * Serves `GET /healthz` (200 while every service is live) and `GET /readyz` (200 while every
 * service is ready), each with the health as a JSON body, 503 otherwise, for orchestrators that
 * probe over HTTP (`--health-port`); and `GET /metrics`, the Prometheus text of the process's
 * services (and of the process itself).
 */
export async function serveHttpHealth(
  port: number,
  source: HealthSource,
  opts: HttpHealthOptions = {},
): Promise<Server> {
  const processMetrics = opts.processMetrics === false ? [] : [processRegistry()];
  const metrics = (): Promise<string> => metricsText([...processMetrics, ...(opts.metrics?.() ?? [])]);
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      metrics().then(
        (text) => res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
      );
      return;
    }
    if (req.method !== 'GET' || (path !== '/healthz' && path !== '/readyz')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"GET /healthz, /readyz or /metrics"}');
      return;
    }
    let list: ServiceHealth[];
    try {
      list = source();
    } catch {
      list = [{ live: false, ready: false, details: { error: 'health check failed' } }];
    }
    const ok = list.length > 0 && list.every((h) => (path === '/healthz' ? h.live : h.ready));
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok, services: list }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  return server;
}
