/**
 * The checks both chaos tests (one server, and a NATS cluster) make once their order runs are done:
 * every consumer drained, every run completed once with the right output and a sound history,
 * effects executed, and which dead letters were parked.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Collection } from 'mongodb';
import { DEFAULT_PRIORITY } from '../../shared/flow/priority.js';
import { consumerNames, EVENT_PARTITIONS } from '../../shared/names.js';
import type { Store } from '../../shared/store/types.js';
import { readDeadLetters } from '../e2e/dead-letters.js';
import { waitFor } from '../harness/index.js';
import { type Backlog, consumerBacklogs, eventsOf, historyProblems, loadCommits } from './invariants.js';

/** Every fourth order is never approved, so its approval timer closes it. */
export const timesOut = (i: number): boolean => i % 4 === 3;

/**
 * The durable consumers of the sample engine, sorted: the orders run at the default priority, and
 * a level's durables are made only once work at that level is seen (flow-control.md).
 */
export function orderConsumers(): string[] {
  return [
    ...['chargeCard', 'sendEmail', 'shipOrder'].map((a) => consumerNames.activityAt(a, DEFAULT_PRIORITY)),
    'router',
    ...Array.from({ length: EVENT_PARTITIONS }, (_, p) => consumerNames.routerEvents(p)),
    'timer',
  ].sort();
}

/** Waits until every durable consumer has nothing pending or unacked, and returns their backlogs. */
export function waitUntilDrained(jsm: JetStreamManager, prefix: string, timeoutMs: number): Promise<Backlog[]> {
  return waitFor(
    'every consumer to be drained',
    async () => {
      const b = await consumerBacklogs(jsm, prefix);
      return b.length > 0 && b.every((c) => c.ackPending === 0 && c.pending === 0) ? b : undefined;
    },
    { timeoutMs, intervalMs: 1_000 },
  );
}

export interface OrderRunsReport {
  /** What is wrong, one line per run and problem; empty when every run is sound. */
  problems: string[];
  /** Events histories record as ignored (redeliveries and late duplicates). */
  ignored: number;
  /** Timer firings taken (not ignored). */
  firedTimers: number;
  /** The distinct charge ids the histories record. */
  chargeIds: Set<string>;
  /** `<runId>/<activity>` of every effect a history says should have run. */
  expectedEffects: Set<string>;
}

/** Reads each plan's run from history and checks it; also counts runs per workflowId in the summaries. */
export async function checkOrderRuns<T extends { workflowId: string }>(
  store: Store,
  runs: Collection<T>,
  plans: readonly { id: string }[],
): Promise<OrderRunsReport> {
  const report: OrderRunsReport = {
    problems: [],
    ignored: 0,
    firedTimers: 0,
    chargeIds: new Set(),
    expectedEffects: new Set(),
  };
  const { problems } = report;
  for (const [i, p] of plans.entries()) {
    const run = await store.getRunByWorkflowId(p.id);
    if (run?.status !== 'completed') {
      problems.push(`${p.id}: ${run?.status ?? 'no run'}`);
      continue;
    }
    const want = timesOut(i)
      ? { orderId: p.id, charged: true, shipped: false, emailed: false, status: 'timedOut' }
      : { orderId: p.id, charged: true, shipped: true, emailed: true, status: 'fulfilled' };
    if (JSON.stringify(run.output) !== JSON.stringify(want))
      problems.push(`${p.id}: output ${JSON.stringify(run.output)}`);
    const commits = await loadCommits(store, run.runId);
    for (const problem of historyProblems(commits)) problems.push(`${p.id}: ${problem}`);
    const events = eventsOf(commits);
    report.ignored += events.filter((e) => (e as { ignored?: string }).ignored !== undefined).length;
    report.firedTimers += events.filter((e) => e.type === 'TimerFired' && !(e as { ignored?: string }).ignored).length;
    for (const e of events) {
      if (e.type !== 'ActivityCompleted' || e.ignored) continue;
      const charge = (e.output as { chargeId?: unknown } | undefined)?.chargeId;
      if (typeof charge === 'string') report.chargeIds.add(charge);
    }
    for (const a of timesOut(i) ? ['chargeCard'] : ['chargeCard', 'shipOrder', 'sendEmail'])
      report.expectedEffects.add(`${run.runId}/${a}`);
  }
  const perId = new Map<string, number>();
  for (const d of await runs.find({}, { projection: { workflowId: 1 } }).toArray())
    perId.set(d.workflowId, (perId.get(d.workflowId) ?? 0) + 1);
  for (const p of plans) if (perId.get(p.id) !== 1) problems.push(`${p.id}: ${perId.get(p.id) ?? 0} runs`);
  return report;
}

const EFFECT_LINES = /^(charging card|shipping order|sending email)$/;

/** How many times each `<runId>/<activity>` effect was executed, from the executors' log lines. */
export function countExecutions(procs: readonly { logs: readonly Record<string, unknown>[] }[]): Map<string, number> {
  const executions = new Map<string, number>();
  for (const p of procs) {
    for (const l of p.logs) {
      if (l.service !== 'executor' || typeof l.activity !== 'string' || l.level !== 'info') continue;
      if (!EFFECT_LINES.test(String(l.msg))) continue;
      const key = `${String(l.runId)}/${l.activity}`;
      executions.set(key, (executions.get(key) ?? 0) + 1);
    }
  }
  return executions;
}

/** Executions beyond the first of each effect. */
export function reruns(executions: ReadonlyMap<string, number>): number {
  return [...executions.values()].reduce((n, k) => n + k - 1, 0);
}

/** The dead letters of a prefix, counted by reason. */
export async function deadLetterReasons(nc: NatsConnection, prefix: string): Promise<Record<string, number>> {
  const reasons: Record<string, number> = {};
  for (const d of await readDeadLetters(nc, prefix)) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
  return reasons;
}
