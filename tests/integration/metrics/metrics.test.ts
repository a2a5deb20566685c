/**
 * Prometheus metrics end to end: a router, an executor and a timer over the real servers, each
 * serving `/metrics` on a health server of its own; a few runs (one whose activity fails once,
 * one that waits on a timer), bad messages for each service, and a forced NATS reconnect; every
 * count they caused is read back from a scrape over HTTP.
 */
import type { Server } from 'node:http';
import { jetstream } from '@nats-io/jetstream';
import type { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceHandle, serveHttpHealth } from '../../../services/common/service.js';
import { startExecutor } from '../../../services/executor/executor.js';
import { startRouter } from '../../../services/router/router.js';
import { startTimer } from '../../../services/timer/timer.js';
import { encodeBody } from '../../../shared/bus/codec.js';
import { type Bus, connectBus } from '../../../shared/bus/connect.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { type ActivityDefinition, defineActivity } from '../../../shared/engine/activity.js';
import { createLogger } from '../../../shared/log.js';
import { subjects as subjectsOf } from '../../../shared/names.js';
import { createMongoStore } from '../../../shared/store/mongo-store.js';
import { eventsOf, ofType } from '../../e2e/activities-helpers.js';
import { retryWorkflow, sequenceWorkflow } from '../../fixtures/workflows.js';
import { connectMongo, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';
import { baseUrl, type Scrape, scrape, sum } from './scrape.js';

const prefix = freshPrefix();
const dbName = freshDbName();
const log = createLogger({ level: 'error' });
let bus: Bus;
let client: SquallClient;
let mongo: MongoClient;
const services: ServiceHandle[] = [];
const servers: Server[] = [];
/** Base URL of each service's health server, by service name. */
const url: Record<string, string> = {};

const activities = [
  defineActivity('stepA', (input: { n: number }) => ({ a: input.n })),
  defineActivity('stepB', () => 'b'),
  defineActivity('stepC', () => 'c'),
  defineActivity('flaky', (input: { attempt: number }) => {
    if (input.attempt === 1) throw new Error('flaky: the first call fails');
    return { attempt: input.attempt };
  }),
] as ActivityDefinition[];

beforeAll(async () => {
  const common = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), dbName, prefix, log };
  // The executor runs on a bus the test owns, so the test can force it to reconnect.
  bus = await connectBus({ servers: natsUrl(), prefix, name: 'metrics-test-executor' });
  services.push(await startRouter({ ...common, workflows: [sequenceWorkflow, retryWorkflow] }));
  services.push(await startExecutor({ bus, activities, log }));
  // The timer is given a store over the test's own client: that client's events are its to count.
  mongo = await connectMongo();
  services.push(await startTimer({ ...common, store: createMongoStore(mongo, { dbName, collectionPrefix: prefix }) }));
  for (const s of services) {
    const server = await serveHttpHealth(0, () => [s.health()], { host: '127.0.0.1', metrics: () => [s.metrics] });
    servers.push(server);
    url[s.name] = baseUrl(server);
  }
  client = await connect({ servers: natsUrl(), prefix });
}, 60_000);

afterAll(async () => {
  await client?.close();
  for (const server of servers) server.close();
  await Promise.all(services.map((s) => s.stop()));
  await bus?.close();
  await mongo.db(dbName).dropDatabase();
  await mongo.close();
});

/** Scrapes `service` until `check` holds for the scrape (counts land after the runs' results). */
function scrapeUntil(service: string, what: string, check: (m: Scrape) => boolean): Promise<Scrape> {
  return waitFor(
    `${service} /metrics: ${what}`,
    async () => {
      const m = await scrape(url[service] as string);
      return check(m) ? m : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
}

describe('metrics', () => {
  it('count the decisions, tasks and timers a few runs caused', async () => {
    const ids = ['seq-1', 'seq-2'];
    for (const id of ids) await client.start('sequence', undefined, { workflowId: id });
    await client.start('retry', undefined, { workflowId: 'retry-1' });
    for (const id of ids) await expect(client.result(id, { timeoutMs: 30_000 })).resolves.toHaveLength(3);
    await expect(client.result('retry-1', { timeoutMs: 30_000 })).resolves.toMatchObject({ attempts: 2 });

    // Executor: every task by activity and outcome, and one wait and one run timed per task run.
    // A task leaves the executor once the router has answered its result (direct results), which
    // may be after the run's completion went out.
    const ex = await scrapeUntil(
      'executor',
      'eight tasks ran and none is in flight',
      (m) => sum(m, 'squall_executor_run_seconds_count') >= 8 && sum(m, 'squall_executor_tasks_in_flight') === 0,
    );
    const tasks = (activity: string, outcome: string) =>
      sum(ex, 'squall_executor_tasks_total', { service: 'executor', activity, outcome });
    expect([tasks('stepA', 'completed'), tasks('stepB', 'completed'), tasks('stepC', 'completed')]).toEqual([2, 2, 2]);
    expect([tasks('flaky', 'failed'), tasks('flaky', 'completed')]).toEqual([1, 1]);
    expect(sum(ex, 'squall_executor_tasks_total')).toBe(8);
    expect(sum(ex, 'squall_executor_run_seconds_count', { activity: 'flaky', outcome: 'failed' })).toBe(1);
    expect(sum(ex, 'squall_executor_schedule_to_start_seconds_count', { activity: 'stepA' })).toBe(2);
    expect(sum(ex, 'squall_executor_schedule_to_start_seconds_count')).toBe(8);
    expect(sum(ex, 'squall_executor_tasks_in_flight')).toBe(0);
    expect(sum(ex, 'squall_nats_connected', { service: 'executor' })).toBe(1);

    // Router: each input decided, by kind and outcome; one commit appended per decision that applied.
    const ro = await scrape(url.router as string);
    const decisions = (input: string, outcome: string) =>
      sum(ro, 'squall_router_decisions_total', { service: 'router', input, outcome });
    expect(decisions('start', 'started')).toBe(3);
    // By workflow type too; the retry run's one attempt (maximumAttempts 1) failed and was given up.
    const byType = (workflowType: string) => sum(ro, 'squall_router_decisions_total', { workflowType });
    expect([byType('sequence'), byType('retry'), byType('')]).toEqual([8, 4, 0]);
    expect(sum(ro, 'squall_router_decision_seconds_count', { input: 'start', workflowType: 'sequence' })).toBe(2);
    expect(
      sum(ro, 'squall_router_activities_given_up_total', {
        workflowType: 'retry',
        activity: 'flaky',
        reason: 'attemptsExhausted',
      }),
    ).toBe(1);
    expect(sum(ro, 'squall_router_activities_given_up_total')).toBe(1);
    expect(decisions('activityCompleted', 'applied')).toBe(7);
    expect(decisions('activityFailed', 'applied')).toBe(1);
    expect(decisions('timerFired', 'applied')).toBe(1);
    const decided = sum(ro, 'squall_router_decisions_total');
    expect(sum(ro, 'squall_router_decision_seconds_count')).toBe(decided);
    expect(sum(ro, 'squall_router_decision_seconds_count', { input: 'start' })).toBe(3);
    const applied = sum(ro, 'squall_router_decisions_total', { outcome: 'applied' }) + decisions('start', 'started');
    expect(sum(ro, 'squall_router_commits_appended_total')).toBe(applied);
    expect(sum(ro, 'squall_router_append_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sum(ro, 'squall_router_append_seconds_count')).toBeLessThanOrEqual(applied);
    expect(sum(ro, 'squall_router_append_races_total')).toBe(0);
    expect(sum(ro, 'squall_router_run_cache_hits_total')).toBeGreaterThan(0);
    expect(sum(ro, 'squall_router_run_cache_size')).toBeGreaterThanOrEqual(1);
    expect(sum(ro, 'squall_mongodb_connected', { service: 'router' })).toBe(1);
    expect(sum(ro, 'squall_dead_letters_total')).toBe(0);

    // Timer: the retry run's timers, as its history recorded them; one firing, on time or late.
    const events = await eventsOf(client, 'retry-1');
    const scheduled = ofType(events, 'TimerScheduled').length;
    const cancelled = ofType(events, 'TimerCancelled').length;
    expect(ofType(events, 'TimerFired')).toHaveLength(1);
    const ti = await scrapeUntil(
      'timer',
      `${scheduled} schedules and ${cancelled} cancels stored`,
      (m) =>
        sum(m, 'squall_timer_scheduled_total') === scheduled && sum(m, 'squall_timer_cancelled_total') === cancelled,
    );
    expect(sum(ti, 'squall_timer_fired_total', { service: 'timer' })).toBe(1);
    expect(sum(ti, 'squall_timer_due_total')).toBe(1);
    expect(sum(ti, 'squall_timer_firing_lag_seconds_count')).toBe(1);
    expect(sum(ti, 'squall_timer_firing_lag_seconds_bucket', { le: '+Inf' })).toBe(1);
    expect(sum(ti, 'squall_mongodb_connected', { service: 'timer' })).toBe(1);
  });

  it('count dead letters by reason in each service', async () => {
    await expect(client.start('no-such-flow', undefined, { workflowId: 'nope-1' })).rejects.toThrow(
      /unknown workflow type/,
    );
    const js = jetstream(bus.nc);
    const s = subjectsOf(prefix);
    await js.publish(s.task('stepA'), encodeBody({ not: 'a task' }));
    await js.publish(s.timerSchedule('run-1'), encodeBody({ not: 'a timer' }));

    await scrapeUntil(
      'router',
      'one unknown-type dead letter',
      (m) => sum(m, 'squall_dead_letters_total', { service: 'router', reason: 'unknown-type' }) === 1,
    );
    const ex = await scrapeUntil(
      'executor',
      'one invalid-input dead letter',
      (m) => sum(m, 'squall_dead_letters_total', { reason: 'invalid-input' }) === 1,
    );
    expect(sum(ex, 'squall_executor_tasks_total', { activity: 'stepA', outcome: 'deadLettered' })).toBe(1);
    await scrapeUntil(
      'timer',
      'one invalid-input dead letter',
      (m) => sum(m, 'squall_dead_letters_total', { service: 'timer', reason: 'invalid-input' }) === 1,
    );
  });

  it('count a NATS reconnect and show the connection up again', async () => {
    const before = await scrape(url.executor as string);
    expect(sum(before, 'squall_nats_events_total', { event: 'reconnect' })).toBe(0);
    await bus.nc.reconnect();
    const after = await scrapeUntil(
      'executor',
      'a disconnect and a reconnect, and connected',
      (m) =>
        sum(m, 'squall_nats_events_total', { event: 'disconnect' }) === 1 &&
        sum(m, 'squall_nats_events_total', { event: 'reconnect' }) === 1 &&
        sum(m, 'squall_nats_connected') === 1,
    );
    expect(sum(after, 'squall_nats_events_total', { service: 'executor' })).toBe(2);
    // The router's own connection was not touched.
    expect(sum(await scrape(url.router as string), 'squall_nats_events_total')).toBe(0);
  });
});
