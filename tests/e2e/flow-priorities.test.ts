/**
 * Priorities end to end, over real NATS and a real MongoDB-protocol server. A backlog of
 * low-priority runs and high-priority ones (from the client, the CLI and raw NATS JSON) waits
 * while no executor runs; one executor running one task at a time then takes the high ones first,
 * with the low ones still getting their share, creating the durables of those two levels only. A
 * backlog of starts waiting while no router runs is taken the same way by the router that comes.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouterHandle, startRouter } from '../../services/router/router.js';
import { encodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { InvalidInputError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { streamNames, subjects as subjectsOf } from '../../shared/names.js';
import { plainJob } from '../fixtures/flow/workflows.js';
import { connectNats, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { FLOW_FIXTURES, flowNotes, flowNotesDir } from './flow-helpers.js';
import { jsonHeaders, parseJson } from './json-wire.js';
import { type ServiceEnv, spawnSquall, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
let nc: NatsConnection;
let notes: string;

beforeAll(async () => {
  notes = flowNotesDir();
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await startService('router', ['router', '--workflows', FLOW_FIXTURES.workflows], env);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  nc = await connectNats(env.natsUrl);
  return async () => {
    await client.close();
  };
});

/** Sends a raw JSON start; the decoded reply and its error code, if any. */
async function rawStart(body: Record<string, unknown>): Promise<{ code?: string; reply: Record<string, unknown> }> {
  const reply = await nc.request(subjectsOf(env.prefix).start('plainJob'), encodeBody(body, { json: true }), {
    headers: jsonHeaders(),
    timeout: 20_000,
  });
  const code = reply.headers?.get('Squall-Error');
  return { ...(code ? { code } : {}), reply: parseJson(reply.data) };
}

/** The messages on each subject of a stream of `prefix` matching `filter`. */
async function subjectCounts(
  prefix: string,
  stream: 'tasks' | 'inbox',
  filter: string,
): Promise<Record<string, number>> {
  const info = await nc
    .request(
      `$JS.API.STREAM.INFO.${streamNames(prefix)[stream]}`,
      new TextEncoder().encode(JSON.stringify({ subjects_filter: filter })),
      { timeout: 5_000 },
    )
    .then((m) => JSON.parse(new TextDecoder().decode(m.data)) as { state: { subjects?: Record<string, number> } });
  return info.state.subjects ?? {};
}

/** The tasks waiting on each subject of the tasks stream. */
function waitingTasks(): Promise<Record<string, number>> {
  return subjectCounts(env.prefix, 'tasks', `${env.prefix}.task.>`);
}

/** The durable consumers of a stream of `prefix`, by name. */
async function durables(prefix: string, stream: 'tasks' | 'inbox'): Promise<string[]> {
  const reply = await nc.request(`$JS.API.CONSUMER.NAMES.${streamNames(prefix)[stream]}`, undefined, {
    timeout: 5_000,
  });
  const names = (JSON.parse(new TextDecoder().decode(reply.data)) as { consumers: string[] | null }).consumers;
  return (names ?? []).sort();
}

describe('priorities', () => {
  it('refuses a priority that is not an integer from 1 to 5, naming it', async () => {
    await expect(client.start('plainJob', { key: 'x' }, { priority: 0 })).rejects.toThrow(InvalidInputError);
    await expect(client.start('plainJob', { key: 'x' }, { priority: 2.5 })).rejects.toThrow(
      /priority: must be an integer from 1 \(lowest\) to 5 \(highest\), got 2\.5/,
    );
    const bad = await rawStart({ workflowId: 'prio-bad', input: { key: 'x' }, priority: 9 });
    expect(bad.code).toBe('INVALID_INPUT');
    expect(JSON.stringify(bad.reply)).toContain(
      'start.priority: must be an integer from 1 (lowest) to 5 (highest), got 9',
    );
  });

  it('a backlog is taken high priority first, and the lowest still progresses', async () => {
    const low = Array.from({ length: 20 }, (_, i) => `low-${i}`);
    const high = Array.from({ length: 30 }, (_, i) => `high-${i}`);
    await Promise.all(low.map((workflowId) => client.start('plainJob', { key: 'low' }, { workflowId, priority: 1 })));
    await Promise.all(
      high.slice(0, 28).map((workflowId) => client.start('plainJob', { key: 'high' }, { workflowId, priority: 5 })),
    );
    const wire = await rawStart({ workflowId: 'high-28', input: { key: 'high' }, priority: 5 });
    expect(wire.reply).toMatchObject({ workflowId: 'high-28', created: true });
    const cli = spawnSquall(
      'cli-start',
      ['start', 'plainJob', '--id', 'high-29', '--input', '{"key":"high"}', '--priority', '5'],
      env,
    );
    expect(await cli.exited).toBe(0);
    const p = subjectsOf(env.prefix);
    await waitFor('the backlog on the level subjects', async () => {
      const w = await waitingTasks();
      return w[p.taskAt('plain', 1)] === 20 && w[p.taskAt('plain', 5)] === 30;
    });
    // The client and the CLI send a prioritised start on its level's subject (the raw one above used the default's).
    const starts = await subjectCounts(env.prefix, 'inbox', p.all.startLevels);
    expect(starts).toEqual({ [p.startAt('plainJob', 1)]: 20, [p.startAt('plainJob', 5)]: 29 });

    await startService('executor', ['executor', '--activities', FLOW_FIXTURES.activities, '--concurrency', '4'], env);
    const outs = await Promise.all(
      [...low, ...high].map((id) => client.result<{ output?: string }>(id, { timeoutMs: 60_000 })),
    );
    expect(outs.map((o) => o.output).sort()).toEqual([...Array(30).fill('high'), ...Array(20).fill('low')]);

    // One pull at a time (4 permits, 4 activities: one task per pull): starts follow the pulls.
    const order = flowNotes(notes, 'plain')
      .filter((n) => n.kind === 'start')
      .map((n) => n.key);
    expect(order).toHaveLength(50);
    const lastHigh = order.lastIndexOf('high');
    // Weighted 16 to 1: about one low task per 16 high ones while both wait.
    expect(lastHigh).toBeLessThan(34);
    expect(order.slice(0, lastHigh).filter((k) => k === 'low').length).toBeGreaterThanOrEqual(1);

    // Durables only for the levels that had work: no executor or router made one ahead of it.
    expect(await durables(env.prefix, 'tasks')).toEqual(
      ['activity_badKey', 'activity_limited', 'activity_plain', 'activity_rated', 'prio1_plain', 'prio5_plain'].sort(),
    );
    expect(await durables(env.prefix, 'inbox')).toEqual(['router', 'router_prio1', 'router_prio5']);
  }, 90_000);
});

describe('routers and priorities', () => {
  let routerEnv: ServiceEnv;
  let router: RouterHandle | undefined;
  afterAll(async () => {
    await router?.stop();
  });

  it('a backlog of starts is taken high priority first by the router that comes, and the lowest still progresses', async () => {
    routerEnv = { ...env, prefix: freshPrefix(), dbName: freshDbName() };
    // A router makes the streams, then goes: the starts below wait for the next one.
    const first = await startService('router', ['router', '--workflows', FLOW_FIXTURES.workflows], routerEnv);
    first.kill('SIGTERM');
    await first.exited;
    const p = subjectsOf(routerEnv.prefix);
    const send = (level: number, workflowId: string, key: string): void =>
      nc.publish(p.startAt('plainJob', level), encodeBody({ workflowId, input: { key } }, { json: true }), {
        headers: jsonHeaders(),
      });
    const low = Array.from({ length: 20 }, (_, i) => `low-${i}`);
    const high = Array.from({ length: 30 }, (_, i) => `high-${i}`);
    for (const id of low) send(1, id, 'low');
    for (const id of high) send(5, id, 'high');
    await nc.flush();
    await waitFor('the backlog of starts on the level subjects', async () => {
      const s = await subjectCounts(routerEnv.prefix, 'inbox', p.all.startLevels);
      return s[p.startAt('plainJob', 1)] === 20 && s[p.startAt('plainJob', 5)] === 30;
    });

    const started: string[] = [];
    const sub = nc.subscribe(`${routerEnv.prefix}.started.*`, {
      callback: (_err, m) => {
        started.push(m.subject.slice(m.subject.lastIndexOf('.') + 1));
      },
    });
    await nc.flush();
    // One start decided at a time, so the notices follow the order the router took the starts in.
    router = await startRouter({
      natsUrl: routerEnv.natsUrl,
      mongoUrl: routerEnv.mongoUrl,
      dbName: routerEnv.dbName,
      prefix: routerEnv.prefix,
      workflows: [plainJob],
      maxInFlight: 1,
      log: createLogger({ level: 'error' }),
    });
    await waitFor('every start taken', () => started.length === 50, { timeoutMs: 60_000 });
    sub.unsubscribe();
    expect([...started].sort()).toEqual([...high, ...low].sort());
    const order = started.map((id) => (id.startsWith('high') ? 'high' : 'low'));
    const lastHigh = order.lastIndexOf('high');
    // Weighted 16 to 1: about one low start per 16 high ones while both wait.
    expect(lastHigh).toBeLessThan(34);
    expect(order.slice(0, lastHigh).filter((k) => k === 'low').length).toBeGreaterThanOrEqual(1);
    // The runs carry the priority of their subject's level (their tasks wait on its subjects).
    await waitFor("the runs' tasks on the level subjects", async () => {
      const t = await subjectCounts(routerEnv.prefix, 'tasks', `${routerEnv.prefix}.task.>`);
      return t[p.taskAt('plain', 1)] === 20 && t[p.taskAt('plain', 5)] === 30;
    });
  }, 90_000);
});
