/**
 * The metrics plumbing without NATS: one registry per instance and a clear error for a shared one,
 * the merge `/metrics` answers with, the store proxy that times appends, MongoDB event counting on
 * a real (unconnected) MongoClient, and the health server's `/metrics` route over real HTTP.
 */
import type { Server } from 'node:http';
import { MongoClient } from 'mongodb';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { metricsText, ServiceMetrics, serviceRegistry } from '../../../services/common/metrics.js';
import { serveHttpHealth } from '../../../services/common/service.js';
import { ExecutorMetrics } from '../../../services/executor/metrics.js';
import { toCommit } from '../../../services/router/decisions.js';
import { RouterMetrics } from '../../../services/router/metrics.js';
import { TimerMetrics } from '../../../services/timer/metrics.js';
import { decide } from '../../../shared/engine/index.js';
import { ConfigError, ConflictError } from '../../../shared/errors.js';
import { createMemoryStore } from '../../../shared/store/memory-store.js';
import { sequenceWorkflow } from '../../fixtures/workflows.js';
import { baseUrl, parseMetricsText, sum } from '../../integration/metrics/scrape.js';

async function parsed(registries: Registry[]) {
  return parseMetricsText(await metricsText(registries));
}

describe('service registries', () => {
  it('are new and labelled with the service unless one is given, which is left as it is', async () => {
    const own = serviceRegistry('timer', undefined);
    new TimerMetrics(own).deadLetters.inc({ reason: 'oversize' });
    expect(sum(await parsed([own]), 'squall_dead_letters_total', { service: 'timer', reason: 'oversize' })).toBe(1);
    const given = new Registry();
    expect(serviceRegistry('timer', given)).toBe(given);
    new TimerMetrics(given).deadLetters.inc({ reason: 'oversize' });
    const [series] = (await parsed([given])).get('squall_dead_letters_total') ?? [];
    expect(series?.labels).toEqual({ reason: 'oversize' });
  });

  it('refuse a registry that already holds another instance’s metrics, saying what to do', () => {
    const shared = new Registry();
    new RouterMetrics(shared);
    expect(() => new ExecutorMetrics(shared)).toThrow(ConfigError);
    expect(() => new TimerMetrics(shared)).toThrow(/give each service instance a registry of its own/);
  });
});

describe('metricsText', () => {
  it('writes a metric several services hold once, each service’s series apart', async () => {
    const router = new RouterMetrics(serviceRegistry('router', undefined));
    const executor = new ExecutorMetrics(serviceRegistry('executor', undefined));
    router.deadLetters.inc({ reason: 'oversize' });
    executor.deadLettered('charge', 'undecodable');
    executor.started('charge', 1_000, 1_250)('completed');
    const text = await metricsText([router.registry, executor.registry]);
    expect(text.match(/^# TYPE squall_dead_letters_total counter$/gm)).toHaveLength(1);
    const m = parseMetricsText(text);
    expect(sum(m, 'squall_dead_letters_total', { service: 'router', reason: 'oversize' })).toBe(1);
    expect(sum(m, 'squall_dead_letters_total', { service: 'executor', reason: 'undecodable' })).toBe(1);
    expect(sum(m, 'squall_executor_tasks_total', { activity: 'charge' })).toBe(2);
    // 250 ms in the queue: in the 0.25 s bucket, not the 0.1 s one.
    expect(sum(m, 'squall_executor_schedule_to_start_seconds_bucket', { le: '0.1' })).toBe(0);
    expect(sum(m, 'squall_executor_schedule_to_start_seconds_bucket', { le: '0.25' })).toBe(1);
    expect(sum(m, 'squall_executor_schedule_to_start_seconds_sum')).toBeCloseTo(0.25);
  });

  it('sums the series two instances of one service share', async () => {
    const a = new TimerMetrics(serviceRegistry('timer', undefined));
    const b = new TimerMetrics(serviceRegistry('timer', undefined));
    a.claimed(2);
    b.claimed(3);
    a.fired(1_500);
    expect(sum(await parsed([a.registry, b.registry]), 'squall_timer_due_total', { service: 'timer' })).toBe(5);
    expect(sum(await parsed([a.registry, b.registry]), 'squall_timer_firing_lag_seconds_count')).toBe(1);
  });

  it('reads counts kept elsewhere at each scrape', async () => {
    const m = new RouterMetrics(serviceRegistry('router', undefined));
    let races = 0;
    const cache = {
      runs: 4,
      waitingRuns: 3,
      packedRuns: 2,
      bytes: 5_000,
      hits: 7,
      misses: 2,
      evictions: { runs: 0, bytes: 6, ttl: 1 },
    };
    m.follow({ appendRaces: () => races, redelivered: () => 0, cache: () => cache });
    expect(sum(await parsed([m.registry]), 'squall_router_append_races_total')).toBe(0);
    races = 3;
    const now = await parsed([m.registry]);
    expect(sum(now, 'squall_router_append_races_total')).toBe(3);
    expect(sum(now, 'squall_router_run_cache_size')).toBe(4);
    expect([sum(now, 'squall_router_run_cache_hits_total'), sum(now, 'squall_router_run_cache_misses_total')]).toEqual([
      7, 2,
    ]);
    expect(sum(now, 'squall_router_run_cache_waiting_runs')).toBe(3);
    expect(sum(now, 'squall_router_run_cache_packed_runs')).toBe(2);
    expect(sum(now, 'squall_router_run_cache_bytes')).toBe(5_000);
    expect(sum(now, 'squall_router_run_cache_evictions_total', { reason: 'bytes' })).toBe(6);
    expect(sum(now, 'squall_router_run_cache_evictions_total', { reason: 'ttl' })).toBe(1);
    expect(sum(now, 'squall_router_run_cache_evictions_total', { reason: 'runs' })).toBe(0);
  });
});

describe('RouterMetrics.timeAppends', () => {
  it('times appends and counts the commits stored, over a store whose methods live on a class', async () => {
    const store = createMemoryStore();
    const m = new RouterMetrics(serviceRegistry('router', undefined));
    const timed = m.timeAppends(store);
    const startAt = (at: number) => {
      const d = decide(sequenceWorkflow, undefined, { kind: 'start', at, workflowId: 'w1', runId: 'r1' });
      return toCommit(d.state, d.events, d.commands);
    };
    const results = await timed.appendCommits([startAt(1_000), startAt(2_000)]);
    // Another seq 1 of the run loses: a conflict, not a stored commit.
    expect(results[0]).toBeUndefined();
    expect(results[1]).toBeInstanceOf(ConflictError);
    expect(await timed.lastSeq('r1')).toBe(1);
    const scraped = await parsed([m.registry]);
    expect(sum(scraped, 'squall_router_append_seconds_count')).toBe(1);
    expect(sum(scraped, 'squall_router_commits_appended_total')).toBe(1);
  });
});

describe('ServiceMetrics.watchMongo', () => {
  it('counts heartbeat failures and each change of reachability until stopped', async () => {
    const mongo = new MongoClient('mongodb://127.0.0.1:1');
    const m = new ServiceMetrics(serviceRegistry('timer', undefined));
    let connected = true;
    m.watchMongo(mongo, () => connected);
    const change = (type: string) => mongo.emit('serverDescriptionChanged', { newDescription: { type } } as never);
    mongo.emit('serverHeartbeatFailed', {} as never);
    change('Unknown');
    change('Unknown');
    connected = false;
    let now = await parsed([m.registry]);
    expect(sum(now, 'squall_mongodb_events_total', { event: 'heartbeatFailed' })).toBe(1);
    expect(sum(now, 'squall_mongodb_events_total', { event: 'unreachable' })).toBe(1);
    expect(sum(now, 'squall_mongodb_connected')).toBe(0);
    change('Standalone');
    m.stop();
    mongo.emit('serverHeartbeatFailed', {} as never);
    now = await parsed([m.registry]);
    expect(sum(now, 'squall_mongodb_events_total', { event: 'reachable' })).toBe(1);
    expect(sum(now, 'squall_mongodb_events_total', { event: 'heartbeatFailed' })).toBe(1);
  });

  it('reports a given client (a given store’s) connected as its last change said', async () => {
    const mongo = new MongoClient('mongodb://127.0.0.1:1');
    const m = new ServiceMetrics(serviceRegistry('router', undefined));
    m.watchMongo(mongo);
    const change = (type: string) => mongo.emit('serverDescriptionChanged', { newDescription: { type } } as never);
    expect(sum(await parsed([m.registry]), 'squall_mongodb_connected')).toBe(1);
    change('Unknown');
    let now = await parsed([m.registry]);
    expect(sum(now, 'squall_mongodb_connected')).toBe(0);
    expect(sum(now, 'squall_mongodb_events_total', { event: 'unreachable' })).toBe(1);
    change('Standalone');
    now = await parsed([m.registry]);
    expect(sum(now, 'squall_mongodb_connected')).toBe(1);
    expect(sum(now, 'squall_mongodb_events_total', { event: 'reachable' })).toBe(1);
    m.stop();
  });
});

describe('the health server’s /metrics', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('answers with the services’ metrics and the process’s own', async () => {
    const registry = new Registry();
    new Counter({ name: 'squall_test_total', help: 'a test counter', registers: [registry] }).inc(2);
    server = await serveHttpHealth(0, () => [{ live: true, ready: true, details: {} }], {
      host: '127.0.0.1',
      metrics: () => [registry],
    });
    const res = await fetch(`${baseUrl(server)}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseMetricsText(await res.text());
    expect(sum(m, 'squall_test_total')).toBe(2);
    expect(m.has('process_cpu_user_seconds_total')).toBe(true);
    const other = await fetch(`${baseUrl(server)}/nope`);
    expect(other.status).toBe(404);
    expect(await other.text()).toMatch(/\/metrics/);
  });

  it('leaves the process’s metrics out when asked', async () => {
    server = await serveHttpHealth(0, () => [], { host: '127.0.0.1', processMetrics: false });
    const res = await fetch(`${baseUrl(server)}/metrics`);
    expect(res.status).toBe(200);
    expect((await res.text()).trim()).toBe('');
  });
});
