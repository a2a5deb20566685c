/**
 * Versioning end to end, with routers as real processes: a v1 run stays on v1 across a router
 * upgrade to v1+v2 while new runs take v2, and a router started without a version open runs
 * still use refuses to start with a ConfigError naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRouter } from '../../services/router/router.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { createLogger } from '../../shared/log.js';
import { greetV2 } from '../fixtures/versioning/machines.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { type ServiceEnv, type ServiceProcess, spawnSquall, startService } from './processes.js';

const MODULES = {
  v1: 'tests/fixtures/versioning/v1.ts',
  v2: 'tests/fixtures/versioning/v2.ts',
  both: 'tests/fixtures/versioning/both.ts',
} as const;

let env: ServiceEnv;
let client: SquallClient;

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
});
afterAll(async () => {
  await client.close();
});

async function stop(p: ServiceProcess): Promise<void> {
  p.kill('SIGTERM');
  expect(await p.exited).toBe(0);
}

describe('workflow versions', () => {
  it('keeps a v1 run on v1 across an upgrade, starts new runs on v2, and refuses a router missing v1', async () => {
    const r1 = await startService('router-v1', ['router', '--workflows', MODULES.v1], env);
    const old = await client.start('greet', undefined, { workflowId: 'greet-old' });
    await waitFor('the v1 run to wait for finish', async () =>
      (await client.query('greet-old')).accepts.includes('finish') ? true : undefined,
    );
    expect(await client.describe('greet-old')).toMatchObject({ version: 1, status: 'running' });
    await stop(r1);

    // An upgrade that forgot v1: the router refuses, naming the version and its open runs.
    const refused = spawnSquall('router-v2-only', ['router', '--workflows', MODULES.v2], env);
    expect(await refused.exited).toBe(1);
    const errorLine = refused.logs.find((l) => typeof l.error === 'object' && l.error !== null) as
      | { error: { code: string; message: string; details: { missing: unknown[] } } }
      | undefined;
    expect(errorLine?.error.code).toBe('CONFIG');
    expect(errorLine?.error.message).toContain('greet v1 (1 open run)');
    expect(errorLine?.error.message).toContain('Registered: greet v2');
    expect(errorLine?.error.details.missing).toEqual([{ workflowType: 'greet', version: 1, runs: 1 }]);

    // The right upgrade: both versions side by side.
    const r2 = await startService('router-both', ['router', '--workflows', MODULES.both], env);
    const fresh = await client.start('greet', undefined, { workflowId: 'greet-new' });
    await waitFor('the v2 run to wait for finish', async () =>
      (await client.query('greet-new')).accepts.includes('finish') ? true : undefined,
    );
    expect(await client.query('greet-new')).toMatchObject({ version: 2, value: 'pending' });
    expect(await client.query('greet-old')).toMatchObject({ version: 1, value: 'waiting' });

    await client.signal('greet-old', { type: 'finish' });
    await client.signal('greet-new', { type: 'finish' });
    expect(await client.result('greet-old', { runId: old.runId, timeoutMs: 20_000 })).toEqual({
      version: 1,
      greeting: 'hello',
    });
    expect(await client.result('greet-new', { runId: fresh.runId, timeoutMs: 20_000 })).toEqual({
      version: 2,
      greeting: 'hi',
    });
    await stop(r2);

    // With no open run left, a router with only v2 starts fine.
    const r3 = await startService('router-v2-later', ['router', '--workflows', MODULES.v2], env);
    r3.kill('SIGTERM');
    // Right after its "started" line the CLI may not have installed its SIGTERM handler yet (the
    // default handler then ends it): either way it started, which is what this checks.
    expect([0, 'SIGTERM']).toContain(await r3.exited);
  });

  it('a router told to skip the check logs a run of a missing version once and leaves its inputs to others', async () => {
    const r1 = await startService('router-v1-again', ['router', '--workflows', MODULES.v1], env);
    const stuck = await client.start('greet', undefined, { workflowId: 'greet-stuck' });
    await waitFor('the v1 run to wait for finish', async () =>
      (await client.query('greet-stuck')).accepts.includes('finish') ? true : undefined,
    );
    await stop(r1);

    const lines: Record<string, unknown>[] = [];
    const log = createLogger({
      level: 'warn',
      sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    const partial = await startRouter({
      natsUrl: env.natsUrl,
      mongoUrl: env.mongoUrl,
      prefix: env.prefix,
      dbName: env.dbName,
      workflows: [greetV2],
      requireOpenRunVersions: false,
      log,
    });
    try {
      await client.signal('greet-stuck', { type: 'finish' });
      await waitFor('the missing version to be logged', () =>
        lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('a run uses a workflow version'))
          ? true
          : undefined,
      );
      const missing = lines.filter(
        (l) => typeof l.msg === 'string' && l.msg.startsWith('a run uses a workflow version'),
      );
      expect(missing).toHaveLength(1);
      expect(missing[0]).toMatchObject({ level: 'error', workflowType: 'greet', version: 1, registered: [2] });
    } finally {
      await partial.stop();
    }
    // The signal was kept, not parked: a router with v1 decides it.
    const r2 = await startService('router-both-again', ['router', '--workflows', MODULES.both], env);
    expect(await client.result('greet-stuck', { runId: stuck.runId, timeoutMs: 30_000 })).toEqual({
      version: 1,
      greeting: 'hello',
    });
    await stop(r2);
  });
});
