/**
 * The client's options and what its parts share once connected: the connection, the namespace's
 * subjects, the resolved options and the waits and watches close() must stop.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsSecurity } from '../bus/auth.js';
import { type Logger, silentLogger } from '../log.js';
import { DEFAULT_PREFIX, type Subjects } from '../names.js';
import type { BlobBackend } from '../payload/blobs.js';
import type { PayloadCodec } from '../payload/codec.js';

/** Options of `connect()`. */
export interface ClientOptions {
  /** NATS server URL(s); ignored when `nc` is given. @default 'nats://127.0.0.1:4222' */
  servers?: string | string[];
  /** Credentials and TLS (see docs/security.md); ignored when `nc` is given. @default none */
  nats?: NatsSecurity;
  /** Namespace of subjects and streams. @default 'squall' */
  prefix?: string;
  /** An existing connection to use; the client does not close it. */
  nc?: NatsConnection;
  /**
   * How long one request attempt waits for its reply; each progress notice from a router still
   * deciding the request (shared/bus/progress.ts) starts the wait again. @default 5000
   */
  requestTimeoutMs?: number;
  /** Sends of one request before it fails with UnavailableError. @default 3 */
  attempts?: number;
  /** How often `result()` looks again for an outcomes stream that does not exist yet. @default 1000 */
  resultPollMs?: number;
  /**
   * How long `result()` waits through a NATS disconnection before it rejects with UnavailableError
   * (per call: `ResultOptions.disconnectTimeoutMs`). watch() is never bounded. @default 30000
   */
  resultDisconnectTimeoutMs?: number;
  /** Connection name shown by the server. @default 'squall-client' */
  name?: string;
  /** @default silentLogger */
  log?: Logger;
  /**
   * Payload codecs to install in this process (the services' own, e.g. `payloadCodecsFrom(...)`),
   * so the client seals what it sends and opens what it reads; one set per process.
   * @default the process's codecs as they are
   */
  codecs?: PayloadCodec[];
}

/** ClientOptions with every default applied (the connection is apart: it may be the caller's). */
export type ResolvedClientOptions = Required<Omit<ClientOptions, 'nc' | 'nats' | 'codecs'>> &
  Pick<ClientOptions, 'nats'>;

/** Defaults of ClientOptions. */
export function defaultClientOptions(): ResolvedClientOptions {
  return {
    servers: 'nats://127.0.0.1:4222',
    prefix: DEFAULT_PREFIX,
    requestTimeoutMs: 5000,
    attempts: 3,
    resultPollMs: 1000,
    resultDisconnectTimeoutMs: 30_000,
    name: 'squall-client',
    log: silentLogger,
  };
}

/** Something long-lived a client started (a result wait, a watch); stop() ends it, once. */
export interface Stoppable {
  stop(): void;
}

/** A connected client as its parts see it. Waits and watches add themselves to `open` while they run. */
export interface ClientSession {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly opts: ResolvedClientOptions;
  readonly open: Set<Stoppable>;
  /** Where large payloads sent out of band are (the blobs stream). */
  readonly blobs: BlobBackend;
}

/** `obj` without its undefined fields, so they neither override defaults nor travel on the wire. */
export function definedOnly<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
