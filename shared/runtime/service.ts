/**
 * What every long-running Squall service shares: a handle to stop it and read its health, health
 * answered over NATS request/reply, and the bus it runs on (given, or connected and owned).
 */
import { randomBytes } from 'node:crypto';
import type { Subscription } from '@nats-io/transport-node';
import { type Bus, type BusOptions, connectBus } from '../bus/connect.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';

export { type BackoffOptions, backoffDelay, type RetryOptions, retryWithBackoff, sleep } from '../bus/backoff.js';

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
  natsUrl?: string;
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
    name: connectionName,
    log: src.log,
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
