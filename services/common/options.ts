/**
 * The options every service shares, and their defaults. Each service's options type extends
 * these; each service merges `Partial<its options>` over `default<Service>Options()` in one
 * function. Environment variables are read only by the command line (services/cli), never here.
 */
import type { NatsSecurity } from '../../shared/bus/auth.js';
import type { Bus } from '../../shared/bus/connect.js';
import type { StreamOptions } from '../../shared/bus/streams.js';
import { type Clock, systemClock } from '../../shared/clock.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { DEFAULT_PREFIX } from '../../shared/names.js';
import type { Store } from '../../shared/store/types.js';

/** Where a service's NATS server is when nothing says otherwise. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
/** Where a service's MongoDB server is when nothing says otherwise. */
export const DEFAULT_MONGO_URL = 'mongodb://127.0.0.1:27017';
/** The MongoDB database a service uses when nothing says otherwise. */
export const DEFAULT_DB = 'squall';

/** How a service reaches NATS: a URL it connects to and owns, or a bus the caller owns. */
export interface BusConnectionOptions {
  /** NATS server URL(s); ignored when `bus` is given. @default 'nats://127.0.0.1:4222' */
  natsUrl: string | string[];
  /** Credentials and TLS for NATS (docs/security.md); ignored when `bus` is given. @default none */
  nats?: NatsSecurity | undefined;
  /** An already connected bus; the caller keeps owning (and closes) it. @default undefined */
  bus?: Bus | undefined;
  /** Namespace of subjects, streams and collections. @default 'squall' */
  prefix: string;
  /**
   * Stream settings when this service connects (and so ensures the streams) itself, e.g.
   * `{ replicas: 3 }` on a NATS cluster (docs/scaling.md). @default the stream defaults
   */
  streams?: Partial<StreamOptions> | undefined;
}

/** How a service reaches MongoDB: a URL it connects to and owns, or a store the caller owns. */
export interface StoreConnectionOptions {
  /**
   * MongoDB connection string, credentials and TLS included (`mongodb://user:pass@host/?tls=true`):
   * passed to the driver unchanged, logged with the password masked. Ignored when `store` is given.
   * @default 'mongodb://127.0.0.1:27017'
   */
  mongoUrl: string;
  /** An initialised store; the caller keeps owning (and closes) it. @default undefined */
  store?: Store | undefined;
  /** MongoDB database name. @default 'squall' */
  dbName: string;
}

/** Who a service is, where it logs and what time it is. */
export interface ServiceIdentityOptions {
  /** Instance id, in logs, health replies and connection names. @default `<service>-<8 hex>` */
  id?: string | undefined;
  /** Where the service logs. @default a JSON-lines logger on stderr at level info */
  log: Logger;
  /** The only source of the current time in service code. @default systemClock */
  clock: Clock;
}

/** The defaults of BusConnectionOptions. */
export function defaultBusConnectionOptions(): BusConnectionOptions {
  return { natsUrl: DEFAULT_NATS_URL, prefix: DEFAULT_PREFIX };
}

/** The defaults of StoreConnectionOptions. */
export function defaultStoreConnectionOptions(): StoreConnectionOptions {
  return { mongoUrl: DEFAULT_MONGO_URL, dbName: DEFAULT_DB };
}

/** The defaults of ServiceIdentityOptions. */
export function defaultServiceIdentityOptions(): ServiceIdentityOptions {
  return { log: createLogger(), clock: systemClock };
}

/**
 * Merges `given` over `defaults`, skipping keys whose value is `undefined` (so `{ prefix:
 * undefined }` keeps the default, as `Partial<>` callers expect).
 */
export function mergeOptions<T extends object>(defaults: T, given: Partial<T>): T {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(given) as [keyof T, T[keyof T] | undefined][]) {
    if (v !== undefined) out[k] = v;
  }
  return out;
}
