/**
 * What every scenario runs on: the servers (NATS_URL / MONGO_URL when set, else private ones from
 * shared/dev), a fresh namespace per scenario, the machine's description, and CPU meters that
 * read a process's user+system time from /proc (or this process's own cpuUsage).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { MongoClient } from 'mongodb';
import { type LocalServers, probeMongo, probeNats, startLocalServers } from '../../services/dev/index.js';

/** Where the servers are and what they are. */
export interface Servers {
  natsUrl: string;
  mongoUrl: string;
  nats: { kind: 'nats-server'; version: string; started: boolean; pid: number | undefined };
  mongo: { kind: string; version: string; started: boolean; pid: number | undefined };
  stop(): Promise<void>;
}

/** Uses NATS_URL / MONGO_URL when set, else starts a private nats-server and MongoDB-protocol server. */
export async function openServers(): Promise<Servers> {
  const envNats = process.env.NATS_URL;
  const envMongo = process.env.MONGO_URL;
  const local: LocalServers | undefined = envNats && envMongo ? undefined : await startLocalServers();
  const natsUrl = envNats ?? local?.nats.url ?? '';
  const mongoUrl = envMongo ?? local?.mongo.url ?? '';
  const mongoKind = local && !envMongo ? local.mongo.kind : await mongoKindOf(mongoUrl);
  return {
    natsUrl,
    mongoUrl,
    nats: {
      kind: 'nats-server',
      version: envNats ? await probeNats(natsUrl, 5_000) : (local?.nats.version ?? ''),
      started: !envNats,
      pid: envNats ? undefined : local?.nats.pid,
    },
    mongo: {
      kind: mongoKind === 'ferretdb' ? `ferretdb (${ferretBackend(local?.mongo.pid)} backend)` : mongoKind,
      version: envMongo ? await probeMongo(mongoUrl, 5_000) : (local?.mongo.version ?? ''),
      started: !envMongo,
      pid: envMongo ? undefined : local?.mongo.pid,
    },
    stop: async () => {
      await local?.stop();
    },
  };
}

/** FerretDB's storage backend, read from its command line (`--handler=`), when we started it. */
function ferretBackend(pid: number | undefined): string {
  if (pid === undefined) return 'unknown';
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.find((a) => a.startsWith('--handler='))?.slice('--handler='.length) ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function mongoKindOf(url: string): Promise<string> {
  const client = await new MongoClient(url, { serverSelectionTimeoutMS: 5_000 }).connect();
  try {
    const info = (await client.db('admin').command({ buildInfo: 1 })) as { ferretdbVersion?: string };
    return info.ferretdbVersion ? 'ferretdb' : 'mongod';
  } finally {
    await client.close();
  }
}

/** The machine a figure came from. */
export function machineInfo(servers: Servers): Record<string, unknown> {
  const c = cpus();
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    natsServer: { version: servers.nats.version, started: servers.nats.started },
    mongoServer: { kind: servers.mongo.kind, version: servers.mongo.version, started: servers.mongo.started },
    loadavg1m: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
  };
}

/** A namespace no other scenario or run uses: subject/stream/collection prefix and database. */
export function freshNamespace(scenario: string): { prefix: string; dbName: string } {
  const tag = randomBytes(3).toString('hex');
  return { prefix: `b${scenario.slice(0, 6)}${tag}`, dbName: `bench_${scenario}_${tag}` };
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** user+system CPU seconds of a process so far (all its threads), or undefined if it is gone. */
export function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command name start at field 3 (state): utime is field 14, stime 15.
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/**
 * user+system CPU seconds so far of every process named `comm` (e.g. PostgreSQL's backends behind
 * FerretDB, which the machine runs as a service). Backends that exit between two readings take
 * their CPU with them, so this can only undercount.
 */
export function commCpuSeconds(comm: string): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) continue;
    } catch {
      continue;
    }
    total += procCpuSeconds(Number(pid)) ?? 0;
  }
  return total;
}

/** Read and write system calls of a process so far (`/proc/<pid>/io`), or undefined if unreadable. */
export function procSyscalls(pid: number | 'self'): { reads: number; writes: number } | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(io.match(new RegExp(`^${name}: (\\d+)$`, 'm'))?.[1] ?? Number.NaN);
    const out = { reads: field('syscr'), writes: field('syscw') };
    return Number.isNaN(out.reads) || Number.isNaN(out.writes) ? undefined : out;
  } catch {
    return undefined;
  }
}

/**
 * System calls per unit of work between construction and `perUnit()`, per process: socket reads
 * and writes mostly, so a count that load on the machine does not inflate, unlike CPU time.
 */
export class SyscallMeter {
  private readonly start: Map<string, { reads: number; writes: number } | undefined>;
  constructor(private readonly pids: Record<string, number | 'self' | undefined>) {
    this.start = new Map(
      Object.entries(pids).map(([k, pid]) => [k, pid === undefined ? undefined : procSyscalls(pid)]),
    );
  }
  perUnit(units: number): Record<string, { reads: number; writes: number } | null> {
    const out: Record<string, { reads: number; writes: number } | null> = {};
    for (const [k, pid] of Object.entries(this.pids)) {
      const a = this.start.get(k);
      const b = pid === undefined ? undefined : procSyscalls(pid);
      out[k] =
        a && b
          ? { reads: round((b.reads - a.reads) / units, 2), writes: round((b.writes - a.writes) / units, 2) }
          : null;
    }
    return out;
  }
}

/** This process's user+system CPU seconds so far. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** A named CPU reader: seconds so far. */
export type CpuReader = () => number | undefined;

/** Snapshot of several CPU readers; `since()` gives seconds used per name. */
export class CpuMeter {
  private readonly start: Map<string, number | undefined>;
  constructor(private readonly readers: Record<string, CpuReader>) {
    this.start = new Map(Object.entries(readers).map(([k, r]) => [k, r()]));
  }
  since(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const [k, r] of Object.entries(this.readers)) {
      const a = this.start.get(k);
      const b = r();
      out[k] = a === undefined || b === undefined ? null : round(b - a, 3);
    }
    return out;
  }
}

/** Rounds to `digits` decimals. */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** p-quantile (0..1) of numbers, nearest rank; NaN for none. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

/** p50/p90/p99/max of a sample, in its own unit, rounded to 0.01. */
export function summarize(xs: number[]): {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
} {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN;
  return {
    n: s.length,
    p50: round(quantile(s, 0.5), 2),
    p90: round(quantile(s, 0.9), 2),
    p99: round(quantile(s, 0.99), 2),
    max: round(s.at(-1) ?? Number.NaN, 2),
    mean: round(mean, 2),
  };
}
