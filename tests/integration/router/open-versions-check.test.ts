/**
 * The open run versions check runs once the router serves (it reads every open summary, which
 * grows with the store): a router missing a version open runs use starts, then stops itself,
 * logging the ConfigError that names what is missing; one that has every version keeps serving.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startRouter } from '../../../services/router/router.js';
import { createLogger } from '../../../shared/log.js';
import { stepsWorkflow as steps } from '../../fixtures/workflows.js';
import { mongoUrl, natsUrl, waitFor } from '../../harness/index.js';
import { freshStore, newRunId, sampleState, type TestStore } from '../store/helpers.js';

let t: TestStore;
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await t?.drop();
});

function capturingLogger(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: createLogger({ sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

describe('router: open run versions, checked after start', () => {
  it('stops a router that lacks a version open runs use, logging the ConfigError', async () => {
    t = await freshStore();
    await t.store.saveRuns([
      sampleState(newRunId(), { workflowType: 'sample', version: 7 }),
      sampleState(newRunId(), { workflowType: 'sample', version: 7 }),
    ]);
    const { log, lines } = capturingLogger();
    const router = await startRouter({
      natsUrl: natsUrl(),
      mongoUrl: mongoUrl(),
      dbName: t.dbName,
      prefix: t.prefix,
      log,
      workflows: [steps],
    });
    stops.push(() => router.stop());
    let closed = false;
    void router.closed.then(() => {
      closed = true;
    });
    await waitFor('the router to stop itself', () => closed || undefined, { timeoutMs: 20_000 });
    const refusal = lines.find((l) => typeof l.error === 'object' && l.error !== null) as
      | { error: { code: string; message: string; details: { missing: unknown[] } } }
      | undefined;
    expect(refusal?.error.code).toBe('CONFIG');
    expect(refusal?.error.message).toContain('sample v7 (2 open runs)');
    expect(refusal?.error.details.missing).toEqual([{ workflowType: 'sample', version: 7, runs: 2 }]);
    expect(router.health()).toMatchObject({ live: false, details: { versionsCheck: 'failed' } });
  });

  it('keeps a router serving when it registers every version open runs use', async () => {
    t = await freshStore();
    await t.store.saveRun(sampleState(newRunId(), { workflowType: steps.name, version: steps.version }));
    const router = await startRouter({
      natsUrl: natsUrl(),
      mongoUrl: mongoUrl(),
      dbName: t.dbName,
      prefix: t.prefix,
      log: createLogger({ sink: () => {} }),
      workflows: [steps],
    });
    stops.push(() => router.stop());
    await waitFor('the check to pass', () => router.health().details.versionsCheck === 'passed' || undefined, {
      timeoutMs: 20_000,
    });
    expect(router.health().live).toBe(true);
  });
});
