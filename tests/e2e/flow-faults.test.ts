/**
 * A concurrency key's slots when their holder dies: an executor holding both slots of a key (and
 * the key's queue) is SIGKILLed mid-task; its slots come free by lease expiry, JetStream delivers
 * its tasks again, and a new executor runs all of them, still never more than 2 at once.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { FLOW_FIXTURES, flowNotes, flowNotesDir, maxRunningAtOnce } from './flow-helpers.js';
import { type ServiceEnv, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
let notes: string;

beforeAll(async () => {
  notes = flowNotesDir();
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await startService('router', ['router', '--workflows', FLOW_FIXTURES.workflows], env);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

describe('concurrency key slots of a dead executor', () => {
  it('are freed by lease expiry: every task runs, never 3 at once', async () => {
    const first = await startService('executor-1', ['executor', '--activities', FLOW_FIXTURES.activities], env);
    const ids = ['z-1', 'z-2', 'z-3', 'z-4'];
    for (const workflowId of ids) await client.start('limitedJob', { key: 'z', ms: 4000 }, { workflowId });
    const running = await waitFor('two tasks of key z running', () => {
      const starts = flowNotes(notes, 'limited').filter((n) => n.kind === 'start');
      return starts.length === 2 ? starts : false;
    });
    const killedAt = Date.now();
    first.kill('SIGKILL');
    await first.exited;
    const killedPid = running[0]?.pid;
    const second = await startService('executor-2', ['executor', '--activities', FLOW_FIXTURES.activities], env);
    const outs = await Promise.all(ids.map((id) => client.result<{ output?: string }>(id, { timeoutMs: 100_000 })));
    expect(outs.map((o) => o.output)).toEqual(['z', 'z', 'z', 'z']);
    const after = flowNotes(notes, 'limited').filter((n) => n.pid !== killedPid);
    expect(
      after
        .filter((n) => n.kind === 'end')
        .map((n) => n.workflowId)
        .sort(),
    ).toEqual(ids);
    expect(maxRunningAtOnce(after, 'z')).toBe(2);
    // Nothing ran again while the dead executor's slot leases (30 s) and its tasks' ack waits
    // (30 s, kept alive every 10 s) were still running: at least 20 s after the kill.
    expect(Math.min(...after.map((n) => n.at))).toBeGreaterThanOrEqual(killedAt + 19_000);
    second.kill('SIGTERM');
  }, 150_000);
});
