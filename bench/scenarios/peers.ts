/**
 * `peers`: Squall and its peers side by side on the same workload, in one run, every round: a
 * three-step no-op workflow, 300 sequential runs after 50 warm-up (p50/p90/p99 start→done), then
 * 3,000 runs at concurrency 32 (runs per second). The peers are DBOS (steps in process, PostgreSQL)
 * and Restate, run by `../shared/peers/run.sh` (beside the repo; `--peers-dir` to move it), whose
 * JSON lines are read back. Prints one JSON line per system and round on stdout as it goes, so a
 * single command gives the table; the scenario's result holds the same rows and the ratios.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Flags, num, type ScenarioContext, topologyOf, withEngine } from '../lib/context.js';
import { Driver } from '../lib/driver.js';
import { round, summarize } from '../lib/env.js';

/** One system's figures in one round. */
export interface PeerRow {
  system: string;
  round: number;
  p50ms: number | null;
  p90ms: number | null;
  p99ms: number | null;
  /** Slowest sequential run (Squall's rows only: the peers' scripts print no maximum). */
  maxMs?: number;
  perSec: number | null;
  concurrency: number;
  n: number;
  error?: string;
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PEERS = ['dbos', 'restate'] as const;

/** The systems to run, from `--systems squall,dbos,restate` (all three by default). */
function systemsOf(flags: Flags): string[] {
  const v = flags.systems;
  const list = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : ['squall', ...PEERS];
  for (const s of list) {
    if (s !== 'squall' && !(PEERS as readonly string[]).includes(s)) {
      throw new Error(`--systems: unknown system ${s} (known: squall, ${PEERS.join(', ')})`);
    }
  }
  return list;
}

/**
 * Executors beside the router for the executor row, unless `--executors` says otherwise: one, in
 * the bench process, as each peer runs in one process. Two executors in one process add pull
 * requests and writes on one event loop, not capacity: with two, p50 was 28.1 / 21.5 / 21.5 ms
 * against 21.1 / 17.9 / 18.9 with one (three interleaved rounds, 2026-12-06).
 */
const PEERS_EXECUTORS = 1;

/** Squall's two ways of running the three steps: a row each. */
const SQUALL_VARIANTS = [
  { system: 'squall (executor activities)', workflow: 'noop3', executors: undefined },
  // Inline steps run in the router: no executor is needed (none is started, as the peers have none).
  { system: 'squall (inline steps)', workflow: 'inline3', executors: 0 },
] as const;

/** A Squall row: the variant's workflow, sequential then at concurrency `c`. */
async function squallRound(
  ctx: ScenarioContext,
  variant: (typeof SQUALL_VARIANTS)[number],
  round_: number,
  runs: number,
  n: number,
  c: number,
): Promise<PeerRow> {
  const wf = variant.workflow;
  const topo = topologyOf(ctx.flags, { executors: variant.executors ?? num(ctx.flags, 'executors', PEERS_EXECUTORS) });
  return await withEngine(ctx, 'peers', topo, async ({ target }) => {
    const driver = await Driver.open(target.natsUrl, target.prefix, [wf]);
    try {
      await driver.runMany(wf, 50, 1, (i) => ({ n: i }));
      const seq = await driver.runMany(wf, runs, 1, (i) => ({ n: i }));
      const lat = summarize(seq.timings.map((t) => t.doneMs));
      const many = await driver.runMany(wf, n, c, (i) => ({ n: i }));
      const completed = many.timings.filter((t) => t.status === 'completed').length;
      return {
        system: variant.system,
        round: round_,
        p50ms: lat.p50,
        p90ms: lat.p90,
        p99ms: lat.p99,
        maxMs: lat.max,
        perSec: round((completed / many.wallMs) * 1000, 1),
        concurrency: c,
        n,
      };
    } finally {
      await driver.close();
    }
  });
}

/** The flags a fresh process's Squall round is given: this run's, for one round of Squall alone. */
function freshRoundArgs(flags: Flags): string[] {
  const given = Object.entries(flags).filter(([k]) => !['rounds', 'systems', 'warm', 'repeat'].includes(k));
  const args = ['peers', '--rounds', '1', '--systems', 'squall', '--warm'];
  for (const [k, v] of given) args.push(`--${k}`, ...(v === true ? [] : [String(v)]));
  return args;
}

/**
 * Squall's rows of round `round_` from a bench process of their own, on this run's servers: as the
 * peers' scripts start theirs every round, each Squall round starts cold (50 warm-up runs, then
 * the measured ones), instead of later rounds running in a process warmed by the earlier ones.
 */
async function freshSquallRound(ctx: ScenarioContext, round_: number): Promise<PeerRow[]> {
  const tsx = path.join(REPO, 'node_modules/.bin/tsx');
  const env = { NATS_URL: ctx.servers.natsUrl, MONGO_URL: ctx.servers.mongoUrl };
  const { code, stdout, stderr } = await runCommand(
    tsx,
    [path.join(REPO, 'bench/index.ts'), ...freshRoundArgs(ctx.flags)],
    env,
  );
  const rows = stdout
    .split('\n')
    .filter((l) => l.startsWith('{"peers":'))
    .map((l) => ({ ...(JSON.parse(l) as { peers: PeerRow }).peers, round: round_ }));
  if (rows.length === SQUALL_VARIANTS.length) return rows;
  const why = `a fresh bench process exited ${code} with ${rows.length} of ${SQUALL_VARIANTS.length} rows: ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
  const c = num(ctx.flags, 'concurrency', 32);
  const n = num(ctx.flags, 'n', 3000);
  return SQUALL_VARIANTS.map(
    (v) => rows.find((r) => r.system === v.system) ?? { ...emptyRow(v.system, round_, c, n), error: why },
  );
}

/** A row before (or without) its figures. */
function emptyRow(system: string, round_: number, c: number, n: number): PeerRow {
  return { system, round: round_, p50ms: null, p90ms: null, p99ms: null, perSec: null, concurrency: c, n };
}

/** Runs `jobs` one after another (never side by side: each measures the machine alone). */
async function sequentially<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (const job of jobs) out.push(await job());
  return out;
}

/** Runs `run.sh <peer>` and reads its sequential and concurrent phases back. */
async function peerRound(script: string, peer: string, round_: number, n: number, c: number): Promise<PeerRow> {
  const row = emptyRow(peer, round_, c, n);
  const { code, stdout, stderr } = await runCommand('bash', [script, peer], { C: String(c), N: String(n) });
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as { phase?: string; p50ms?: string; p90ms?: string; p99ms?: string; perSec?: number };
    if (r.phase?.startsWith('sequential')) {
      row.p50ms = Number(r.p50ms);
      row.p90ms = Number(r.p90ms);
      row.p99ms = Number(r.p99ms);
    } else if (r.phase?.startsWith('concurrent')) row.perSec = r.perSec ?? null;
  }
  if (row.p50ms === null || row.perSec === null) {
    row.error = `run.sh ${peer} exited ${code} without both phases: ${stderr.trim().split('\n').slice(-3).join(' | ')}`;
  }
  return row;
}

/** Runs `command` with `env` added to this process's, and gives back its exit code and output. */
function runCommand(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Each peer's figure divided by Squall's in the same round (latency: >1 means Squall is slower). */
function ratios(rows: PeerRow[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const s of rows.filter((r) => r.system.startsWith('squall'))) {
    for (const p of rows.filter((r) => r.round === s.round && !r.system.startsWith('squall'))) {
      out.push({
        round: s.round,
        versus: p.system,
        p50Ratio: s.p50ms && p.p50ms ? round(s.p50ms / p.p50ms, 2) : null,
        throughputRatio: s.perSec && p.perSec ? round(s.perSec / p.perSec, 2) : null,
      });
    }
  }
  return out;
}

/**
 * `peers`: `--rounds 3 --systems squall,dbos,restate --runs 300 --n 3000 --concurrency 32`. Each
 * Squall round runs in a bench process of its own, as each peer's does; `--warm` runs them all in
 * this process instead (from round 2 on, warmed by the rounds before).
 */
export async function peers(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const rounds = num(ctx.flags, 'rounds', 3);
  const runs = num(ctx.flags, 'runs', 300);
  const n = num(ctx.flags, 'n', 3000);
  const c = num(ctx.flags, 'concurrency', 32);
  const systems = systemsOf(ctx.flags);
  const warm = ctx.flags.warm === true;
  const dir = typeof ctx.flags['peers-dir'] === 'string' ? ctx.flags['peers-dir'] : path.join(REPO, '../shared/peers');
  const script = path.join(dir, 'run.sh');
  if (systems.some((s) => s !== 'squall') && !existsSync(script)) {
    throw new Error(`peers: ${script} not found (pass --peers-dir, or --systems squall)`);
  }
  const rows: PeerRow[] = [];
  for (let r = 1; r <= rounds; r++) {
    for (const s of systems) {
      let got: PeerRow[];
      if (s !== 'squall') got = [await peerRound(script, s, r, n, c)];
      else if (warm) got = await sequentially(SQUALL_VARIANTS.map((v) => () => squallRound(ctx, v, r, runs, n, c)));
      else got = await freshSquallRound(ctx, r);
      for (const row of got) {
        rows.push(row);
        process.stdout.write(`${JSON.stringify({ peers: row })}\n`);
      }
    }
  }
  return { rounds, runs, n, concurrency: c, rows, ratios: ratios(rows) };
}
