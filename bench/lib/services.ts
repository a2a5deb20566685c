/**
 * Runs the engine for a scenario: R routers, E executors and T timer services (any may be 0), either in this
 * process (startRouter/startExecutor/startTimer, the default) or as separate `node bin/squall.js`
 * processes (`--processes`), with CPU readers for each service.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connectStore, type ServiceHandle } from '../../services/common/service.js';
import { startExecutor } from '../../services/executor/executor.js';
import { startRouter } from '../../services/router/router.js';
import { startTimer } from '../../services/timer/timer.js';
import { type Bus, connectBus } from '../../shared/bus/connect.js';
import type { ActivityDefinition } from '../../shared/engine/activity.js';
import type { Logger } from '../../shared/log.js';
import type { Store } from '../../shared/store/types.js';
import * as activities from '../activities.js';
import { awaitEvent, inline3, noop3, sleep1 } from '../workflows.js';
import { type CpuReader, procCpuSeconds, selfCpuSeconds } from './env.js';
import { benchLogger, traceBus, traceStore, tracing } from './trace.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How many of each service, and where. */
export interface Topology {
  routers: number;
  executors: number;
  timers: number;
  /** Tasks one executor runs at once. */
  executorConcurrency: number;
  processes: boolean;
}

/** Running services and how to read their CPU time. */
export interface Engine {
  /** Per-service CPU readers (`router`, `executor`, `timer`; summed over instances), processes only. */
  cpu: Record<string, CpuReader>;
  stop(): Promise<void>;
}

/** Where the services connect. */
export interface Target {
  natsUrl: string;
  mongoUrl: string;
  prefix: string;
  dbName: string;
}

// Warnings and errors only (a bench must not measure its own logging), unless tracing.
const quietLog = (): Logger => benchLogger();

/** Starts the topology; resolves when every service consumes. */
export async function startEngine(t: Target, topo: Topology): Promise<Engine> {
  return topo.processes ? await startProcesses(t, topo) : await startInProcess(t, topo);
}

/**
 * While tracing (trace.ts), a service's own connections, marked: a bus whose publishes and a store
 * whose calls stamp the trace. Closed by the returned handle, after the service stops.
 */
async function tracedConnections(
  t: Target,
  who: 'router' | 'executor',
): Promise<{ bus: Bus; store?: Store; close(): Promise<void> }> {
  const bus = await connectBus({ servers: t.natsUrl, prefix: t.prefix, name: `bench-${who}`, log: quietLog() });
  if (who === 'executor') return { bus: traceBus(bus, who), close: () => bus.close() };
  const owned = await connectStore({
    mongoUrl: t.mongoUrl,
    dbName: t.dbName,
    collectionPrefix: t.prefix,
    log: quietLog(),
  });
  return {
    bus: traceBus(bus, who),
    store: traceStore(owned.store, who),
    close: async () => {
      await bus.close();
      await owned.mongo.close();
    },
  };
}

async function startInProcess(t: Target, topo: Topology): Promise<Engine> {
  const handles: { stop(): Promise<void> }[] = [];
  // The traced connections, closed once every service has stopped (stopAll).
  const connections: { close(): Promise<void> }[] = [];
  const traced = async (who: 'router' | 'executor'): Promise<{ bus?: Bus; store?: Store }> => {
    if (!tracing()) return {};
    const c = await tracedConnections(t, who);
    connections.push(c);
    return c.store ? { bus: c.bus, store: c.store } : { bus: c.bus };
  };
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(handles.map((h) => h.stop()));
    await Promise.allSettled(connections.map((c) => c.close()));
  };
  try {
    // Routers first: they create the streams and consumers the others join.
    for (let i = 0; i < topo.routers; i++) {
      handles.push(
        await startRouter({
          ...(await traced('router')),
          natsUrl: t.natsUrl,
          mongoUrl: t.mongoUrl,
          prefix: t.prefix,
          dbName: t.dbName,
          workflows: [noop3, inline3, sleep1, awaitEvent],
          activities: Object.values(activities) as ActivityDefinition[],
          log: quietLog(),
        }),
      );
    }
    const execs: Promise<ServiceHandle>[] = [];
    for (let i = 0; i < topo.executors; i++) {
      execs.push(
        (async () =>
          startExecutor({
            ...(await traced('executor')),
            natsUrl: t.natsUrl,
            prefix: t.prefix,
            activities: Object.values(activities) as ActivityDefinition[],
            concurrency: topo.executorConcurrency,
            log: quietLog(),
          }))(),
      );
    }
    handles.push(...(await Promise.all(execs)));
    for (let i = 0; i < topo.timers; i++) {
      handles.push(
        await startTimer({
          natsUrl: t.natsUrl,
          mongoUrl: t.mongoUrl,
          prefix: t.prefix,
          dbName: t.dbName,
          log: quietLog(),
        }),
      );
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { cpu: { benchProcess: selfCpuSeconds }, stop: stopAll };
}

interface Child {
  service: string;
  proc: ChildProcess;
  exited: Promise<void>;
}

function spawnService(service: string, args: string[], t: Target): Promise<Child> {
  const proc = spawn(process.execPath, [`${ROOT}bin/squall.js`, service, ...args], {
    cwd: ROOT,
    env: {
      ...process.env,
      NATS_URL: t.natsUrl,
      MONGO_URL: t.mongoUrl,
      SQUALL_PREFIX: t.prefix,
      SQUALL_DB: t.dbName,
      SQUALL_LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return new Promise<Child>((resolve, reject) => {
    let buf = '';
    let ready = false;
    const timeout = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${service} did not start within 60 s: ${buf.slice(-2000)}`));
    }, 60_000);
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      if (ready) {
        // After start only warnings and errors are logged; keep them visible.
        if (/"level":"(warn|error)"/.test(chunk)) process.stderr.write(chunk);
        return;
      }
      buf += chunk;
      if (/"msg":"[^"]*started"/.test(buf)) {
        ready = true;
        clearTimeout(timeout);
        resolve({ service, proc, exited });
      }
    });
    proc.once('exit', (code) => {
      if (!ready) {
        clearTimeout(timeout);
        reject(new Error(`${service} exited with ${code} before starting: ${buf.slice(-2000)}`));
      }
    });
  });
}

async function startProcesses(t: Target, topo: Topology): Promise<Engine> {
  const children: Child[] = [];
  const stop = async (): Promise<void> => {
    for (const c of children) c.proc.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));
  };
  try {
    // The router runs inline3's steps itself: it loads the activities too.
    const wf = ['--workflows', 'bench/workflows.ts', '--activities', 'bench/activities.ts'];
    // The first router creates the streams; the rest start in parallel. Without routers, every
    // service creates (or finds) the streams itself as it connects.
    if (topo.routers > 0) children.push(await spawnService('router', wf, t));
    const rest: Promise<Child>[] = [];
    for (let i = 1; i < topo.routers; i++) rest.push(spawnService('router', wf, t));
    const exec = ['--activities', 'bench/activities.ts', '--concurrency', String(topo.executorConcurrency)];
    for (let i = 0; i < topo.executors; i++) rest.push(spawnService('executor', exec, t));
    for (let i = 0; i < topo.timers; i++) rest.push(spawnService('timer', [], t));
    const settled = await Promise.allSettled(rest);
    for (const s of settled) if (s.status === 'fulfilled') children.push(s.value);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  const cpu: Record<string, CpuReader> = { benchProcess: selfCpuSeconds };
  for (const service of ['router', 'executor', 'timer']) {
    const pids = children.filter((c) => c.service === service).map((c) => c.proc.pid as number);
    if (pids.length === 0) continue;
    cpu[service] = () => {
      let sum = 0;
      for (const pid of pids) {
        const s = procCpuSeconds(pid);
        if (s === undefined) return undefined;
        sum += s;
      }
      return sum;
    };
  }
  return { cpu, stop };
}
