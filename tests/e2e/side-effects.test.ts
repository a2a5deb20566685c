/**
 * Time and side effects end to end: a router process records a random token once (sideEffect)
 * and the decision times (now()); replaying the run's history from MongoDB reproduces the same
 * output, so replay took the recorded token instead of drawing a new one.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import type { HistoryEvent } from '../../shared/history/events.js';
import { runCli } from '../harness/cli.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { type ServiceEnv, startService } from './processes.js';

const MODULE = 'tests/fixtures/side-effects/workflows.ts';
let env: ServiceEnv;
let client: SquallClient;

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await startService('router', ['router', '--workflows', MODULE], env);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

describe('deterministic time and side effects', () => {
  it('records the token once and the decision times, and replay reproduces the same output', async () => {
    const started = await client.start('ticket', undefined, { workflowId: 'ticket-1' });
    const waiting = await waitFor('the ticket to hold its token', async () => {
      const q = await client.query('ticket-1');
      return q.value === 'waiting' ? q : undefined;
    });
    const token = (waiting.context as { token: string }).token;
    expect(token).toMatch(/^[0-9a-f-]{36}$/);

    await client.signal('ticket-1', { type: 'finish' });
    const output = await client.result('ticket-1', { runId: started.runId, timeoutMs: 20_000 });

    const commits = (await client.history('ticket-1')).commits;
    const events: HistoryEvent[] = commits.flatMap((c) => c.events);
    const recorded = events.filter((e) => e.type === 'SideEffectRecorded');
    expect(recorded).toEqual([{ type: 'SideEffectRecorded', at: expect.any(Number), id: 'token', value: token }]);
    const startedAt = events.find((e) => e.type === 'RunStarted')?.at;
    const finishedAt = events.find((e) => e.type === 'SignalReceived')?.at;
    expect(output).toEqual({ token, startedAt, finishedAt });

    // Replay the stored history with the CLI (in this process): calling the token function
    // would draw a new uuid, so the same output means the recorded value was used.
    const r = await runCli(['replay', '--workflows', MODULE, '--history', 'ticket-1'], {
      MONGO_URL: env.mongoUrl,
      SQUALL_PREFIX: env.prefix,
      SQUALL_DB: env.dbName,
    });
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatchObject({ ok: true, status: 'completed', output });
  });
});
