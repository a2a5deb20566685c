/**
 * Starts local nats-server (JetStream) and MongoDB-compatible servers on free loopback ports with
 * their own data dirs. Used by the test harness and by `squall dev`. A server can be killed and
 * restarted on the same port and data dir, which is what fault tests need.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { MongoClient } from 'mongodb';
import { type NatsSecurity, natsConnectOptions } from '../../shared/bus/auth.js';
import { ConfigError, UnavailableError } from '../../shared/errors.js';
import { findMongoServer, type ServerBinary, type ServerKind } from './binaries.js';
import { findNatsServer } from './nats-binary.js';
import { chooseFerretBackend } from './postgres.js';
import {
  delay,
  freePort,
  makeTempDir,
  removeDir,
  type ServerProcess,
  spawnServer,
  stopProcess,
  tailFile,
  tcpReachable,
} from './process.js';

/** A server process this launcher started. */
export interface LocalServer {
  /** Client URL: `nats://127.0.0.1:<port>` or `mongodb://127.0.0.1:<port>/`. */
  readonly url: string;
  readonly kind: ServerKind;
  readonly port: number;
  /** Pid of the current process (a new one after restart); undefined once stopped. */
  readonly pid: number | undefined;
  readonly dataDir: string;
  /** stdout and stderr of every start, appended. */
  readonly logFile: string;
  /** Server version as reported on connect, e.g. `2.9.10` or `v1.24.2` (FerretDB). */
  readonly version: string;
  /** FerretDB's PostgreSQL database (on SQUALL_POSTGRES_URL's server), when it runs on PostgreSQL. */
  readonly postgresDatabase?: string;
  /** A short description for log lines: `nats-server 2.9.10 at nats://127.0.0.1:PORT`. */
  describe(): string;
  /**
   * SIGTERM, SIGKILL after `graceMs`, then removes the data dir if the launcher created it.
   * With `keepData`, only the process stops and `restart()` may follow.
   */
  stop(opts?: { keepData?: boolean; graceMs?: number }): Promise<void>;
  /** Sends a signal (default SIGKILL) and returns at once; pair with `restart()` for faults. */
  kill(signal?: NodeJS.Signals): void;
  /** Stops the process if it runs (SIGTERM) and starts it again on the same port and data dir. */
  restart(): Promise<void>;
}

/** Options for starting one server. */
export interface StartServerOptions {
  /** Where data lives. @default a new `/tmp/squall-<kind>-XXXXXX`, removed by stop() */
  dataDir?: string;
  /** @default a free port on 127.0.0.1 */
  port?: number;
  /** How long to wait for the server to accept clients. @default 30_000 */
  readyTimeoutMs?: number;
  /** Use this binary instead of looking one up. */
  binary?: ServerBinary;
}

/** Options for starting nats-server: those of any server, and a configuration with auth or TLS. */
export interface StartNatsOptions extends StartServerOptions {
  /**
   * nats-server configuration text (its own format, of which JSON is a subset), written to
   * `nats.conf` in the data dir: authorization, accounts, TLS. Address, port, JetStream and store
   * dir still come from the launcher's flags. @default none
   */
  config?: string;
  /** Credentials and TLS the readiness probe connects with, when `config` requires them. @default none */
  probeAs?: NatsSecurity;
}

/** Starts nats-server with JetStream on 127.0.0.1; see findNatsServer for the binary. */
export async function startNatsServer(opts: StartNatsOptions = {}): Promise<LocalServer> {
  const binary = opts.binary ?? (await findNatsServer());
  const config = opts.config;
  return await startServer(binary, opts, {
    args: (port, dataDir) => {
      const base = ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dataDir];
      if (config === undefined) return base;
      const file = join(dataDir, 'nats.conf');
      writeFileSync(file, config, { mode: 0o600 });
      return ['-c', file, ...base];
    },
    url: (port) => `nats://127.0.0.1:${port}`,
    probe: (url, timeoutMs) => probeNats(url, timeoutMs, opts.probeAs),
  });
}

/**
 * Starts mongod or FerretDB on 127.0.0.1; see findMongoServer for the binary and
 * chooseFerretBackend for FerretDB's backend (PostgreSQL when reachable, else SQLite).
 */
export async function startMongoServer(opts: StartServerOptions = {}): Promise<LocalServer> {
  const binary = opts.binary ?? (await findMongoServer());
  const backend = binary.kind === 'ferretdb' ? await chooseFerretBackend() : undefined;
  const args = (port: number, dataDir: string): string[] => {
    if (!backend) return ['--dbpath', dataDir, '--port', String(port), '--bind_ip', '127.0.0.1'];
    const storage =
      backend.kind === 'postgresql'
        ? ['--handler=postgresql', `--postgresql-url=${backend.url}`]
        : ['--handler=sqlite', `--sqlite-url=file:${dataDir}/`];
    return [
      ...storage,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
      `--state-dir=${dataDir}`,
    ];
  };
  let server: LocalServer;
  try {
    server = await startServer(binary, opts, {
      args,
      // FerretDB handlers can wait on its SQL pool while holding a connection of it, so clients
      // that send more concurrent requests than that pool serves can wedge it; a small client
      // pool in the URL bounds what every Squall service and test sends.
      url: (port) => `mongodb://127.0.0.1:${port}/${backend ? `?maxPoolSize=${FERRETDB_CLIENT_POOL}` : ''}`,
      probe: probeMongo,
      label: backend?.kind,
    });
  } catch (err) {
    if (backend?.kind === 'postgresql') backend.drop();
    throw err;
  }
  if (backend?.kind !== 'postgresql') return server;
  const stop = server.stop.bind(server);
  return Object.assign(server, {
    postgresDatabase: backend.database,
    async stop(stopOpts: { keepData?: boolean; graceMs?: number } = {}) {
      await stop(stopOpts);
      if (!stopOpts.keepData) backend.drop();
    },
  });
}

/** Connections each MongoDB client may open to a local FerretDB (`maxPoolSize` in its URL). */
export const FERRETDB_CLIENT_POOL = 5;

/** A NATS server and a MongoDB-compatible server, stopped together. */
export interface LocalServers {
  nats: LocalServer;
  mongo: LocalServer;
  /** Stops both and removes the data dirs the launcher created. */
  stop(): Promise<void>;
}

/** Starts both servers in parallel; if one fails, the other is stopped before the error is thrown. */
export async function startLocalServers(
  opts: { nats?: StartNatsOptions; mongo?: StartServerOptions } = {},
): Promise<LocalServers> {
  const [nats, mongo] = await Promise.allSettled([startNatsServer(opts.nats), startMongoServer(opts.mongo)]);
  if (nats.status === 'rejected' || mongo.status === 'rejected') {
    await Promise.all([nats, mongo].map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    throw nats.status === 'rejected' ? nats.reason : (mongo as PromiseRejectedResult).reason;
  }
  return {
    nats: nats.value,
    mongo: mongo.value,
    stop: async () => {
      await Promise.all([nats.value.stop(), mongo.value.stop()]);
    },
  };
}

/** Checks once that a server answers; resolves with its version. */
type Probe = (url: string, timeoutMs: number) => Promise<string>;

interface ServerRecipe {
  args(port: number, dataDir: string): string[];
  /** Shown after the version in describe(), e.g. FerretDB's backend. */
  label?: string | undefined;
  url(port: number): string;
  probe: Probe;
}

const START_ATTEMPTS = 3;

async function startServer(binary: ServerBinary, opts: StartServerOptions, recipe: ServerRecipe): Promise<LocalServer> {
  const ownsDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? makeTempDir(binary.kind);
  const logFile = join(dataDir, `${binary.kind}.log`);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  let port = opts.port ?? 0;
  let proc: ServerProcess | undefined;
  let version = '';
  let stopped = false;

  const launch = async (): Promise<void> => {
    proc = spawnServer(binary.path, recipe.args(port, dataDir), logFile);
    version = await waitReady(binary, proc, port, recipe.url(port), recipe.probe, readyTimeoutMs, logFile);
  };

  try {
    // A free port can be taken between our probe and the server's bind; pick another then.
    for (let attempt = 1; ; attempt++) {
      if (opts.port === undefined) port = await freePort();
      try {
        await launch();
        break;
      } catch (err) {
        const lostPort = /address already in use/i.test(tailFile(logFile, 5));
        if (proc) await stopProcess(proc, 1_000);
        if (!lostPort || opts.port !== undefined || attempt >= START_ATTEMPTS) throw err;
      }
    }
  } catch (err) {
    if (ownsDir) removeDir(dataDir);
    throw err;
  }

  const url = recipe.url(port);
  const server: LocalServer = {
    url,
    kind: binary.kind,
    port,
    dataDir,
    logFile,
    get pid() {
      return proc?.alive() ? proc.child.pid : undefined;
    },
    get version() {
      return version;
    },
    describe: () => `${binary.kind} ${version}${recipe.label ? ` ${recipe.label}` : ''} at ${url}`,
    async stop(stopOpts = {}) {
      if (proc) await stopProcess(proc, stopOpts.graceMs);
      if (!stopOpts.keepData && !stopped) {
        stopped = true;
        if (ownsDir) removeDir(dataDir);
      }
    },
    kill(signal = 'SIGKILL') {
      if (proc?.alive()) proc.child.kill(signal);
    },
    async restart() {
      if (stopped) throw new ConfigError(`${binary.kind} at ${url} was stopped for good; it cannot restart`);
      if (proc) {
        // A SIGSTOPped process ignores SIGTERM until continued.
        if (proc.alive()) proc.child.kill('SIGCONT');
        await stopProcess(proc);
      }
      try {
        await launch();
      } catch (err) {
        if (proc) await stopProcess(proc, 1_000);
        throw err;
      }
    },
  };
  return server;
}

async function waitReady(
  binary: ServerBinary,
  proc: ServerProcess,
  port: number,
  url: string,
  probe: Probe,
  timeoutMs: number,
  logFile: string,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void proc.exited.then((e) => {
    exit = e;
  });
  while (Date.now() < deadline) {
    if (exit || !proc.alive()) {
      const how = exit?.signal ? `signal ${exit.signal}` : `code ${exit?.code ?? 'unknown'}`;
      throw new UnavailableError(
        `${binary.kind} (${binary.path}) exited with ${how} before accepting clients at ${url}. Last log lines of ${logFile}:\n${tailFile(logFile)}`,
        { details: { kind: binary.kind, url, logFile } },
      );
    }
    try {
      const timeout = Math.min(2_000, Math.max(200, deadline - Date.now()));
      // Until the port listens, poll cheaply; client libraries back off for up to 500 ms.
      await tcpReachable('127.0.0.1', port, timeout);
      return await probe(url, timeout);
    } catch (err) {
      lastError = err;
    }
    await delay(20);
  }
  throw new UnavailableError(
    `${binary.kind} at ${url} did not accept clients within ${timeoutMs} ms (last error: ${(lastError as Error | undefined)?.message}). Last log lines of ${logFile}:\n${tailFile(logFile)}`,
    { cause: lastError, details: { kind: binary.kind, url, logFile } },
  );
}

/** Connects (with `security` when given), checks JetStream answers, and returns the server version. */
export async function probeNats(url: string, timeoutMs: number, security?: NatsSecurity): Promise<string> {
  const nc = await connect({
    ...natsConnectOptions(security),
    servers: url,
    timeout: timeoutMs,
    reconnect: false,
    name: 'squall-probe',
  });
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    await jsm.getAccountInfo();
    return nc.info?.version ?? 'unknown';
  } finally {
    await nc.close();
  }
}

/** Pings, and returns the version (FerretDB's own, e.g. `v1.24.2`, else the mongod version). */
export async function probeMongo(url: string, timeoutMs: number): Promise<string> {
  const client = new MongoClient(url, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
  });
  try {
    await client.connect();
    const admin = client.db('admin');
    await admin.command({ ping: 1 });
    const info = (await admin.command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
    return info.ferretdbVersion ?? info.version ?? 'unknown';
  } finally {
    await client.close();
  }
}
