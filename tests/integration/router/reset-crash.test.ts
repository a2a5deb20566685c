/**
 * A reset across a router crash at each of its windows: right after the old run's terminate was
 * stored (before its closing summary), after that summary, after the new run claimed the workflowId, and after a prefix of the copied commits landed. The
 * crashed router's store calls fail from that point (its process is gone); the input is then
 * redelivered to a fresh router (an empty cache), which must finish the reset: exactly one live
 * run, the old one terminated once, the new one's history whole. RunDeciders over a real store.
 */
import { describe, expect, it } from 'vitest';
import { deriveRunId, RunDecider } from '../../../services/router/decider.js';
import { parseStart } from '../../../services/router/inputs.js';
import { WorkflowRegistry } from '../../../shared/engine/index.js';
import { silentLogger } from '../../../shared/log.js';
import { subjects } from '../../../shared/names.js';
import { createMongoStore, type Store } from '../../../shared/store/index.js';
import { loadCommits } from '../../chaos/invariants.js';
import { ledger } from '../../fixtures/branch/workflows.js';
import { connectMongo, freshDbName, freshPrefix } from '../../harness/index.js';

type Crash = 'terminate-stored' | 'after-terminate' | 'after-claim' | 'mid-copy';

/** The store as a router sees it until it dies at `crash`: from then on every call fails. */
function dyingAt(store: Store, crash: Crash): Store {
  let dead = false;
  const die = (): never => {
    dead = true;
    throw new Error(`router died (${crash})`);
  };
  const guard = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => {
    return async (...a: A): Promise<R> => {
      if (dead) die();
      return fn(...a);
    };
  };
  const wrapped: Store = Object.create(store);
  for (const key of ['getRun', 'loadHistory', 'saveRun', 'lastSeq', 'commitsSince'] as const) {
    const original = (store[key] as (...a: unknown[]) => unknown).bind(store);
    (wrapped as unknown as Record<string, unknown>)[key] = (...a: unknown[]) => {
      if (dead) die();
      return original(...a);
    };
  }
  wrapped.appendCommits = guard(async (commits) => {
    const results = await store.appendCommits(commits);
    // The old run's terminate is this router's first append: stored, its summary never written.
    if (crash === 'terminate-stored') die();
    return results;
  });
  wrapped.claimWorkflowIds = guard(async (claims) => {
    if (crash === 'after-terminate') die();
    return store.claimWorkflowIds(claims);
  });
  wrapped.appendChain = guard(async (commits) => {
    if (crash === 'after-claim') die();
    if (crash === 'mid-copy') {
      await store.appendChain(commits.slice(0, 1));
      die();
    }
    return store.appendChain(commits);
  });
  return wrapped;
}

async function withStore(body: (store: Store) => Promise<void>): Promise<void> {
  const mongo = await connectMongo();
  const dbName = freshDbName();
  const store = createMongoStore(mongo, { dbName, collectionPrefix: freshPrefix() });
  await store.init();
  try {
    await body(store);
  } finally {
    await mongo.db(dbName).dropDatabase();
    await mongo.close();
  }
}

function router(store: Store): RunDecider {
  return new RunDecider({
    store,
    registry: new WorkflowRegistry([ledger]),
    subjects: subjects(),
    publish: async () => undefined,
    log: silentLogger,
  });
}

describe('a reset whose router dies midway', () => {
  it.each<Crash>(['terminate-stored', 'after-terminate', 'after-claim', 'mid-copy'])(
    '%s: the redelivery finishes it, one live run',
    async (crash) => {
      await withStore(async (store) => {
        const first = router(store);
        const started = await first.process(parseStart('ledger', { workflowId: 'rc-1' }), {
          startKey: 'start',
          msgId: 'm-start',
        });
        const oldRun = (started as { runId: string }).runId;
        await first.process(
          {
            kind: 'run',
            workflowId: 'rc-1',
            runId: oldRun,
            decision: { kind: 'activityCompleted', activitySeq: 1, output: { n: 1, runId: oldRun } },
          },
          { startKey: 'result' },
        );
        await first.drain();

        const reset = parseStart('ledger', {
          workflowId: 'rc-1',
          from: { kind: 'reset', workflowId: 'rc-1', runId: oldRun, atSeq: 1 },
        });
        const meta = { startKey: 'reset', msgId: 'm-reset' };
        const doomed = router(dyingAt(store, crash));
        await expect(doomed.process(reset, meta)).rejects.toThrow(/router died/);
        // The old run's terminate was stored before the crash in every window.
        const terminated = (await loadCommits(store, oldRun)).at(-1)?.events[0]?.type;
        expect(terminated).toBe('TerminateRequested');

        const after = router(store);
        const outcome = await after.process(reset, { ...meta, redelivered: true, foundInSince: 0 });
        await after.drain();
        const newRun = deriveRunId('reset');
        expect(outcome).toMatchObject({ kind: 'started', workflowId: 'rc-1', runId: newRun, created: true });
        expect((await store.workflowIdHolder('rc-1'))?.runId).toBe(newRun);
        expect((await store.getRun(oldRun))?.status).toBe('terminated');
        const live = (await store.listRuns({ status: 'running' })).items.filter((r) => r.workflowId === 'rc-1');
        expect(live.map((r) => r.runId)).toEqual([newRun]);
        const old = await loadCommits(store, oldRun);
        expect(old.flatMap((c) => c.events).filter((e) => e.type === 'TerminateRequested')).toHaveLength(1);
        const copied = await loadCommits(store, newRun);
        expect(copied.map((c) => c.seq)).toEqual([1, 2]);
        expect(copied.map((c) => c.events[0]?.type)).toEqual(['RunStarted', 'RunBranched']);
        expect(copied[1]?.commands).toMatchObject([{ kind: 'scheduleActivity', activity: 'record', attempt: 1 }]);
      });
    },
  );
});
