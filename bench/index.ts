/**
 * The benchmark entry point: `npm run bench -- <scenario> [--flags]`. Prints one JSON object per
 * scenario (machine, servers, parameters, results) on stdout; asserts nothing. Uses NATS_URL /
 * MONGO_URL when set, else starts private servers. Scenarios and flags: see `usage` below.
 */
import { type Flags, num, type ScenarioContext } from './lib/context.js';
import { machineInfo, openServers } from './lib/env.js';
import { cache } from './scenarios/cache.js';
import { cost } from './scenarios/cost.js';
import { events } from './scenarios/events.js';
import { flow } from './scenarios/flow.js';
import { peers } from './scenarios/peers.js';
import { latency, scaling, throughput } from './scenarios/runs.js';
import { scale } from './scenarios/scale.js';
import { substrate } from './scenarios/substrate.js';
import { timers } from './scenarios/timers.js';

type Scenario = (ctx: ScenarioContext) => Promise<Record<string, unknown>>;

const SCENARIOS: Record<string, Scenario> = {
  throughput,
  latency,
  scaling,
  timers,
  events,
  cost,
  substrate,
  peers,
  scale,
  flow,
  cache,
};

const usage = `usage: npm run bench -- <scenario> [--flags]
scenarios: ${Object.keys(SCENARIOS).join(', ')}, all
  throughput  --n 2000 --concurrency 200 --executors 2 --routers 1 --exec-concurrency 64 [--processes] [--profile DIR]
  latency     --runs 200 --workflow noop3|inline3 --wait subscription|result [--trace] [--window 100] [--profile DIR] [--processes]
  scaling     --n 600 --concurrency 200 [--processes]
  timers      --timers 10000 --timer-services 1 [--in-process] [--lead-s 5] [--budget-s 100] [--idle-timers 5000,20000 --idle-s 20]
  events      --runs 10000 --concurrency 128 [--routers 1] [--processes] [--budget-s 300]
  cost        --n 300
  substrate   --messages 20000 --docs 3000
  peers       --rounds 3 --systems squall,dbos,restate --runs 300 --n 3000 --concurrency 32 [--peers-dir DIR] [--warm]
  flow        --n 1000 --concurrency 100 --keys 20 --executors 2 --rounds 1
  cache       --runs 50000 --cache-mb 64 --concurrency 256   (node --expose-gc for exact heap figures)
  scale       --runs 100000 --small 100 --signals 100 --noop3 100 --idle-s 10 --history-commits 20000
  all         every scenario in turn (throughput both in-process and as processes)
  any scenario: --repeat N runs it N times in one process (from the second on, in a warm process)`;

function parseFlags(args: string[]): Flags {
  const flags: Flags = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n${usage}`);
    const next = args[i + 1];
    if (next === undefined || next.startsWith('--')) flags[a.slice(2)] = true;
    else {
      flags[a.slice(2)] = next;
      i++;
    }
  }
  return flags;
}

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || (name !== 'all' && !SCENARIOS[name])) {
    process.stderr.write(`${usage}\n`);
    process.exitCode = 2;
    return;
  }
  const flags = parseFlags(rest);
  const repeat = Math.max(1, Math.floor(num(flags, 'repeat', 1)));
  const servers = await openServers();
  const stopOnSignal = (): void => {
    void servers.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);
  try {
    const plan: [string, Flags][] =
      name === 'all'
        ? ([
            ['substrate', flags],
            ['latency', flags],
            ['throughput', flags],
            ['throughput', { ...flags, processes: true }],
            ['scaling', flags],
            ['cost', flags],
            ['timers', flags],
          ].filter(([s]) => SCENARIOS[s as string] !== undefined) as [string, Flags][])
        : Array.from({ length: repeat }, (): [string, Flags] => [name, flags]);
    for (const [scenario, f] of plan) {
      const run = SCENARIOS[scenario] as Scenario;
      const startedAt = new Date().toISOString();
      const t0 = performance.now();
      const results = await run({ servers, flags: f });
      const out = {
        scenario,
        startedAt,
        seconds: Math.round((performance.now() - t0) / 100) / 10,
        machine: machineInfo(servers),
        flags: f,
        results,
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    }
  } finally {
    await servers.stop();
  }
}

await main();
// A service or client that has not let go of a timer or socket must not keep a finished bench alive.
process.exit();
