/**
 * What a scenario gets: the servers, its flags, and helpers to run the engine on a fresh namespace
 * with CPU meters on every service and on the servers themselves.
 */
import {
  CpuMeter,
  type CpuReader,
  commCpuSeconds,
  freshNamespace,
  procCpuSeconds,
  round,
  type Servers,
} from './env.js';
import { type Engine, startEngine, type Target, type Topology } from './services.js';

/** Parsed `--name value` flags; a bare `--name` is `true`. */
export type Flags = Record<string, string | boolean>;

/** A scenario's inputs. */
export interface ScenarioContext {
  servers: Servers;
  flags: Flags;
}

/** A number flag, else the default. */
export function num(flags: Flags, name: string, dflt: number): number {
  const v = flags[name];
  if (v === undefined || v === true) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${String(v)}`);
  return n;
}

/**
 * The topology from flags (`--routers`, `--executors`, `--timer-services`, `--exec-concurrency`,
 * `--processes`).
 */
export function topologyOf(flags: Flags, overrides: Partial<Topology> = {}): Topology {
  return {
    routers: num(flags, 'routers', 1),
    executors: num(flags, 'executors', 2),
    timers: num(flags, 'timer-services', 1),
    executorConcurrency: num(flags, 'exec-concurrency', 64),
    processes: flags.processes === true,
    ...overrides,
  };
}

/**
 * The MongoDB URL the services get: with `maxPoolSize` from `--mongo-pool` (default 10; 0 keeps
 * the driver's 100). FerretDB 1.24 deadlocks when ~100 updates arrive at once (its SQL connection
 * pool runs dry while each update holds one connection and waits for a second), and the router's
 * published-marks batch sends one bulkWrite per run in parallel; a small pool keeps it alive.
 */
export function servicesMongoUrl(ctx: ScenarioContext): string {
  const pool = num(ctx.flags, 'mongo-pool', 10);
  if (pool === 0) return ctx.servers.mongoUrl;
  const u = new URL(ctx.servers.mongoUrl);
  u.searchParams.set('maxPoolSize', String(pool));
  return u.toString();
}

/** Engine started on a fresh namespace, with a CPU reader per service and per server. */
export async function withEngine<T>(
  ctx: ScenarioContext,
  scenario: string,
  topo: Topology,
  body: (e: { engine: Engine; target: Target; cpu: Record<string, CpuReader> }) => Promise<T>,
): Promise<T> {
  const ns = freshNamespace(scenario);
  const target: Target = { natsUrl: ctx.servers.natsUrl, mongoUrl: servicesMongoUrl(ctx), ...ns };
  const engine = await startEngine(target, topo);
  const cpu: Record<string, CpuReader> = { ...engine.cpu };
  const { nats, mongo } = ctx.servers;
  if (nats.pid !== undefined) cpu.natsServer = () => procCpuSeconds(nats.pid as number);
  if (mongo.pid !== undefined) cpu.mongoServer = () => procCpuSeconds(mongo.pid as number);
  // FerretDB on PostgreSQL: the database's own work is in the postgres processes.
  if (/postgres/.test(mongo.kind)) cpu.postgres = () => commCpuSeconds('postgres');
  try {
    return await body({ engine, target, cpu });
  } finally {
    await engine.stop();
  }
}

/** CPU used during `fn`, per reader: ms per unit of work, and the share of the machine's cores. */
export async function measureCpu<T>(
  readers: Record<string, CpuReader>,
  units: () => number,
  fn: () => Promise<T>,
): Promise<{ out: T; wallMs: number; cpuMsPerUnit: Record<string, number | null>; coresBusy: number }> {
  const meter = new CpuMeter(readers);
  const t0 = performance.now();
  const out = await fn();
  const wallMs = performance.now() - t0;
  const used = meter.since();
  const n = Math.max(1, units());
  const cpuMsPerUnit: Record<string, number | null> = {};
  let total = 0;
  for (const [k, s] of Object.entries(used)) {
    cpuMsPerUnit[k] = s === null ? null : round((s * 1000) / n, 3);
    total += s ?? 0;
  }
  cpuMsPerUnit.total = round((total * 1000) / n, 3);
  return { out, wallMs, cpuMsPerUnit, coresBusy: round(total / (wallMs / 1000), 2) };
}
