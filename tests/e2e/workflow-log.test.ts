/**
 * Workflow-side logging end to end, reading real router processes' JSON log output: each line a
 * workflow logs (workflowLog) is written once, by the router that stored its decision, with the
 * run's ids and the commit's seq. A router SIGKILLed between decisions leaves its successor to
 * reload the run from history, which logs nothing again; a router that dies after storing a
 * decision, before publishing it (test-only `SQUALL_FAULT`), has the input redelivered, and the
 * redelivery, finding the decision stored, does not log it twice.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import type { HistoryEvent } from '../../shared/history/events.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { type ServiceEnv, type ServiceProcess, spawnSquall, waitForLog } from './processes.js';

const MODULE = 'tests/fixtures/workflow-log/workflows.ts';
/** What a router logs when a redelivered input republishes its run's commits (outbox.ts). */
const REPUBLISHED = 'republished the commits of a redelivered input';

let mine: { env: ServiceEnv; client: SquallClient }[] = [];

beforeAll(() => async () => {
  await Promise.all(mine.map((m) => m.client.close()));
  mine = [];
});

/** A namespace of the test's own, so a router a failed test left running cannot take its inputs. */
async function namespace(): Promise<{ env: ServiceEnv; client: SquallClient }> {
  const env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  const m = { env, client: await connect({ servers: env.natsUrl, prefix: env.prefix }) };
  mine.push(m);
  return m;
}

async function router(env: ServiceEnv, name: string, fault?: string): Promise<ServiceProcess> {
  const p = spawnSquall(name, ['router', '--workflows', MODULE], {
    ...env,
    ...(fault ? { extra: { SQUALL_FAULT: fault } } : {}),
  });
  await waitForLog(p, /^router started$/);
  return p;
}

/** The workflow lines of `workflowId` a router wrote, as [msg, seq]. */
function linesOf(p: ServiceProcess, workflowId: string): [unknown, unknown][] {
  return p.logs.filter((l) => l.source === 'workflow' && l.workflowId === workflowId).map((l) => [l.msg, l.seq]);
}

async function goes(client: SquallClient, workflowId: string): Promise<HistoryEvent[]> {
  const events = (await client.history(workflowId)).commits.flatMap((c) => c.events);
  return events.filter((e) => e.type === 'SignalReceived' && e.signal.type === 'go');
}

describe('workflow-side logging', () => {
  it("writes each line once with the run's ids; a successor router reloading the run logs only what it decides", async () => {
    const { env, client } = await namespace();
    const first = await router(env, 'router-1');
    const started = await client.start('audited', { orderId: 'o-1' }, { workflowId: 'log-1' });
    await client.signal('log-1', { type: 'go' });
    await waitFor('the first go to be logged', () => linesOf(first, 'log-1').length === 2);
    const opened = first.logs.find((l) => l.source === 'workflow' && l.msg === 'order opened');
    expect(opened).toEqual({
      time: expect.any(String),
      level: 'info',
      msg: 'order opened',
      service: 'router',
      instance: expect.any(String),
      orderId: 'o-1',
      source: 'workflow',
      runId: started.runId,
      workflowId: 'log-1',
      workflowType: 'audited',
      seq: 1,
    });

    first.kill('SIGKILL');
    await first.exited;
    const second = await router(env, 'router-2');
    await client.signal('log-1', { type: 'go' });
    await client.signal('log-1', { type: 'finish' });
    await expect(client.result('log-1', { runId: started.runId, timeoutMs: 30_000 })).resolves.toEqual({ gone: 2 });
    await waitFor('the finish to be logged', () => linesOf(second, 'log-1').length === 2);
    expect(linesOf(first, 'log-1')).toEqual([
      ['order opened', 1],
      ['order went', 2],
    ]);
    // router-2 rebuilt the run from its history (seq 1 and 2) without logging them again.
    expect(linesOf(second, 'log-1')).toEqual([
      ['order went', 3],
      ['order finishing', 4],
    ]);
    expect(second.logs.find((l) => l.msg === 'order finishing')).toMatchObject({ level: 'warn', gone: 2 });
    second.kill('SIGKILL');
    await second.exited;
  }, 90_000);

  it('a decision whose commit landed before its router died is not logged again when its input is redelivered', async () => {
    // Commit 1 (the start) publishes its emit; commit 2 (the go) is stored, then the router exits
    // before publishing it: its signal is not acked and comes back to the next router.
    const { env, client } = await namespace();
    const doomed = await router(env, 'router-doomed', 'exit-after-commit:2');
    const started = await client.start('audited', { orderId: 'o-2' }, { workflowId: 'log-2' });
    // Its reply is lost with the router; the client's retries reach the next router or give up.
    const going = client.signal('log-2', { type: 'go' }).then(
      () => 'replied',
      (err: { code?: string }) => err.code,
    );
    expect(await doomed.exited).toBe(137);
    const after = await router(env, 'router-after');
    await waitFor('the go to be redelivered', () => after.logs.some((l) => l.msg === REPUBLISHED), {
      timeoutMs: 60_000,
    });
    expect(['replied', 'UNAVAILABLE']).toContain(await going);
    await client.signal('log-2', { type: 'finish' });
    await expect(client.result('log-2', { runId: started.runId, timeoutMs: 30_000 })).resolves.toEqual({ gone: 1 });
    await waitFor('the finish to be logged', () => linesOf(after, 'log-2').length === 1);
    expect(await goes(client, 'log-2')).toHaveLength(1);
    expect(linesOf(doomed, 'log-2')).toEqual([
      ['order opened', 1],
      ['order went', 2],
    ]);
    expect(linesOf(after, 'log-2')).toEqual([['order finishing', 3]]);
  }, 120_000);
});
