import { afterEach, describe, expect, it } from 'vitest';
import { freshStore, newRunId, sampleState, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

describe('store: versions of open runs', () => {
  it('counts open runs per (type, version), sorted, leaving closed runs out', async () => {
    t = await freshStore();
    expect(await t.store.openRunVersions()).toEqual([]);
    await t.store.saveRuns([
      sampleState(newRunId(), { workflowType: 'b', version: 1 }),
      sampleState(newRunId(), { workflowType: 'a', version: 2 }),
      sampleState(newRunId(), { workflowType: 'a', version: 1 }),
      sampleState(newRunId(), { workflowType: 'a', version: 2 }),
      sampleState(newRunId(), { workflowType: 'a', version: 3, status: 'completed' }),
    ]);
    expect(await t.store.openRunVersions()).toEqual([
      { workflowType: 'a', version: 1, runs: 1 },
      { workflowType: 'a', version: 2, runs: 2 },
      { workflowType: 'b', version: 1, runs: 1 },
    ]);
  });
});
