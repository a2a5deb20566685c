/**
 * Activity semantics under faults and load, with services as separate processes: an executor
 * SIGKILLed mid-activity (the attempt is retried after the heartbeat timeout by another executor
 * and its result recorded once), and a concurrency cap held across executors. The cap runs
 * first: a SIGKILLed executor's open pull requests may still take tasks until they expire.
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

beforeAll(async () => {
  notes = activityNotesDir();
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  // Each of the 10 fixture activities keeps one pull (and one permit) open while idle: leave room.
  const args = ['executor', '--activities', ACTIVITY_FIXTURES.activities];
  await Promise.all([
    startService('router', ['router', '--workflows', ACTIVITY_FIXTURES.workflows], env),
    startService('timer', ['timer'], env),
  ]);
  executors.push(
    ...(await Promise.all([1, 2, 3].map((i) => startService(`executor-${i}`, [...args, '--concurrency', '24'], env)))),
  );
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

describe('activities under faults', () => {
  it('holds a concurrency cap of 2 over 50 queued tasks and 3 executors', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `capped-${i}`);
    await Promise.all(ids.map((id) => client.start('capped', undefined, { workflowId: id })));
    await Promise.all(ids.map((id) => client.result(id, { timeoutMs: 60_000 })));
    const spans = ids.map((id) => {
      const n = notesOf(notes, id);
      const start = n.find((x) => x.kind === 'start');
      const end = n.find((x) => x.kind === 'end');
      expect(start && end, `notes of ${id}`).toBeTruthy();
      return { start: start!.at, end: end!.at, pid: start!.pid };
    });
    // Most tasks running at once, from every start and end across processes.
    const edges = spans.flatMap((s) => [
      { at: s.start, d: 1 },
      { at: s.end, d: -1 },
    ]);
    edges.sort((a, b) => a.at - b.at || a.d - b.d);
    let running = 0;
    let most = 0;
    for (const e of edges) {
      running += e.d;
      most = Math.max(most, running);
    }
    expect(most).toBeLessThanOrEqual(2);
    expect(most).toBe(2);
    expect(new Set(spans.map((s) => s.pid)).size).toBeGreaterThan(1);
  });

  it('an executor SIGKILLed mid-activity: another executor runs attempt 2 after the heartbeat timeout; one result', async () => {
    await client.start('crashy', undefined, { workflowId: 'crashy-1' });
    await waitFor('attempt 1 to run', () => notesOf(notes, 'crashy-1').length > 0, { timeoutMs: 20_000 });
    await waitFor('a heartbeat in history', async () =>
      ofType(await eventsOf(client, 'crashy-1'), 'ActivityHeartbeat').some((h) => h.details !== undefined),
    );
    const first = notesOf(notes, 'crashy-1')[0]!;
    const victim = executors.find((e) => e.proc.pid === first.pid);
    expect(victim, 'the executor running attempt 1').toBeDefined();
    victim!.kill('SIGKILL');
    await victim!.exited;

    const out = await client.result<{ output?: Record<string, unknown> }>('crashy-1', { timeoutMs: 30_000 });
    expect(out.output).toMatchObject({ attempt: 2, resumedFrom: { step: expect.any(Number) } });
    expect(out.output?.pid).not.toBe(first.pid);
    const events = await eventsOf(client, 'crashy-1');
    expect(ofType(events, 'ActivityTimedOut')).toMatchObject([{ attempt: 1, timeoutType: 'heartbeat' }]);
    expect(ofType(events, 'ActivityCompleted').filter((e) => !e.ignored)).toHaveLength(1);
    expect(ofType(events, 'RunCompleted')).toHaveLength(1);
    const ran = notesOf(notes, 'crashy-1').filter((n) => n.kind === 'start');
    expect(ran.map((n) => n.attempt)).toEqual([1, 2]);
  });
});
