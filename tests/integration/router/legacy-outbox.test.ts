/**
 * Upgrading a store an earlier version wrote, whose outbox collection still names a commit whose
 * commands never went out: a router drains it once at start (the run's summary first, then the
 * commit's commands), deletes the entries, and never creates the collection itself.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import { toCommit } from '../../../services/router/decisions.js';
import { startRouter } from '../../../services/router/router.js';
import { decide, type RunState, WorkflowRegistry } from '../../../shared/engine/index.js';
import { createLogger } from '../../../shared/log.js';
import { collectionNames, streamNames, subjects } from '../../../shared/names.js';
import { commitId, type OutboxDoc } from '../../../shared/store/documents.js';
import { createMongoStore, type StoredCommit } from '../../../shared/store/index.js';
import { connectMongo, connectNats, freshDbName, freshPrefix, natsUrl, waitFor } from '../../harness/index.js';
import { steps } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The commits of a `steps` run started, moved on and finished, as the engine decides them. */
function closedRun(runId: string, workflowId: string): { commits: StoredCommit[]; states: RunState[] } {
  const def = new WorkflowRegistry([steps]).latest('steps');
  if (!def) throw new Error('steps is not registered');
  const at = Date.now();
  let d = decide(def, undefined, { kind: 'start', at, workflowId, runId });
  const commits = [toCommit(d.state, d.events, d.commands)];
  const states = [d.state];
  for (const type of ['next', 'finish']) {
    d = decide(def, d.state, { kind: 'signal', at, event: { type } });
    commits.push(toCommit(d.state, d.events, d.commands));
    states.push(d.state);
  }
  return { commits, states };
}

describe('a store with an outbox an earlier version left', () => {
  it('is drained once at router start: summary first, then the commands, then the entries go', async () => {
    const prefix = freshPrefix();
    const dbName = freshDbName();
    const mongo = await connectMongo();
    const nc = await connectNats();
    cleanups.push(async () => {
      await nc.close();
      await mongo.db(dbName).dropDatabase();
      await mongo.close();
    });
    const store = createMongoStore(mongo, { dbName, collectionPrefix: prefix });
    await store.init();
    // The old router stored the closing commit and its entry, and died before the summary and publish.
    const runId = 'legacy-run-1';
    const { commits, states } = closedRun(runId, 'legacy-1');
    await store.appendCommits(commits);
    await store.saveRun(states[1] as RunState);
    const outbox = mongo.db(dbName).collection<OutboxDoc>(collectionNames(prefix).outbox);
    await outbox.insertOne({ _id: commitId(runId, 3), runId, seq: 3, at: Date.now() });

    const logs: Record<string, unknown>[] = [];
    const router = await startRouter({
      natsUrl: natsUrl(),
      store,
      prefix,
      workflows: [steps],
      log: createLogger({ level: 'info', sink: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) }),
    });
    cleanups.unshift(() => router.stop());

    const jsm = await jetstreamManager(nc);
    const done = await waitFor('the completion in the outcomes stream', () =>
      jsm.streams
        .getMessage(streamNames(prefix).outcomes, { last_by_subj: subjects(prefix).done('steps', 'legacy-1') })
        .catch(() => undefined),
    );
    expect(done?.header?.get('Nats-Msg-Id')).toBe(`${runId}:3:0`);
    // Summary first: once the completion is out, the run reads closed.
    expect((await store.getRun(runId))?.status).toBe('completed');
    await waitFor('the entries deleted', async () => (await outbox.countDocuments()) === 0);
    expect(logs.some((l) => l.msg === 'drained the outbox an earlier version left' && l.entries === 1)).toBe(true);
  });
});
