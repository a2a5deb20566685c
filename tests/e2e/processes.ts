/**
 * Runs Squall services as real child processes (`node bin/squall.js <service> ...`) for
 * end-to-end and fault tests: waits for readiness from their JSON log lines, keeps the logs,
 * SIGKILLs or SIGTERMs them on demand, and stops whatever is left after the test file. Set
 * SQUALL_TEST_LOG_DIR to also keep every service's log lines in files there, and
 * SQUALL_TEST_LOG_LEVEL (e.g. `debug`) for the services' log level (default `info`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One running service process. */
export interface ServiceProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  /** Parsed JSON log lines so far. */
  readonly logs: Record<string, unknown>[];
  /** Non-JSON output (should stay empty: services log JSON only). */
  readonly noise: string[];
  /** Resolves with the exit code (or signal) once the process ended. */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Where the services connect. */
export interface ServiceEnv {
  natsUrl: string;
  mongoUrl: string;
  prefix: string;
  dbName: string;
  /** More environment for this process (e.g. the test-only `SQUALL_FAULT`). */
  extra?: Record<string, string>;
}

const live = new Set<ServiceProcess>();
const clients = new Set<SquallClient>();
afterAll(async () => {
  await Promise.all([...clients].map((c) => c.close()));
  for (const p of live) p.kill('SIGKILL');
  await Promise.all([...live].map((p) => p.exited));
});

/** Spawns `squall <args>` with the env pointing at the test's servers and namespace. */
export function spawnSquall(name: string, args: string[], env: ServiceEnv): ServiceProcess {
  const proc = spawn(process.execPath, [`${ROOT}bin/squall.js`, ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      NATS_URL: env.natsUrl,
      MONGO_URL: env.mongoUrl,
      SQUALL_PREFIX: env.prefix,
      SQUALL_DB: env.dbName,
      SQUALL_LOG_LEVEL: process.env.SQUALL_TEST_LOG_LEVEL ?? 'info',
      ...env.extra,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const noise: string[] = [];
  const logDir = process.env.SQUALL_TEST_LOG_DIR;
  if (logDir) mkdirSync(logDir, { recursive: true });
  const logFile = logDir ? `${logDir}/${env.prefix}-${name}.log` : undefined;
  const onLine = (line: string): void => {
    if (!line.trim()) return;
    if (logFile) appendFileSync(logFile, `${line}\n`);
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      noise.push(line);
    }
  };
  for (const stream of [proc.stdout, proc.stderr]) {
    let buf = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buf += chunk;
      let i = buf.indexOf('\n');
      while (i >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
        i = buf.indexOf('\n');
      }
    });
  }
  // 'close', not 'exit': it comes once the process's output has been read to its end, so a
  // caller that waits for `exited` sees the last lines (an exiting service's error among them).
  const exited = new Promise<number | string>((resolve) => {
    proc.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const sp: ServiceProcess = {
    name,
    proc,
    logs,
    noise,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
  live.add(sp);
  void exited.then(() => live.delete(sp));
  return sp;
}

/** Waits until a service logged a line whose `msg` matches, failing early if it exits. */
export async function waitForLog(p: ServiceProcess, msg: RegExp, timeoutMs = 30_000): Promise<void> {
  let ended = false;
  void p.exited.then(() => {
    ended = true;
  });
  await waitFor(
    `${p.name} to log ${msg}`,
    () => {
      if (p.logs.some((l) => typeof l.msg === 'string' && msg.test(l.msg))) return true;
      if (ended)
        throw new Error(`${p.name} exited: ${JSON.stringify(p.logs.slice(-5))} ${p.noise.slice(-5).join('\n')}`);
      return false;
    },
    { timeoutMs },
  );
}

/** Starts a service and waits for its "started" line. */
export async function startService(name: string, args: string[], env: ServiceEnv): Promise<ServiceProcess> {
  const p = spawnSquall(name, args, env);
  await waitForLog(p, /started/);
  return p;
}

/** Repo-relative paths of the sample order workflow. */
export const SAMPLE = {
  workflows: 'examples/order/workflows.ts',
  activities: 'examples/order/activities.ts',
} as const;

/** What startEngine runs: a router for `workflows`, an executor for `activities`, a timer. */
export interface EngineSpec {
  workflows: string;
  /** Starts an executor for this module. @default no executor */
  activities?: string;
  /** More executor flags, e.g. `['--concurrency', '16']`. @default [] */
  executorArgs?: string[];
  /** @default true */
  timer?: boolean;
  /** The client's per-request timeout. @default the client's */
  requestTimeoutMs?: number;
}

/** A test file's engine: its namespace on the shared servers, its service processes, a client. */
export interface Engine {
  env: ServiceEnv;
  client: SquallClient;
  router: ServiceProcess;
  executor?: ServiceProcess;
  timer?: ServiceProcess;
}

/**
 * The usual end-to-end setup: a fresh prefix and database on the shared servers, the services as
 * child processes, and a client; all stopped after the test file.
 */
export async function startEngine(spec: EngineSpec): Promise<Engine> {
  const env: ServiceEnv = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  const [router, executor, timer] = await Promise.all([
    startService('router', ['router', '--workflows', spec.workflows], env),
    spec.activities === undefined
      ? undefined
      : startService('executor', ['executor', '--activities', spec.activities, ...(spec.executorArgs ?? [])], env),
    spec.timer === false ? undefined : startService('timer', ['timer'], env),
  ]);
  const client = await connect({
    servers: env.natsUrl,
    prefix: env.prefix,
    ...(spec.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: spec.requestTimeoutMs }),
  });
  clients.add(client);
  return { env, client, router, ...(executor ? { executor } : {}), ...(timer ? { timer } : {}) };
}

/** When to kill the router in killRouterMidway, and how to start the one that replaces it. */
export interface RouterKill {
  /** Says what `midway` waits for, for the timeout's message. */
  what: string;
  /** Polled every `intervalMs` until true: the moment to kill. */
  midway: () => Promise<boolean>;
  /** @default 20 */
  intervalMs?: number;
  /** The replacement's name in logs, e.g. `router-2`. */
  name: string;
  /** The workflows module the replacement loads. */
  workflows: string;
  env: ServiceEnv;
}

/**
 * The fault step of the kill-the-router tests: waits (up to 60 s) until `midway` holds, SIGKILLs
 * `router`, waits for it to exit and starts a router in its place, which it returns. Inputs the
 * dead router had taken come back after the consumers' ack wait (30 s), behind later ones.
 */
export async function killRouterMidway(router: ServiceProcess, kill: RouterKill): Promise<ServiceProcess> {
  await waitFor(kill.what, kill.midway, { timeoutMs: 60_000, intervalMs: kill.intervalMs ?? 20 });
  router.kill('SIGKILL');
  await router.exited;
  return startService(kill.name, ['router', '--workflows', kill.workflows], kill.env);
}
