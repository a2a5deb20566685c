/**
 * `squall replay --history <workflowId>` against real servers: the run's history is read from
 * MongoDB and replayed under unchanged and changed definitions; `squall history` output saved to
 * a file replays the same way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouterHandle, startRouter } from '../../../services/router/router.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { silentLogger } from '../../../shared/log.js';
import { greetV1 } from '../../fixtures/versioning/machines.js';
import { runCli as runCliIn } from '../../harness/cli.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl } from '../../harness/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'squall-replay-it-'));
let router: RouterHandle;
let client: SquallClient;
let env: Record<string, string>;

beforeAll(async () => {
  const prefix = freshPrefix();
  const dbName = freshDbName();
  env = { NATS_URL: natsUrl(), MONGO_URL: mongoUrl(), SQUALL_PREFIX: prefix, SQUALL_DB: dbName };
  router = await startRouter({
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    prefix,
    dbName,
    workflows: [greetV1],
    log: silentLogger,
  });
  client = await connect({ servers: natsUrl(), prefix });
});
afterAll(async () => {
  await client.close();
  await router.stop();
  rmSync(dir, { recursive: true, force: true });
});

const runCli = (argv: string[]) => runCliIn(argv, env);

describe('squall replay --history <workflowId>', () => {
  it('replays a finished run from MongoDB: ok unchanged, NondeterminismError when changed', async () => {
    const started = await client.start('greet', undefined, { workflowId: 'greet-replay' });
    await client.signal('greet-replay', { type: 'finish' });
    await client.result('greet-replay', { runId: started.runId, timeoutMs: 20_000 });

    const ok = await runCli(['replay', '--workflows', 'tests/fixtures/versioning/v1.ts', '--history', 'greet-replay']);
    expect(ok.err).toEqual([]);
    expect(ok.code).toBe(0);
    expect(ok.lines).toEqual([
      {
        ok: true,
        workflowId: 'greet-replay',
        runId: started.runId,
        workflowType: 'greet',
        version: 1,
        commits: 2,
        status: 'completed',
        lastSeq: 2,
        output: { version: 1, greeting: 'hello' },
      },
    ]);

    const byRun = await runCli([
      'replay',
      '--workflows',
      'tests/fixtures/versioning/v1-changed.ts',
      '--history',
      'greet-replay',
      '--run',
      started.runId,
    ]);
    expect(byRun.code).toBe(1);
    expect(byRun.lines[0]).toMatchObject({
      ok: false,
      runId: started.runId,
      error: { code: 'NONDETERMINISM', details: { seq: 1, index: 1 } },
    });

    // What `squall history` prints is a history file `squall replay` takes.
    const history = await runCli(['history', 'greet-replay']);
    expect(history.code).toBe(0);
    const file = path.join(dir, 'greet-replay.jsonl');
    writeFileSync(file, `${history.out.join('\n')}\n`);
    const fromFile = await runCli(['replay', '--workflows', 'tests/fixtures/versioning/v1.ts', '--history', file]);
    expect(fromFile.code).toBe(0);
    expect(fromFile.lines).toEqual(ok.lines);
  });

  it('exits 1 with NOT_FOUND for a workflowId with no run', async () => {
    const r = await runCli(['replay', '--workflows', 'tests/fixtures/versioning/v1.ts', '--history', 'no-such-run']);
    expect(r.code).toBe(1);
    expect(r.lines).toEqual([]);
    expect(JSON.parse(r.err[0] as string)).toMatchObject({
      error: { code: 'NOT_FOUND', message: expect.stringContaining('no run of workflowId no-such-run') },
    });
  });
});
