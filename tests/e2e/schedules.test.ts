/**
 * Schedules over real servers and service processes: overlap policies, catch-up after every timer
 * service was down, two timer services firing one tick once, and the API's refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { tickWorkflowId } from '../../shared/schedules/index.js';
import { runCli } from '../harness/cli.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { type ServiceEnv, type ServiceProcess, startService } from './processes.js';

const WORKFLOWS = 'tests/fixtures/schedules/workflows.ts';
let env: ServiceEnv;
let client: SquallClient;
let timers: ServiceProcess[] = [];

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await startService('router', ['router', '--workflows', WORKFLOWS], env);
  timers = [await startService('timer-1', ['timer'], env), await startService('timer-2', ['timer'], env)];
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
});

afterAll(async () => {
  await client?.close();
});

/** Runs of a type, by workflowId. */
async function runsOf(type: string): Promise<Map<string, string>> {
  const page = await client.list({ workflowType: type, limit: 1000 });
  return new Map(page.runs.map((r) => [r.workflowId, r.status]));
}

describe('schedules', () => {
  it('overlap skip: a tick while the run is open starts nothing; the first tick after it closed does', async () => {
    await client.schedules.create('nap', { every: '1s', workflow: { type: 'napper' }, overlap: 'skip' });
    const first = await waitFor(
      'the first tick run',
      async () =>
        (
          await client
            .describe((await client.schedules.describe('nap')).state.lastWorkflowId ?? 'none')
            .catch(() => undefined)
        )?.workflowId,
      { timeoutMs: 15_000 },
    );
    await waitFor('two ticks skipped', async () => (await client.schedules.describe('nap')).state.skipped >= 2, {
      timeoutMs: 15_000,
    });
    expect([...(await runsOf('napper')).keys()]).toEqual([first]);
    await client.signal(first, { type: 'wake' });
    await client.result(first, { timeoutMs: 10_000 });
    const second = await waitFor(
      'a run after the first closed',
      async () => {
        const last = (await client.schedules.describe('nap')).state.lastWorkflowId;
        return last !== first ? last : undefined;
      },
      { timeoutMs: 15_000 },
    );
    await client.schedules.pause('nap');
    expect(second).not.toBe(first);
    const d = await client.schedules.describe('nap');
    expect(d.spec.paused).toBe(true);
    expect(d.nextTicks).toEqual([]);
    await client.terminate(second as string, 'test over').catch(() => undefined);
  });

  it('every tick missed while all timer services were down is started once they are back (within the catch-up window)', async () => {
    await client.schedules.create('blinker', {
      every: '2s',
      workflow: { type: 'blink' },
      overlap: 'allowAll',
      catchupWindowMs: 60_000,
    });
    await waitFor('a first tick', async () => (await client.schedules.describe('blinker')).state.lastTick, {
      timeoutMs: 15_000,
    });
    for (const t of timers) t.kill('SIGKILL');
    await Promise.all(timers.map((t) => t.exited));
    const downAt = Date.now();
    // Down for three ticks: the condition is the clock itself.
    await waitFor('three ticks to pass', () => Date.now() >= downAt + 3 * 2_000 + 500, { timeoutMs: 15_000 });
    const upAt = Date.now();
    timers = [await startService('timer-3', ['timer'], env), await startService('timer-4', ['timer'], env)];
    const expected: string[] = [];
    for (let t = Math.ceil(downAt / 2000) * 2000; t <= upAt; t += 2000) {
      expected.push(tickWorkflowId('blinker', { workflow: { type: 'blink' } }, t));
    }
    expect(expected.length).toBeGreaterThanOrEqual(3);
    await waitFor(
      'the missed ticks to have run',
      async () => {
        const runs = await runsOf('blink');
        return expected.every((id) => runs.get(id) === 'completed');
      },
      { timeoutMs: 30_000 },
    );
    // Each tick's run once: its history holds one start.
    for (const id of expected) {
      const h = await client.history(id);
      const starts = h.commits.flatMap((c) => c.events).filter((e) => (e as { type: string }).type === 'RunStarted');
      expect(starts).toHaveLength(1);
    }
    await client.schedules.delete('blinker');
  });

  it('two timer services start each tick once, and triggers and backfills are runs of their own', async () => {
    const id = 'pair';
    await client.schedules.create(id, { every: '1s', workflow: { type: 'blink' }, overlap: 'allowAll' });
    await waitFor('five ticks', async () => (await client.schedules.describe(id)).state.recent.length >= 5, {
      timeoutMs: 20_000,
    });
    await client.schedules.pause(id);
    const recent = (await client.schedules.describe(id)).state.recent.filter((r) => r.action === 'started');
    const ticks = recent.map((r) => r.tick);
    expect(new Set(ticks).size).toBe(ticks.length);
    for (const r of recent) {
      const h = await client.history(r.workflowId as string);
      expect(h.commits[0]?.events[0]).toMatchObject({ type: 'RunStarted' });
    }
    const triggered = await client.schedules.trigger(id);
    await client.result(triggered, { timeoutMs: 10_000 });
    const from = Date.parse('2026-01-01T00:00:00Z');
    const backfilled = await client.schedules.backfill(id, { from, to: from + 2_000 });
    expect(backfilled).toEqual(
      [0, 1, 2].map((i) => tickWorkflowId(id, { workflow: { type: 'blink' } }, from + i * 1000)),
    );
    // Backfilling again starts nothing new: each tick is one run.
    expect(await client.schedules.backfill(id, { from, to: from + 2_000 })).toEqual(backfilled);
    for (const w of backfilled) await client.result(w, { timeoutMs: 10_000 });
    await client.schedules.delete(id);
    expect(await client.schedules.delete(id)).toBe(false);
  });

  it('is driven from the CLI as well', async () => {
    const cliEnv = { NATS_URL: env.natsUrl, SQUALL_PREFIX: env.prefix };
    const spec = JSON.stringify({ every: '1h', workflow: { type: 'blink' }, overlap: 'bufferOne' });
    const created = await runCli(['schedule', 'create', 'hourly', '--spec', spec], cliEnv);
    expect([created.code, created.err]).toEqual([0, []]);
    const described = await runCli(['schedule', 'describe', 'hourly'], cliEnv);
    expect(described.lines[0]).toMatchObject({ id: 'hourly', spec: { every: '1h', overlap: 'bufferOne' } });
    expect(described.lines[0]?.nextTicks).toHaveLength(10);
    const listed = await runCli(['schedules'], cliEnv);
    expect(listed.lines.map((l) => l.id)).toContain('hourly');
    const bad = await runCli(['schedule', 'update', 'hourly', '--spec', '{"every":"soon"}'], cliEnv);
    expect(bad.code).not.toBe(0);
    const error = (JSON.parse(bad.err[0] ?? '{}') as { error?: { code: string; message: string } }).error;
    expect(error?.code).toBe('INVALID_INPUT');
    expect(error?.message).toMatch(/every "soon" is not milliseconds or a duration/);
    expect((await runCli(['schedule', 'delete', 'hourly'], cliEnv)).lines[0]).toEqual({ id: 'hourly', deleted: true });
  });

  it('refuses bad input with errors that name it', async () => {
    await expect(client.schedules.create('bad', { cron: '61 * * * *', workflow: { type: 'blink' } })).rejects.toThrow(
      /cron "61 \* \* \* \*" is not a valid cron expression/,
    );
    await expect(
      client.schedules.create('bad', { cron: '0 * * * *', timezone: 'Mars/Base', workflow: { type: 'blink' } }),
    ).rejects.toThrow(/Mars\/Base" is not a known IANA time zone/);
    await expect(client.schedules.describe('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await client.schedules.create('dup', { every: '1h', workflow: { type: 'blink' } });
    // The same create again (a lost reply, retried) is fine; a different spec is a conflict.
    await client.schedules.create('dup', { every: '1h', workflow: { type: 'blink' } });
    await expect(client.schedules.create('dup', { every: '2h', workflow: { type: 'blink' } })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await expect(client.schedules.update('dup', { overlap: 'never' as 'skip' })).rejects.toThrow(
      /overlap must be one of/,
    );
    await expect(client.schedules.backfill('dup', { from: 10, to: 5 })).rejects.toThrow(/to must not be before from/);
    await client.schedules.update('dup', { cron: '0 3 * * *', timezone: 'Europe/Berlin' });
    const d = await client.schedules.describe('dup');
    expect(d.spec).toMatchObject({ cron: '0 3 * * *', timezone: 'Europe/Berlin' });
    expect(d.spec.every).toBeUndefined();
    expect(d.nextTicks).toHaveLength(10);
  });
});
