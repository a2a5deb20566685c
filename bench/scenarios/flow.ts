/**
 * `flow`: what a concurrency key costs. The same one-activity workflow, run N times at
 * concurrency C, once with a plain activity and once with an activity under a concurrency key
 * (`--keys` keys, a limit high enough never to make a task wait): the difference is the cost of
 * taking and freeing a slot (two compare-and-set writes to the flow stream per task), not of
 * waiting. In process: one router, `--executors` executors.
 */
import { setup } from 'xstate';
import type { ServiceHandle } from '../../services/common/service.js';
import { startExecutor } from '../../services/executor/executor.js';
import { startRouter } from '../../services/router/router.js';
import { activity, defineActivity, defineWorkflow } from '../../shared/engine/index.js';
import { num, type ScenarioContext, servicesMongoUrl } from '../lib/context.js';
import { Driver } from '../lib/driver.js';
import { freshNamespace, round, summarize } from '../lib/env.js';
import { benchLogger } from '../lib/trace.js';

type Input = { n: number };

function oneStep(name: string, src: string) {
  return defineWorkflow({
    name,
    machine: setup({ types: { input: {} as Input }, actors: { [src]: activity<Input, number>() } }).createMachine({
      id: name,
      context: ({ input }) => ({ n: input.n }),
      initial: 'a',
      states: {
        a: { invoke: { src, input: ({ context }) => ({ n: context.n }), onDone: 'done', onError: 'done' } },
        done: { type: 'final' },
      },
    }),
  });
}

async function measure(ctx: ScenarioContext, keyed: boolean): Promise<Record<string, unknown>> {
  const n = num(ctx.flags, 'n', 1000);
  const concurrency = num(ctx.flags, 'concurrency', 100);
  const keys = num(ctx.flags, 'keys', 20);
  const executors = num(ctx.flags, 'executors', 2);
  const type = keyed ? 'keyed1' : 'plain1';
  const src = keyed ? 'keyedStep' : 'plainStep';
  const nOf = (i: unknown): number => (i as Input).n;
  const step = defineActivity(
    src,
    nOf,
    keyed ? { concurrency: { key: (i) => `k${nOf(i) % keys}`, limit: 10_000 } } : {},
  );
  const ns = freshNamespace(keyed ? 'flowk' : 'flowp');
  const target = { natsUrl: ctx.servers.natsUrl, mongoUrl: servicesMongoUrl(ctx), ...ns };
  const handles: ServiceHandle[] = [];
  try {
    handles.push(await startRouter({ ...target, workflows: [oneStep(type, src)], log: benchLogger() }));
    for (let i = 0; i < executors; i++) {
      handles.push(
        await startExecutor({
          natsUrl: target.natsUrl,
          prefix: target.prefix,
          activities: [step],
          concurrency: 64,
          log: benchLogger(),
        }),
      );
    }
    const driver = await Driver.open(target.natsUrl, target.prefix, [type]);
    try {
      await driver.runMany(type, Math.min(100, n), Math.min(concurrency, 50), (i) => ({ n: i })); // warm-up
      const { timings, wallMs, failures } = await driver.runMany(type, n, concurrency, (i) => ({ n: i }));
      const completed = timings.filter((t) => t.status === 'completed').length;
      return {
        workflows: n,
        completed,
        failures,
        workflowsPerSec: round((completed / wallMs) * 1000, 1),
        startToDoneMs: summarize(timings.map((t) => t.doneMs)),
      };
    } finally {
      await driver.close();
    }
  } finally {
    await Promise.allSettled(handles.map((h) => h.stop()));
  }
}

/**
 * `flow`: throughput without and with a concurrency key on the activity, and the overhead, over
 * `--rounds` pairs of runs. The pairs alternate which goes first, so a load that drifts over the
 * run weighs on both sides alike; the overhead is the median of the pairs' overheads.
 */
export async function flow(ctx: ScenarioContext): Promise<Record<string, unknown>> {
  const rounds = num(ctx.flags, 'rounds', 1);
  const pairs: Array<{ plain: Record<string, unknown>; keyed: Record<string, unknown> }> = [];
  for (let r = 0; r < rounds; r++) {
    const keyedFirst = r % 2 === 1;
    const first = await measure(ctx, keyedFirst);
    const second = await measure(ctx, !keyedFirst);
    pairs.push(keyedFirst ? { plain: second, keyed: first } : { plain: first, keyed: second });
  }
  const perSec = (m: Record<string, unknown>): number => m.workflowsPerSec as number;
  const p50 = (m: Record<string, unknown>): number => (m.startToDoneMs as { p50: number }).p50;
  const overheads = pairs.map((p) => ((perSec(p.plain) - perSec(p.keyed)) / perSec(p.plain)) * 100);
  const added = pairs.map((p) => p50(p.keyed) - p50(p.plain));
  return {
    keys: num(ctx.flags, 'keys', 20),
    concurrency: num(ctx.flags, 'concurrency', 100),
    rounds: pairs.map((p, i) => ({
      plainPerSec: perSec(p.plain),
      keyedPerSec: perSec(p.keyed),
      overheadPct: round(overheads[i] as number, 1),
    })),
    plain: pairs[0]?.plain,
    keyed: pairs[0]?.keyed,
    throughputOverheadPct: round(median(overheads), 1),
    p50AddedMs: round(median(added), 1),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
