/**
 * Recovery by redelivery with real processes, where the outbox costs no write: a router killed
 * (SIGKILL's exit code) right after storing a commit (nothing published, input not acked) or
 * right after publishing (input not acked); the input's redelivery to another router finds it in
 * the run and republishes what its run stored since. Also a result delivered twice, and results
 * and firings for a run that already finished. The crash points come from the test-only
 * `SQUALL_FAULT` variable (see services/cli/args.ts).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import type { HistoryEvent } from '../../shared/history/events.js';
import { collectionNames, type Subjects, streamNames, subjects as subjectsOf } from '../../shared/names.js';
import type { RunDoc } from '../../shared/store/documents.js';
import { createMongoStore } from '../../shared/store/index.js';
import type { Store } from '../../shared/store/types.js';
import { consumerBacklogs, eventsOf, historyProblems, loadCommits } from '../chaos/invariants.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, spawnSquall, startService } from '../e2e/processes.js';
import { connectMongo, connectNats, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';

let mongo: MongoClient;
let nc: NatsConnection;

beforeAll(async () => {
  mongo = await connectMongo();
  nc = await connectNats();
});

/** What a router logs when a redelivered input republishes its run's commits (outbox.ts). */
const REPUBLISHED = 'republished the commits of a redelivered input';

/** A namespace with an executor and a timer service running, and no router yet. */
async function namespace(): Promise<{
  env: ServiceEnv;
  s: Subjects;
  store: Store;
  client: SquallClient;
  executor: ServiceProcess;
}> {
  const env: ServiceEnv = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  const [executor] = await Promise.all([
    startService('executor', ['executor', '--activities', SAMPLE.activities], env),
    startService('timer', ['timer'], env),
  ]);
  const client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  const store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
  return { env, s: subjectsOf(env.prefix), store, client, executor };
}

function router(env: ServiceEnv, name: string, fault?: string, args: string[] = []): ServiceProcess {
  return spawnSquall(name, ['router', '--workflows', SAMPLE.workflows, ...args], {
    ...env,
    ...(fault ? { extra: { SQUALL_FAULT: fault } } : {}),
  });
}

async function started(p: ServiceProcess): Promise<ServiceProcess> {
  await waitFor(`${p.name} to start`, () => p.logs.some((l) => l.msg === 'router started'), { timeoutMs: 30_000 });
  return p;
}

async function history(
  store: Store,
  workflowId: string,
): Promise<{ runId: string; events: HistoryEvent[]; problems: string[] }> {
  const run = await store.workflowIdHolder(workflowId);
  if (!run) throw new Error(`no run for ${workflowId}`);
  const commits = await loadCommits(store, run.runId);
  return { runId: run.runId, events: eventsOf(commits), problems: historyProblems(commits) };
}

/** The times the sample executor charged the card of `orderId` (once per attempt, at most). */
function charges(executor: ServiceProcess, orderId: string): number {
  return executor.logs.filter((l) => l.msg === 'charging card' && l.orderId === orderId).length;
}

/** No outbox collection: an append writes the commit and nothing else. */
async function noOutbox(env: ServiceEnv): Promise<void> {
  const outbox = await mongo
    .db(env.dbName)
    .listCollections({ name: collectionNames(env.prefix).outbox })
    .toArray();
  expect(outbox).toEqual([]);
}

async function noBacklog(env: ServiceEnv): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await waitFor(
    'every consumer to have nothing pending or unacked',
    async () => {
      const b = await consumerBacklogs(jsm, env.prefix);
      return b.every((c) => c.ackPending === 0 && c.pending === 0) ? b : undefined;
    },
    { timeoutMs: 45_000, intervalMs: 250 },
  );
}

describe('recovery by redelivery', () => {
  it('a router killed after storing a commit, before publishing it: the redelivery publishes it', async () => {
    const { env, s, store, client, executor } = await namespace();
    const doomed = await started(router(env, 'router-doomed', 'exit-after-commit:2'));
    // Commit 1 (start) publishes chargeCard; commit 2 (its result) would publish the emit and the timer.
    // The result was offered directly to the doomed router (the only one), which died without an
    // answer: the executor published it to the events stream once its offer timed out.
    await client.start('order', { orderId: 'c-1', amount: 10, approvalTimeoutMs: 300 }, { workflowId: 'c-1' });
    expect(await doomed.exited).toBe(137);
    const after = await started(router(env, 'router-after'));
    await expect(client.result('c-1', { timeoutMs: 45_000 })).resolves.toMatchObject({ status: 'timedOut' });
    expect(after.logs.some((l) => l.msg === REPUBLISHED)).toBe(true);
    const events = await (await jetstreamManager(nc)).streams.info(streamNames(env.prefix).events, {
      subjects_filter: s.all.result,
    });
    expect(Object.keys(events.state.subjects ?? {})).toHaveLength(1);
    const h = await history(store, 'c-1');
    expect(h.problems).toEqual([]);
    expect(h.events.filter((e) => e.type === 'TimerFired')).toHaveLength(1);
    // The start's task went out before the crash; republished with its msg id, it ran once.
    expect(charges(executor, 'c-1')).toBe(1);
    await noBacklog(env);
    await noOutbox(env);
    await client.close();
  }, 120_000);

  it('a router killed after storing a direct result, its executor killed before publishing it: the re-run finds it and publishes the commit', async () => {
    // The result of chargeCard is offered directly to the only router, which stores commit 2 and
    // dies before publishing it (the emit and the approval timer) or answering; the executor,
    // waiting for the answer, is killed too: no copy of the result is anywhere. The task comes back
    // (2 s ack wait) to a new executor, whose result says its task was redelivered: the new router
    // finds it in history and publishes commit 2, so the timer fires and the run times out.
    const env: ServiceEnv = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
    const store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
    await startService('timer', ['timer'], env);
    const ackWait = ['--ack-wait-ms', '2000'];
    const doomed = await started(router(env, 'router-doomed', 'exit-after-commit:2'));
    const first = await startService('executor', ['executor', '--activities', SAMPLE.activities, ...ackWait], env);
    const client = await connect({ servers: env.natsUrl, prefix: env.prefix });
    await client.start('order', { orderId: 'd-1', amount: 10, approvalTimeoutMs: 300 }, { workflowId: 'd-1' });
    expect(await doomed.exited).toBe(137);
    first.kill('SIGKILL');
    await first.exited;
    expect(charges(first, 'd-1')).toBe(1);
    const second = await startService('executor', ['executor', '--activities', SAMPLE.activities, ...ackWait], env);
    const after = await started(router(env, 'router-after'));
    await expect(client.result('d-1', { timeoutMs: 45_000 })).resolves.toMatchObject({ status: 'timedOut' });
    expect(after.logs.some((l) => l.msg === REPUBLISHED)).toBe(true);
    // At least once: the redelivered task ran again; history counts one completion.
    expect(charges(second, 'd-1')).toBe(1);
    const h = await history(store, 'd-1');
    expect(h.problems).toEqual([]);
    expect(h.events.filter((e) => e.type === 'ActivityCompleted' && e.ignored === undefined)).toHaveLength(1);
    expect(h.events.filter((e) => e.type === 'TimerFired')).toHaveLength(1);
    await noBacklog(env);
    await client.close();
  }, 120_000);

  it('a router killed right after storing a closing commit: the redelivery closes the run everywhere', async () => {
    const { env, store, client, executor } = await namespace();
    // Commits: 1 start, 2 charge result (schedules the timer), 3 the firing that times the order out.
    const doomed = await started(router(env, 'router-doomed', 'exit-after-append:3'));
    const first = await client.start(
      'order',
      { orderId: 'z-1', amount: 10, approvalTimeoutMs: 300 },
      { workflowId: 'z-1' },
    );
    expect(await doomed.exited).toBe(137);
    // The closing summary goes out beside the commit: it may say closed already, as history does.
    expect(['running', 'completed']).toContain((await store.getRunByWorkflowId('z-1'))?.status ?? 'running');
    const after = await started(router(env, 'router-after'));
    await expect(client.result('z-1', { timeoutMs: 45_000 })).resolves.toMatchObject({ status: 'timedOut' });
    // The completion is out, so the summary is written (it comes first), and the id is free.
    expect((await store.getRunByWorkflowId('z-1'))?.status).toBe('completed');
    expect((await client.list({ type: 'order' })).runs.map((r) => [r.workflowId, r.status])).toEqual([
      ['z-1', 'completed'],
    ]);
    // The task of commit 1 went out before the crash, and ran once.
    expect(charges(executor, 'z-1')).toBe(1);
    const again = await client.start(
      'order',
      { orderId: 'z-1', amount: 10, approvalTimeoutMs: 300 },
      { workflowId: 'z-1' },
    );
    expect(again).toMatchObject({ created: true });
    expect(again.runId).not.toBe(first.runId);
    expect(after.logs.some((l) => l.msg === REPUBLISHED)).toBe(true);
    expect(historyProblems(await loadCommits(store, first.runId))).toEqual([]);
    await noOutbox(env);
    await client.close();
  }, 120_000);

  it('a router killed once the closing summary written beside its commit is stored, before the commit: the run reads open until the redelivery closes it', async () => {
    const { env, store, client, executor } = await namespace();
    // Commits: 1 start, 2 charge result (schedules the timer), 3 the firing that would close it.
    // Inputs a dead router held come back after 2 s, not the default 30.
    const ackWait = ['--ack-wait-ms', '2000'];
    const doomed = await started(router(env, 'router-doomed', 'exit-before-close-append:1', ackWait));
    const first = await client.start(
      'order',
      { orderId: 'k-1', amount: 10, approvalTimeoutMs: 300 },
      { workflowId: 'k-1' },
    );
    expect(await doomed.exited).toBe(137);
    // The summary says closed; its commit is not stored, so no reader takes it at its word.
    const summaries = mongo.db(env.dbName).collection<RunDoc>(collectionNames(env.prefix).runs);
    expect(await summaries.findOne({ _id: first.runId })).toMatchObject({
      status: 'completed',
      lastSeq: 3,
      closeToken: expect.any(String),
    });
    expect(await store.lastSeq(first.runId)).toBe(2);
    expect(await store.getRun(first.runId)).toBeUndefined();
    expect(await store.claimWorkflowId('k-1', 'another-run', 'allowAfterClose')).toEqual({
      claimed: false,
      runId: first.runId,
      status: 'running',
    });
    await started(router(env, 'router-after', undefined, ackWait));
    await expect(client.result('k-1', { timeoutMs: 45_000 })).resolves.toMatchObject({ status: 'timedOut' });
    expect(await store.getRun(first.runId)).toMatchObject({ status: 'completed', lastSeq: 3 });
    const h = await history(store, 'k-1');
    expect(h.problems).toEqual([]);
    expect(h.events.filter((e) => e.type === 'RunCompleted')).toHaveLength(1);
    expect(charges(executor, 'k-1')).toBe(1);
    await noBacklog(env);
    await client.close();
  }, 120_000);

  it('a router killed after publishing, before the ack: redelivery changes nothing and the task runs once', async () => {
    const { env, s, store, client, executor } = await namespace();
    const doomed = await started(router(env, 'router-doomed', 'exit-after-publish:1'));
    // A plain publish: the durable copy in the inbox is all that matters.
    nc.publish(
      s.start('order'),
      encodeBody({ workflowId: 'p-1', input: { orderId: 'p-1', amount: 10, approvalTimeoutMs: 60_000 } }),
    );
    expect(await doomed.exited).toBe(137);
    const after = await started(router(env, 'router-after'));
    await waitFor('p-1 to await approval', async () => (await client.query('p-1')).accepts.includes('approve'), {
      timeoutMs: 45_000,
      intervalMs: 200,
    });
    await client.signal('p-1', { type: 'approve' });
    await expect(client.result('p-1', { timeoutMs: 45_000 })).resolves.toMatchObject({ status: 'fulfilled' });
    const h = await history(store, 'p-1');
    expect(h.problems).toEqual([]);
    expect(h.events.filter((e) => e.type === 'RunStarted')).toHaveLength(1);
    // The redelivered start republished the task with its original msg id: JetStream dropped the copy.
    // The run may finish well within the ack wait (30 s) after which the start comes back, as the
    // task went out before the crash: the wait covers that ack wait from the crash on.
    await waitFor('the republish', () => after.logs.some((l) => l.msg === REPUBLISHED), {
      timeoutMs: 45_000,
    });
    expect(charges(executor, 'p-1')).toBe(1);
    await noBacklog(env);
    await client.close();
  }, 120_000);

  it('a duplicated result is recorded as ignored; results and firings for a finished run change nothing', async () => {
    const { env, s, store, client } = await namespace();
    await started(router(env, 'router'));
    await client.start('order', { orderId: 'd-1', amount: 10, approvalTimeoutMs: 60_000 }, { workflowId: 'd-1' });
    await waitFor('d-1 to await approval', async () => (await client.query('d-1')).accepts.includes('approve'), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const before = await history(store, 'd-1');
    const charge = before.events.find((e) => e.type === 'ActivityScheduled') as { activitySeq: number } | undefined;
    const timer = before.events.find((e) => e.type === 'TimerScheduled') as { timerSeq: number } | undefined;
    expect(charge && timer).toBeTruthy();
    const result = (attempt: number) => ({
      runId: before.runId,
      workflowId: 'd-1',
      activitySeq: charge?.activitySeq,
      attempt,
      ok: true,
      output: { chargeId: 'dup' },
    });
    const js = (await import('@nats-io/jetstream')).jetstream(nc);
    // Another msg id than the executor's, so JetStream delivers it: a second delivery of the result.
    await js.publish(s.result(before.runId), encodeBody(result(2)), { msgID: `dup-1-${before.runId}` });
    await waitFor(
      'the duplicate to be recorded as ignored',
      async () => {
        const h = await history(store, 'd-1');
        return h.events.some(
          (e) => e.type === 'ActivityCompleted' && (e as { ignored?: string }).ignored !== undefined,
        );
      },
      { timeoutMs: 20_000 },
    );
    expect((await client.query('d-1')).accepts).toContain('approve');
    await client.signal('d-1', { type: 'approve' });
    await expect(client.result('d-1', { timeoutMs: 30_000 })).resolves.toMatchObject({ status: 'fulfilled' });

    const done = await history(store, 'd-1');
    expect(done.problems).toEqual([]);
    // After the close: a result and a firing for the finished run are dropped and acked.
    await js.publish(s.result(before.runId), encodeBody(result(3)), { msgID: `dup-2-${before.runId}` });
    await js.publish(
      s.fired(before.runId),
      encodeBody({ runId: before.runId, workflowId: 'd-1', timerSeq: timer?.timerSeq, firedAt: Date.now() }),
      { msgID: `dup-3-${before.runId}` },
    );
    await noBacklog(env);
    const final = await history(store, 'd-1');
    expect(final.events).toHaveLength(done.events.length);
    await client.close();
  }, 120_000);
});
