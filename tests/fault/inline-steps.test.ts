/**
 * An inline step across a router crash: the router is SIGKILLed while it runs the step (the step
 * blocks until the test releases it). Before the chain's budget ran out nothing is stored and a
 * restarted router takes the start again when its ack wait runs out; after it, the start commit
 * is stored with the step pending and its startToClose timer (5 s) runs it again. Either way the
 * step runs again, the run completes exactly once, and the history replays cleanly.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../shared/client/index.js';
import { replayCommits } from '../../shared/engine/index.js';
import { createMongoStore, type StoredCommit } from '../../shared/store/index.js';
import { type ServiceEnv, startService } from '../e2e/processes.js';
import { inlineBlocking, inlineBlockingOnce } from '../fixtures/inline-workflows.js';
import { connectMongo, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { trackForFile } from '../harness/resources.js';

const ARGS = [
  'router',
  '--workflows',
  'tests/fixtures/inline-workflows.ts',
  '--activities',
  'tests/fixtures/inline-activities.ts',
];

/** Attempts the blocking step began so far (one line each). */
function runsIn(dir: string, workflowId: string): string[] {
  try {
    return readFileSync(join(dir, `${workflowId}.runs`), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * Starts a timer service and a router, starts `workflowType` as `workflowId`, SIGKILLs the router
 * once the blocking step began, and starts a second router. The caller closes the client.
 */
async function killMidStep(workflowType: string, workflowId: string) {
  const dir = mkdtempSync(join(tmpdir(), 'squall-inline-'));
  trackForFile(async () => rmSync(dir, { recursive: true, force: true }));
  const env: ServiceEnv = {
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    prefix: freshPrefix(),
    dbName: freshDbName(),
    extra: { SQUALL_TEST_INLINE_DIR: dir },
  };
  await startService('timer', ['timer'], env);
  const first = await startService('router-1', ARGS, env);
  const client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  await client.start(workflowType, undefined, { workflowId });
  await waitFor('the step to start in router 1', () => runsIn(dir, workflowId).length === 1, { timeoutMs: 20_000 });
  first.kill('SIGKILL');
  await first.exited;
  await startService('router-2', ARGS, env);
  return { dir, env, client };
}

describe('inline steps across a router crash', () => {
  it('SIGKILL mid-step: the input is redelivered, the step runs again, the run completes once', async () => {
    const workflowId = 'inline-crash-1';
    const { dir, env, client } = await killMidStep('inlineBlocking', workflowId);
    try {
      // The start comes back after the killed router's ack wait (30 s), or the step's timer fires.
      await waitFor('the step to start again in router 2', () => runsIn(dir, workflowId).length >= 2, {
        timeoutMs: 60_000,
      });
      writeFileSync(join(dir, `${workflowId}.release`), '');
      expect(await client.result(workflowId, { timeoutMs: 20_000 })).toEqual(['released']);

      const store = createMongoStore(await connectMongo(), { dbName: env.dbName, collectionPrefix: env.prefix });
      const rec = await store.getRunByWorkflowId(workflowId);
      const commits: StoredCommit[] = [];
      for await (const c of store.loadHistory(rec?.runId ?? 'none')) commits.push(c);
      const events = commits.flatMap((c) => c.events);
      expect(events.filter((e) => e.type === 'RunStarted')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'ActivityCompleted')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'RunCompleted')).toHaveLength(1);
      expect(replayCommits(inlineBlocking, commits)).toEqual(rec?.state);
      expect(runsIn(dir, workflowId).length).toBeGreaterThanOrEqual(2);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('at most once: SIGKILL mid-step; attempt 1 is never run again, its startToClose fails it and attempt 2 runs', async () => {
    const workflowId = 'inline-once-1';
    const { dir, env, client } = await killMidStep('inlineBlockingOnce', workflowId);
    try {
      await waitFor('attempt 2 to start in router 2', () => runsIn(dir, workflowId).length >= 2, { timeoutMs: 60_000 });
      writeFileSync(join(dir, `${workflowId}.release`), '');
      expect(await client.result(workflowId, { timeoutMs: 20_000 })).toEqual(['released']);
      expect(runsIn(dir, workflowId).map((line) => line.split(' ')[1])).toEqual(['1', '2']);

      const store = createMongoStore(await connectMongo(), { dbName: env.dbName, collectionPrefix: env.prefix });
      const rec = await store.getRunByWorkflowId(workflowId);
      const commits: StoredCommit[] = [];
      for await (const c of store.loadHistory(rec?.runId ?? 'none')) commits.push(c);
      const events = commits.flatMap((c) => c.events);
      expect(events.filter((e) => e.type === 'ActivityTimedOut')).toMatchObject([
        { attempt: 1, timeoutType: 'startToClose' },
      ]);
      expect(events.filter((e) => e.type === 'RunCompleted')).toHaveLength(1);
      expect(replayCommits(inlineBlockingOnce, commits)).toEqual(rec?.state);
    } finally {
      await client.close();
    }
  }, 120_000);
});
