/**
 * The outbox over the in-memory store: an entry per commit until its commands are out, the mark
 * that deletes it, the sweep that republishes what a failed publish left (in seq order, once
 * past the grace period), and the re-entry a redelivered input makes.
 */
import { describe, expect, it } from 'vitest';
import type { TaskMessage } from '../../../shared/bus/messages.js';
import { deciderBench, historyOf } from './over-memory.js';

const everything = { olderThan: Number.POSITIVE_INFINITY, limit: 100 };
const start = (workflowType: string, workflowId: string) =>
  ({ kind: 'start', workflowType, workflowId, idReusePolicy: 'returnExisting' }) as const;
const signal = (workflowId: string, type: string) =>
  ({ kind: 'run', workflowId, decision: { kind: 'signal', event: { type } } }) as const;
/** The result of the `activitySeq`-th activity of a `sequence` run. */
const result = (runId: string, workflowId: string, activitySeq: number) =>
  ({
    kind: 'run',
    runId,
    workflowId,
    decision: { kind: 'activityCompleted', activitySeq, attempt: 1, output: activitySeq },
  }) as const;

describe('the outbox', () => {
  it('holds an entry for each stored commit until its commands are published', async () => {
    const { decider, store, published, failPublish } = deciderBench();
    const started = await decider.process(start('sequence', 'ob-1'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    const first = published[0]?.body as TaskMessage;
    failPublish.on = true;
    // Stored, then its publish fails: the input is still applied (a redelivery would apply it twice).
    expect(await decider.process(result(runId, 'ob-1', first.activitySeq), { startKey: 'ev/1' })).toMatchObject({
      kind: 'applied',
      seq: 2,
    });
    await decider.drain();
    expect((await historyOf(store, runId)).map((c) => c.seq)).toEqual([1, 2]);
    expect((await store.findUnpublished(everything)).map((c) => c.seq)).toEqual([2]);
  });

  it('marking a commit published deletes its entry', async () => {
    const { decider, store, failPublish } = deciderBench();
    failPublish.on = true;
    // A start answers only once its first commands are out: this one fails, its commit stays entered.
    await expect(decider.process(start('sequence', 'ob-2'), { startKey: 'e/1' })).rejects.toThrow(/publish failed/);
    const [entry] = await store.findUnpublished(everything);
    expect(entry?.seq).toBe(1);
    failPublish.on = false;
    if (entry) await decider.outbox.publishCommit(entry, 'sequence', { awaitMark: true });
    expect(await store.findUnpublished(everything)).toEqual([]);
  });

  it('the sweep republishes commits left unpublished, per run in seq order, once past the grace', async () => {
    const { decider, store, clock, published, failPublish } = deciderBench();
    const started = await decider.process(start('sequence', 'ob-3'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    failPublish.on = true;
    for (const n of [1, 2, 3]) {
      // The activity the run's latest commit scheduled: its result is the next input.
      const scheduled = (await historyOf(store, runId)).at(-1)?.commands.find((c) => c.kind === 'scheduleActivity');
      const activitySeq = scheduled?.kind === 'scheduleActivity' ? scheduled.activitySeq : -1;
      await decider.process(result(runId, 'ob-3', activitySeq), { startKey: `ev/${n}` });
    }
    await decider.drain();
    failPublish.on = false;
    published.length = 0;
    expect((await store.findUnpublished(everything)).map((c) => c.seq)).toEqual([2, 3, 4]);

    await decider.outbox.sweep(10_000);
    expect(published).toEqual([]); // younger than the grace period: maybe still being published
    clock.t += 10_001;
    await decider.outbox.sweep(10_000);
    expect(published.map((m) => m.msgId)).toEqual([`${runId}:2:0`, `${runId}:3:0`, `${runId}:4:0`]);
    expect(await store.findUnpublished(everything)).toEqual([]);
    expect(await store.getRun(runId)).toMatchObject({ status: 'completed', lastSeq: 4 });
  });

  it('a redelivered input re-enters the commits its run stored since it arrived', async () => {
    const { decider, store, clock } = deciderBench();
    const started = await decider.process(start('steps', 'ob-4'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    clock.t += 1_000;
    const arrived = clock.now();
    await decider.process(signal('ob-4', 'add'), { startKey: 'e/2', msgId: 'sig-1' });
    await decider.drain();
    // As if the entry's insert had failed while the commit landed: a commit stored without one.
    await store.markPublished(runId, [2]);
    const again = await decider.process(signal('ob-4', 'add'), {
      startKey: 'e/2',
      msgId: 'sig-1',
      redeliveredSince: arrived,
    });
    expect(again).toMatchObject({ kind: 'dropped', why: 'duplicate' });
    expect((await store.findUnpublished(everything)).map((c) => c.seq)).toEqual([2]);
    // A first delivery found in history re-enters nothing: only a redelivery can follow a crash.
    await store.markPublished(runId, [2]);
    await decider.process(signal('ob-4', 'add'), { startKey: 'e/2', msgId: 'sig-1' });
    expect(await store.findUnpublished(everything)).toEqual([]);
  });
});
