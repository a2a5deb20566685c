/**
 * A signal whose commit was stored but whose append reply was lost (the store went away at that
 * moment): the router redelivers the signal, finds it among the run's recent inputs, and drops
 * it. The run counts it once; nothing is parked. An in-process router over real servers.
 */
import { describe, expect, it } from 'vitest';
import { RunDecider } from '../../../services/router/decider.js';
import { WorkflowRegistry } from '../../../shared/engine/index.js';
import { UnavailableError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/log.js';
import { subjects } from '../../../shared/names.js';
import { createMongoStore, type Store } from '../../../shared/store/index.js';
import { loadCommits } from '../../chaos/invariants.js';
import { readDeadLetters } from '../../e2e/dead-letters.js';
import { connectMongo, freshDbName, freshPrefix } from '../../harness/index.js';
import { routerWithStore, steps } from './helpers.js';

/** A RunDecider over a real store on a fresh database (no NATS: publishes go nowhere). */
async function withDecider(body: (decider: RunDecider, store: Store) => Promise<void>): Promise<void> {
  const mongo = await connectMongo();
  const dbName = freshDbName();
  const store = createMongoStore(mongo, { dbName, collectionPrefix: freshPrefix() });
  await store.init();
  try {
    const decider = new RunDecider({
      store,
      registry: new WorkflowRegistry([steps]),
      subjects: subjects(),
      publish: async () => undefined,
      log: silentLogger,
    });
    await body(decider, store);
    await decider.drain();
  } finally {
    await mongo.db(dbName).dropDatabase();
    await mongo.close();
  }
}

describe('an outside input redelivered after its commit was stored', () => {
  it('is recognised and dropped: the signal counts once', async () => {
    let lost = 0;
    const { store, client, nc, prefix, logs } = await routerWithStore(
      (real): Store => ({
        ...real,
        appendCommits: async (commits) => {
          const results = await real.appendCommits(commits);
          const addSignal = commits.some((c) =>
            c.events.some((e) => e.type === 'SignalReceived' && e.signal.type === 'add'),
          );
          if (addSignal && lost++ === 0) throw new UnavailableError('the reply was lost (test)');
          return results;
        },
      }),
    );
    const { runId } = await client.start('steps', undefined, { workflowId: 'rd-1' });
    await client.signal('rd-1', { type: 'add' });
    await client.signal('rd-1', { type: 'next' });
    await client.signal('rd-1', { type: 'finish' });
    await expect(client.result('rd-1', { timeoutMs: 20_000 })).resolves.toEqual({ finished: true, adds: 1 });
    expect(logs.map((l) => l.msg)).toContain('decision failed for a passing reason; redelivering');
    const signals = (await loadCommits(store, runId))
      .flatMap((c) => c.events)
      .filter((e) => e.type === 'SignalReceived')
      .map((e) => (e.type === 'SignalReceived' ? e.signal.type : ''));
    expect(signals).toEqual(['add', 'next', 'finish']);
    expect((await readDeadLetters(nc, prefix)).map((d) => `${d.reason} ${d.originalSubject} ${d.error}`)).toEqual([]);
  });

  it('is told from a late input when the run has closed since: duplicate, not closed', async () => {
    await withDecider(async (decider, store) => {
      const signal = (type: string, key: string) =>
        decider.process(
          { kind: 'run', workflowId: 'dup-1', decision: { kind: 'signal', event: { type } } },
          { startKey: key },
        );
      await decider.process(
        { kind: 'start', workflowType: 'steps', workflowId: 'dup-1', idReusePolicy: 'returnExisting' },
        { startKey: 'in/1' },
      );
      expect(await signal('add', 'in/2')).toMatchObject({ kind: 'applied' });
      // A result or firing comes on the events stream: its position there names another message.
      const runId = (await store.workflowIdHolder('dup-1'))?.runId ?? '';
      expect(
        await decider.process(
          { kind: 'run', runId, workflowId: 'dup-1', decision: { kind: 'timerFired', timerSeq: 9 } },
          { startKey: 'in/2' },
        ),
      ).toMatchObject({ kind: 'applied', ignored: 'stale' });
      expect(await signal('next', 'in/3')).toMatchObject({ kind: 'applied' });
      expect(await signal('finish', 'in/4')).toMatchObject({ kind: 'applied' });
      expect(await signal('add', 'in/2')).toMatchObject({ kind: 'dropped', why: 'duplicate' });
      expect(await signal('add', 'in/5')).toMatchObject({ kind: 'dropped', why: 'closed' });
      decider.evict(runId);
      expect(await signal('finish', 'in/4')).toMatchObject({ kind: 'dropped', why: 'duplicate' }); // from the store
    });
  });

  it('a start or a signal published again past the duplicate window finds what its first copy did', async () => {
    await withDecider(async (decider) => {
      // A new inbox position each time, as JetStream gives a copy it no longer deduplicates.
      const start = (position: number) =>
        decider.process(
          { kind: 'start', workflowType: 'steps', workflowId: 'late-1', idReusePolicy: 'returnExisting' },
          { startKey: `in/${position}`, msgId: 'start-late-1' },
        );
      const signal = (type: string, position: number, msgId: string) =>
        decider.process(
          { kind: 'run', workflowId: 'late-1', decision: { kind: 'signal', event: { type } } },
          { startKey: `in/${position}`, msgId },
        );
      const first = await start(1);
      expect(first).toMatchObject({ kind: 'started', created: true });
      expect(await signal('add', 2, 'add-1')).toMatchObject({ kind: 'applied' });
      expect(await signal('add', 3, 'add-1')).toMatchObject({ kind: 'dropped', why: 'duplicate' });
      expect(await start(4)).toMatchObject({
        kind: 'started',
        created: true,
        runId: (first as { runId: string }).runId,
      });
      await signal('next', 5, 'next-1');
      await signal('finish', 6, 'finish-1');
      // Closed now: the same start again still answers with this run instead of starting another.
      expect(await start(7)).toMatchObject({
        kind: 'started',
        created: true,
        runId: (first as { runId: string }).runId,
      });
      const again = await decider.process(
        { kind: 'start', workflowType: 'steps', workflowId: 'late-1', idReusePolicy: 'returnExisting' },
        { startKey: 'in/8', msgId: 'start-late-1-again' },
      );
      expect(again).toMatchObject({ kind: 'started', created: true });
    });
  });
});
