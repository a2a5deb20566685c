/**
 * Engine scenarios over `noop3` (three no-op activities in sequence): throughput at a given
 * concurrency, start-to-done latency at light load, and how throughput moves with the number of
 * executors and routers.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { type Flags, measureCpu, num, type ScenarioContext, topologyOf, withEngine } from '../lib/context.js';
import { type CompletionWait, Driver } from '../lib/driver.js';
import { round, SyscallMeter, summarize } from '../lib/env.js';
import type { Topology } from '../lib/services.js';
import { pathTimeline, resetTrace, startTrace } from '../lib/trace.js';
import { latencyFloors } from './substrate.js';

const STEPS = 3;
/** Decisions per noop3 run: the start and one per activity result. */
const DECISIONS = 1 + STEPS;

/** Runs `n` noop3 workflows at `concurrency` on `topo`; returns rates, latency under load and CPU. */
export async function measureThroughput(
  ctx: ScenarioContext,
  topo: Topology,
  n: number,
  concurrency: number,
): Promise<Record<string, unknown>> {
  return await withEngine(ctx, 'thru', topo, async ({ target, cpu }) => {
    const driver = await Driver.open(target.natsUrl, target.prefix, ['noop3']);
    try {
      // Warm-up: JIT, connection pools, consumers' first pulls. Not measured.
      await driver.runMany('noop3', Math.min(100, n), Math.min(concurrency, 50), (i) => ({ n: i }));
      const syscalls = new SyscallMeter({ benchProcess: 'self', natsServer: ctx.servers.nats.pid });
      const profiler = await startProfile(ctx.flags);
      const m = await measureCpu(
        cpu,
        () => n,
        () => driver.runMany('noop3', n, concurrency, (i) => ({ n: i })),
      );
      await profiler?.stop();
      const { timings, failures } = m.out;
      const completed = timings.filter((t) => t.status === 'completed').length;
      const perSec = (x: number): number => round((x / m.wallMs) * 1000, 1);
      return {
        topology: topo,
        workflows: n,
        concurrency,
        completed,
        failures,
        wallSeconds: round(m.wallMs / 1000, 2),
        workflowsPerSec: perSec(completed),
        activityStepsPerSec: perSec(completed * STEPS),
        decisionsPerSec: perSec(completed * DECISIONS),
        startToDoneMsUnderLoad: summarize(timings.map((t) => t.doneMs)),
        startReplyMsUnderLoad: summarize(timings.map((t) => t.startedMs)),
        cpuMsPerWorkflow: m.cpuMsPerUnit,
        coresBusy: m.coresBusy,
        // Counted, not timed: what a change to the I/O pattern saves, whatever the machine's load.
        syscallsPerWorkflow: syscalls.perUnit(Math.max(1, n)),
      };
    } finally {
      await driver.close();
    }
  });
}

/** `throughput`: N noop3 runs at concurrency C with E executors and R routers. */
export async function throughput(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const n = num(ctx.flags, 'n', 2000);
  const c = num(ctx.flags, 'concurrency', 200);
  return await measureThroughput(ctx, topologyOf(ctx.flags), n, c);
}

/** The workflows `latency --workflow` may run: executor activities, or the same steps inline. */
const LATENCY_WORKFLOWS = ['noop3', 'inline3'] as const;
/** How `latency --wait` awaits each run's completion (see CompletionWait). */
const COMPLETION_WAITS: readonly CompletionWait[] = ['subscription', 'result'];

/**
 * The workload of `latency`: `--workflow` (noop3 by default; inline3 runs with no executor unless
 * `--executors` asks for some, as its steps run in the router, as in `peers`) and `--wait`.
 */
export function latencyWorkload(flags: Flags): {
  workflow: (typeof LATENCY_WORKFLOWS)[number];
  wait: CompletionWait;
  topo: Topology;
} {
  const wf = flags.workflow ?? 'noop3';
  const workflow = LATENCY_WORKFLOWS.find((w) => w === wf);
  if (!workflow) throw new Error(`--workflow must be one of ${LATENCY_WORKFLOWS.join(', ')}, got ${String(wf)}`);
  const w = flags.wait ?? 'subscription';
  const wait = COMPLETION_WAITS.find((c) => c === w);
  if (!wait) throw new Error(`--wait must be one of ${COMPLETION_WAITS.join(', ')}, got ${String(w)}`);
  const inlineOnly = workflow === 'inline3' && flags.executors === undefined;
  return { workflow, wait, topo: topologyOf(flags, inlineOnly ? { executors: 0 } : {}) };
}

/**
 * With `--profile DIR`, a V8 CPU profile of this process from now until `stop()` writes it there
 * (`<time>.cpuprofile`); without, nothing.
 */
export async function startProfile(flags: Flags): Promise<{ stop(): Promise<void> } | undefined> {
  const dir = flags.profile;
  if (dir === undefined || dir === false) return undefined;
  if (dir === true) throw new Error('--profile needs a directory to write the profile to');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${Date.now()}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** The p50 of each `size` values in turn (the last window may be shorter). */
function windows(values: number[], size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i += size) out.push(summarize(values.slice(i, i + size)).p50);
  return out;
}

/**
 * `latency`: sequential runs of `--workflow`, one at a time, start request sent → done message
 * received; with `--trace`, the timeline of a run's path and the floors to read it against.
 */
export async function latency(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const runs = num(ctx.flags, 'runs', 200);
  const win = num(ctx.flags, 'window', 0);
  const { workflow, wait, topo } = latencyWorkload(ctx.flags);
  const trace = ctx.flags.trace === true && !topo.processes;
  if (trace) startTrace();
  return await withEngine(ctx, 'lat', topo, async ({ target }) => {
    const driver = await Driver.open(target.natsUrl, target.prefix, [workflow], wait);
    try {
      await driver.runMany(workflow, 30, 1, (i) => ({ n: i })); // warm-up
      resetTrace();
      const profiler = await startProfile(ctx.flags);
      const cpu0 = process.cpuUsage();
      const sys = new SyscallMeter({ benchProcess: 'self', nats: ctx.servers.nats.pid, mongo: ctx.servers.mongo.pid });
      const { timings, wallMs, failures } = await driver.runMany(workflow, runs, 1, (i) => ({ n: i }));
      // The bench process's CPU per run: with the services in process, all of the Node work of a run.
      const cpu = process.cpuUsage(cpu0);
      const syscallsPerRun = sys.perUnit(runs);
      await profiler?.stop();
      const perRunMs = (us: number): number => round(us / 1000 / runs, 3);
      return {
        workflow,
        wait,
        topology: topo,
        runs,
        failures,
        wallSeconds: round(wallMs / 1000, 2),
        startToDoneMs: summarize(timings.map((t) => t.doneMs)),
        startReplyMs: summarize(timings.map((t) => t.startedMs)),
        benchCpuMsPerRun: { user: perRunMs(cpu.user), system: perRunMs(cpu.system) },
        syscallsPerRun,
        // Each run is four decisions in a row (start, then one per result): time per hop.
        msPerDecisionHop: round(summarize(timings.map((t) => t.doneMs)).p50 / DECISIONS, 2),
        // With `--window K`: p50 of each K runs in turn, the process's warm-up curve.
        ...(win > 0
          ? {
              p50ByWindow: windows(
                timings.map((t) => t.doneMs),
                win,
              ),
            }
          : {}),
        // The floors the path's segments are read against, measured right after on the same servers.
        ...(trace
          ? { path: pathTimeline(), floors: await latencyFloors(ctx.servers.natsUrl, ctx.servers.mongoUrl, 200) }
          : {}),
      };
    } finally {
      await driver.close();
    }
  });
}

/** `scaling`: throughput with 1, 2, 4 executors and 1, 2 routers, smaller N, side by side. */
export async function scaling(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const n = num(ctx.flags, 'n', 600);
  const c = num(ctx.flags, 'concurrency', 200);
  const rows: Record<string, unknown>[] = [];
  for (const routers of [1, 2]) {
    for (const executors of [1, 2, 4]) {
      const r = await measureThroughput(ctx, topologyOf(ctx.flags, { routers, executors }), n, c);
      rows.push({
        routers,
        executors,
        workflowsPerSec: r.workflowsPerSec,
        p50StartToDoneMs: (r.startToDoneMsUnderLoad as { p50: number }).p50,
        cpuMsPerWorkflow: r.cpuMsPerWorkflow,
        coresBusy: r.coresBusy,
      });
    }
  }
  return { workflows: n, concurrency: c, processes: ctx.flags.processes === true, rows };
}
