/**
 * Run timeouts and retention end to end, services as processes: a run still open at its run
 * timeout fails with TIMEOUT by the timer service's firing (its activity and timer cancelled); a
 * closed run past its retention is swept by the router (describe says so, history is empty) while
 * an open run and a closed run within retention keep theirs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { NotFoundError, WorkflowFailedError } from '../../shared/errors.js';
import type { HistoryEvent } from '../../shared/history/events.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { type ServiceEnv, startService } from './processes.js';

const FIXTURES = {
  workflows: 'tests/fixtures/lifecycle/workflows.ts',
  activities: 'tests/fixtures/lifecycle/activities.ts',
};
let env: ServiceEnv;
let client: SquallClient;

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  const router = [
    'router',
    '--workflows',
    FIXTURES.workflows,
    '--retention-ms',
    '3600000',
    '--sweep-interval-ms',
    '300',
  ];
  await Promise.all([
    startService('router', router, env),
    startService('executor', ['executor', '--activities', FIXTURES.activities], env),
    startService('timer', ['timer'], env),
  ]);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

async function events(workflowId: string): Promise<HistoryEvent[]> {
  return (await client.history(workflowId)).commits.flatMap((c) => c.events);
}

describe('run timeouts', () => {
  it('a run open at its run timeout fails with TIMEOUT; its activity and timer are cancelled', async () => {
    await client.start('sleeper', undefined, { workflowId: 'timeout-1', runTimeoutMs: 1_500 });
    const failure = await client.result('timeout-1', { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).details).toMatchObject({
      status: 'failed',
      error: { name: 'TimeoutError', code: 'TIMEOUT', details: { timeoutType: 'run' } },
    });
    const types = (await events('timeout-1')).map((e) => e.type);
    expect(types.slice(-4)).toEqual(['TimerFired', 'ActivityCancelled', 'TimerCancelled', 'RunFailed']);
  });

  it('a bad timeout is refused on the caller side, naming the field', async () => {
    await expect(client.start('sleeper', undefined, { runTimeoutMs: 0 })).rejects.toThrow(/start.runTimeoutMs must be/);
  });
});

describe('retention', () => {
  it('sweeps a closed run past its retention; keeps an open run and a closed run within retention', async () => {
    await client.start('sleeper', undefined, { workflowId: 'kept-open' });
    await client.start('sleeper', undefined, { workflowId: 'kept-closed' });
    await client.start('sleeper', undefined, { workflowId: 'swept', retentionMs: 1 });
    for (const id of ['kept-closed', 'swept']) {
      await client.signal(id, { type: 'wake' });
      await client.result(id, { timeoutMs: 20_000 });
    }
    // The sweep turns the summary into a tombstone, then removes the commits: wait for both.
    await waitFor(
      'the router to sweep the expired run',
      async () =>
        (await client.describe('swept').catch((e: unknown) => e)) instanceof NotFoundError &&
        (await events('swept')).length === 0,
      { timeoutMs: 20_000 },
    );
    const gone = await client.describe('swept').catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(NotFoundError);
    expect((gone as Error).message).toContain('history was removed after its retention period');
    const listed = (await client.list({ type: 'sleeper' })).runs.filter((r) => r.workflowId === 'swept');
    expect(listed).toMatchObject([{ status: 'completed', swept: expect.any(Number) }]);
    expect(await client.describe('kept-open')).toMatchObject({ status: 'running' });
    expect(await client.describe('kept-closed')).toMatchObject({ status: 'completed' });
    expect((await events('kept-closed')).at(-1)).toMatchObject({ type: 'RunCompleted' });
    // The id is free again: a new run of it starts.
    const again = await client.start('sleeper', undefined, { workflowId: 'swept' });
    expect(again.created).toBe(true);
  });
});
