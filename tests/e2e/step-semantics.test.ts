/**
 * Step semantics under an executor SIGKILL mid-activity, services as separate processes and no
 * activity timeout (the task comes back by the consumer's 2 s ack wait): at-least-once runs
 * attempt 1 again, at-most-once finds attempt 1's start recorded, fails it with
 * ATTEMPT_INTERRUPTED without running it, and the retry policy runs attempt 2.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { ACTIVITY_FIXTURES, activityNotesDir, eventsOf, notesOf, ofType } from './activities-helpers.js';
import { type ServiceEnv, type ServiceProcess, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
let notes: string;
const executors: ServiceProcess[] = [];
let started = 0;

function startExecutor(): Promise<ServiceProcess> {
  const args = ['executor', '--activities', ACTIVITY_FIXTURES.activities, '--ack-wait-ms', '2000'];
  return startService(`executor-${++started}`, args, env).then((p) => {
    executors.push(p);
    return p;
  });
}

beforeAll(async () => {
  notes = activityNotesDir();
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await Promise.all([
    startService('router', ['router', '--workflows', ACTIVITY_FIXTURES.workflows], env),
    startService('timer', ['timer'], env),
    startExecutor(),
    startExecutor(),
  ]);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

/** Starts `workflow`, waits for its first run of `once`, and SIGKILLs the executor running it. */
async function killMidActivity(workflow: string, workflowId: string): Promise<number> {
  await client.start(workflow, undefined, { workflowId });
  await waitFor('the first run of the activity', () => notesOf(notes, workflowId).length > 0, { timeoutMs: 20_000 });
  const first = notesOf(notes, workflowId)[0]!;
  const victim = executors.find((e) => e.proc.pid === first.pid);
  expect(victim, 'the executor running the activity').toBeDefined();
  victim!.kill('SIGKILL');
  await victim!.exited;
  executors.splice(executors.indexOf(victim!), 1);
  return first.pid;
}

describe('step semantics', () => {
  it('at-least-once: attempt 1 runs again on another executor after a SIGKILL', async () => {
    const killed = await killMidActivity('onceAtLeast', 'at-least-1');
    const out = await client.result<{ output?: { attempt: number; pid: number } }>('at-least-1', {
      timeoutMs: 30_000,
    });
    expect(out.output?.attempt).toBe(1);
    expect(out.output?.pid).not.toBe(killed);
    const runs = notesOf(notes, 'at-least-1').filter((n) => n.kind === 'start');
    expect(runs.map((n) => n.attempt)).toEqual([1, 1]);
    expect(ofType(await eventsOf(client, 'at-least-1'), 'ActivityFailed')).toEqual([]);
  });

  it('at-most-once: the started attempt 1 is failed unrun with ATTEMPT_INTERRUPTED; attempt 2 runs', async () => {
    await startExecutor(); // two again: one to kill, one to take the redelivered task
    const killed = await killMidActivity('onceAtMost', 'at-most-1');
    const out = await client.result<{ output?: { attempt: number; pid: number } }>('at-most-1', {
      timeoutMs: 30_000,
    });
    expect(out.output?.attempt).toBe(2);
    expect(out.output?.pid).not.toBe(killed);
    const runs = notesOf(notes, 'at-most-1').filter((n) => n.kind === 'start');
    expect(runs.map((n) => n.attempt)).toEqual([1, 2]);
    const events = await eventsOf(client, 'at-most-1');
    expect(ofType(events, 'ActivityFailed')).toMatchObject([
      { attempt: 1, error: { code: 'ATTEMPT_INTERRUPTED', name: 'AttemptInterruptedError' } },
    ]);
    expect(ofType(events, 'ActivityStarted').map((e) => e.attempt)).toEqual([1, 2]);
    expect(ofType(events, 'RunCompleted')).toHaveLength(1);
  });
});
