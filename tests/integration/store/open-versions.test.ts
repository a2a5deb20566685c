import type { CommandStartedEvent } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { VERSION_STALE_MS } from '../../../shared/store/versions.js';
import { connectMongo } from '../../harness/index.js';
import { freshStore, newRunId, sampleState, type TestStore } from './helpers.js';

let t: TestStore;
afterEach(async () => {
  await t?.drop();
});

const v = (workflowType: string, version: number) => ({ workflowType, version });

describe('store: versions of open runs', () => {
  it('counts open runs per registered (type, version) outside those given, sorted, leaving closed runs out', async () => {
    t = await freshStore();
    expect(await t.store.openRunVersions()).toEqual([]);
    await t.store.registerVersions([v('a', 1), v('a', 2), v('a', 3), v('b', 1)]);
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
    // A router asks only about the versions it lacks.
    expect(await t.store.openRunVersions([v('a', 2), v('b', 1)])).toEqual([{ workflowType: 'a', version: 1, runs: 1 }]);
  });

  it('takes the same versions registered by several routers at once', async () => {
    t = await freshStore();
    // New versions each round: only a first registration inserts, and so races.
    for (let round = 1; round <= 10; round++) {
      const keys = [v('x', round), v('y', round)];
      await Promise.all(Array.from({ length: 4 }, () => t.store.registerVersions(keys)));
    }
    await t.store.saveRuns([sampleState(newRunId(), { workflowType: 'y', version: 1 })]);
    expect(await t.store.openRunVersions([v('x', 1)])).toEqual([{ workflowType: 'y', version: 1, runs: 1 }]);
  });

  it('reads the open runs of a store made before the registry once, and finds their versions', async () => {
    t = await freshStore();
    // Summaries written with no router having registered anything: a store of an older Squall.
    await t.store.saveRuns([
      sampleState(newRunId(), { workflowType: 'old', version: 4 }),
      sampleState(newRunId(), { workflowType: 'old', version: 4 }),
    ]);
    expect(await t.store.openRunVersions([v('old', 5)])).toEqual([{ workflowType: 'old', version: 4, runs: 2 }]);
    // Found once, kept: a later check finds them without scanning again.
    expect(await t.store.openRunVersions([v('old', 5)])).toEqual([{ workflowType: 'old', version: 4, runs: 2 }]);
  });

  it('costs one lookup per registered version it lacks, however many open runs use the versions it has', async () => {
    const commands: string[] = [];
    const client = await connectMongo(undefined, { monitorCommands: true });
    client.on('commandStarted', (e: CommandStartedEvent) => {
      const target = (e.command as Record<string, unknown>)[e.commandName];
      if (typeof target === 'string' && target.endsWith('_runs')) commands.push(e.commandName);
      if (e.commandName === 'getMore') commands.push('getMore');
    });
    t = await freshStore({}, client);
    await t.store.openRunVersions(); // the once-only read of an older store's open runs: nothing here
    await t.store.registerVersions([v('busy', 1), v('gone', 1)]);
    await t.store.saveRuns(
      Array.from({ length: 300 }, () => sampleState(newRunId(), { workflowType: 'busy', version: 1 })),
    );
    commands.length = 0;
    expect(await t.store.openRunVersions([v('busy', 1)])).toEqual([]);
    // One findOne for `gone` v1 (no open run); nothing read of the 300 `busy` runs.
    expect(commands).toEqual(['find']);
  });

  it('drops a version no router registered for a day once no open run uses it, and keeps a fresh one', async () => {
    let now = 1_800_000_000_000;
    t = await freshStore({ now: () => now });
    await t.store.registerVersions([v('w', 1), v('w', 2)]);
    const open = sampleState(newRunId(), { workflowType: 'w', version: 1 });
    await t.store.saveRuns([open]);
    now += VERSION_STALE_MS + 1;
    await t.store.registerVersions([v('w', 2)]); // a router still holds v2 (and v3 from now)
    // v1 is stale but an open run uses it: kept and reported.
    expect(await t.store.openRunVersions([v('w', 3)])).toEqual([{ workflowType: 'w', version: 1, runs: 1 }]);
    await t.store.saveRuns([{ ...open, status: 'completed', lastSeq: 2, closedAt: now }]);
    expect(await t.store.openRunVersions([v('w', 3)])).toEqual([]);
    const ids = (await t.client.db(t.dbName).collection(`${t.prefix}_versions`).find({}).toArray()).map((d) => d._id);
    expect(ids.sort()).toEqual(['w:2', '~scanned']);
  });
});
