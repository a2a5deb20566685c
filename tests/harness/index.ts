/**
 * The integration-test harness: shared real servers for the run, fresh namespaces per test,
 * connections that close themselves after the test file, private servers for fault tests, and
 * `waitFor` to poll an observable condition with a deadline.
 *
 * Use only from tests in the `integration` project (tests/integration, e2e, smoke, chaos, fault):
 * its global setup starts the servers and its setup file closes what these helpers open.
 */
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { MongoClient, type MongoClientOptions } from 'mongodb';
import { type LocalServers, startLocalServers } from '../../services/dev/index.js';
import { ConfigError, TimeoutError } from '../../shared/errors.js';
import { MONGO_URL_ENV, NATS_URL_ENV } from './context.js';
import { trackForFile } from './resources.js';

export type { LocalServer, LocalServers } from '../../services/dev/index.js';
export { MONGO_URL_ENV, NATS_URL_ENV } from './context.js';

/** URL of the NATS server (JetStream on) shared by this test run. */
export function natsUrl(): string {
  return sharedUrl(NATS_URL_ENV);
}

/** URL of the MongoDB-compatible server shared by this test run. */
export function mongoUrl(): string {
  return sharedUrl(MONGO_URL_ENV);
}

/** A namespace prefix no other test uses: `t` + 12 hex digits (valid for `validatePrefix`). */
export function freshPrefix(): string {
  return `t${randomBytes(6).toString('hex')}`;
}

/** A MongoDB database name no other test uses: `test_` + 12 hex digits. */
export function freshDbName(): string {
  return `test_${randomBytes(6).toString('hex')}`;
}

/**
 * Connects to NATS (default: the shared server). Closed automatically after the test file;
 * closing it earlier yourself is fine. `opts` are merged over the harness defaults.
 */
export async function connectNats(
  url: string = natsUrl(),
  opts: Partial<NodeConnectionOptions> = {},
): Promise<NatsConnection> {
  const nc = await connect({ servers: url, name: 'squall-test', timeout: 5_000, ...opts });
  trackForFile(async () => {
    if (!nc.isClosed()) await nc.close();
  });
  return nc;
}

/**
 * Connects a MongoClient (default: the shared server), with a short server selection timeout so a
 * missing server fails fast. Closed automatically after the test file.
 */
export async function connectMongo(url: string = mongoUrl(), opts: MongoClientOptions = {}): Promise<MongoClient> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5_000, ...opts });
  await client.connect();
  trackForFile(() => client.close());
  return client;
}

/**
 * Starts a nats-server and a MongoDB-compatible server only this caller uses, on their own ports
 * and temp dirs, so a fault test can kill and `restart()` them. Stopped (and their dirs removed)
 * after the test file at the latest; `stop()` them earlier when done.
 */
export async function privateServers(): Promise<LocalServers> {
  const servers = await startLocalServers();
  trackForFile(() => servers.stop());
  return servers;
}

/** Options for waitFor. */
export interface WaitForOptions {
  /** @default 10_000 */
  timeoutMs?: number;
  /** @default 50 */
  intervalMs?: number;
}

/**
 * Polls `fn` until it returns something other than `undefined` or `false`, and returns that.
 * A throw counts as "not yet". Past the deadline, throws TimeoutError naming `what` and the last
 * error or value seen.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let last: string = 'never evaluated';
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
      last = `last value: ${String(value)}`;
    } catch (err) {
      last = `last error: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (Date.now() >= deadline) {
      throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`, { details: { what } });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

function sharedUrl(variable: string): string {
  const url = process.env[variable];
  if (!url) {
    throw new ConfigError(
      `${variable} is not set: the harness's servers exist only in the vitest 'integration' project ` +
        '(tests/integration, tests/e2e, tests/smoke, tests/chaos, tests/fault). Move the test there.',
    );
  }
  return url;
}
