/** A durable timer fires exactly once even when the timer service is killed during the sleep. */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
let timer: ServiceProcess;

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await startService('router', ['router', '--workflows', SAMPLE.workflows], env);
  await startService('executor', ['executor', '--activities', SAMPLE.activities], env);
  timer = await startService('timer', ['timer'], env);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

describe('timers', () => {
  it('a run sleeping 2 s fires once although its timer service is SIGKILLed and replaced mid-sleep', async () => {
    await client.start('order', { orderId: 'sleepy', amount: 10, approvalTimeoutMs: 2_000 }, { workflowId: 'sleepy' });
    await waitFor('the timer to be scheduled', async () => (await client.query('sleepy')).pendingTimers.length === 1, {
      timeoutMs: 15_000,
    });
    timer.kill('SIGKILL');
    await timer.exited;
    const replacement = await startService('timer-2', ['timer'], env);
    const output = await client.result<{ status: string }>('sleepy', { timeoutMs: 30_000 });
    expect(output.status).toBe('timedOut');
    const history = await client.history('sleepy');
    const types = history.commits.flatMap((c) => c.events.map((e) => (e as { type: string }).type));
    expect(types.filter((t) => t === 'TimerScheduled')).toHaveLength(1);
    expect(types.filter((t) => t === 'TimerFired')).toHaveLength(1);
    expect(replacement.logs.length).toBeGreaterThan(0);
  });
});
