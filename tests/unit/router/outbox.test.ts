/**
 * The outbox over the in-memory store, where it costs no write: a decision resolves only once its
 * commands are published (a failed publish fails it, so its input is redelivered, not acked), and
 * a redelivered input that finds itself in its run republishes what the run stored since it
 * arrived, in seq order, a closed run's summary first.
 */
import { describe, expect, it } from 'vitest';
import { settledTasks } from '../../../services/router/outbox.js';
import type { Command, PendingActivity, RunState } from '../../../shared/engine/types.js';
import { UnavailableError } from '../../../shared/errors.js';
import type { Store } from '../../../shared/store/types.js';
import { deciderBench, historyOf } from './over-memory.js';

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

/** The activitySeq of the task a run's latest commit scheduled. */
async function scheduled(store: Store, runId: string): Promise<number> {
  const cmd = (await historyOf(store, runId)).at(-1)?.commands.find((c) => c.kind === 'scheduleActivity');
  return cmd?.kind === 'scheduleActivity' ? cmd.activitySeq : -1;
}

describe('the outbox', () => {
  it('a publish that fails after the commit is stored fails the decision; the redelivery republishes, once', async () => {
    const { decider, store, clock, published, failPublish } = deciderBench();
    const started = await decider.process(start('sequence', 'ob-1'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    clock.t += 60_000;
    const arrived = clock.now();
    const input = result(runId, 'ob-1', await scheduled(store, runId));
    failPublish.on = true;
    const first = decider.process(input, { startKey: 'ev/1' });
    await expect(first).rejects.toBeInstanceOf(UnavailableError);
    await expect(first).rejects.toMatchObject({ retryable: true });
    expect((await historyOf(store, runId)).map((c) => c.seq)).toEqual([1, 2]);
    failPublish.on = false;
    published.length = 0;
    clock.t += 5_000;
    // The redelivered result finds its step settled (recorded as ignored, moving nothing) and
    // republishes what its first delivery stored: the task of the next step, in seq order.
    const again = await decider.process(input, { startKey: 'ev/1', redelivered: true, foundInSince: arrived });
    expect(again).toMatchObject({ kind: 'applied', ignored: expect.any(String) });
    const tasks = published.filter((m) => m.msgId.endsWith(':0')).map((m) => m.msgId);
    expect(tasks[0]).toBe(`${runId}:2:0`);
    expect(published.map((m) => m.msgId)).not.toContain(`${runId}:1:0`); // the start is older than the message
    // Found in its run with no time it may have been decided since (the router's handler always
    // gives one, see inputTimes), an input republishes nothing.
    published.length = 0;
    await decider.process(input, { startKey: 'ev/1' });
    expect(published).toEqual([]);
  });

  it('a closed run: its summary is written before its completion is republished', async () => {
    const { decider, store, clock, published } = deciderBench();
    const started = await decider.process(start('steps', 'ob-2'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    await decider.process(signal('ob-2', 'next'), { startKey: 'e/2', msgId: 'sig-1' });
    const arrived = clock.now();
    // The closing decision's summary write fails: nothing is published and the decision fails.
    const saveRuns = store.saveRuns.bind(store);
    const saveRun = store.saveRun.bind(store);
    store.saveRuns = async () => {
      throw new UnavailableError('the store is away (test)');
    };
    await expect(decider.process(signal('ob-2', 'finish'), { startKey: 'e/3', msgId: 'sig-2' })).rejects.toThrow();
    expect(published.map((m) => m.msgId)).not.toContain(`${runId}:3:0`);
    expect((await store.getRun(runId))?.status).toBe('running');
    store.saveRuns = saveRuns;
    // The order of the redelivery's summary write and its publishes.
    const order: string[] = [];
    store.saveRun = async (state, extra) => {
      order.push(`summary ${state.status}`);
      return saveRun(state, extra);
    };
    const push = published.push.bind(published);
    published.push = (...ms) => {
      for (const m of ms) order.push(`publish ${m.msgId}`);
      return push(...ms);
    };
    const again = await decider.process(signal('ob-2', 'finish'), {
      startKey: 'e/3',
      msgId: 'sig-2',
      redelivered: true,
      foundInSince: arrived,
    });
    expect(again).toMatchObject({ kind: 'dropped', why: 'duplicate' });
    expect(order).toEqual(['summary completed', `publish ${runId}:3:0`]);
    expect(await store.getRun(runId)).toMatchObject({ status: 'completed', lastSeq: 3 });
  });

  it('a redelivered start whose run exists republishes its start commit', async () => {
    const { decider, clock, published, failPublish } = deciderBench();
    const arrived = clock.now();
    failPublish.on = true;
    await expect(decider.process(start('sequence', 'ob-4'), { startKey: 'e/1' })).rejects.toBeInstanceOf(
      UnavailableError,
    );
    failPublish.on = false;
    clock.t += 30_000; // the ack wait: decided again, the start conflicts with the stored one
    const again = await decider.process(start('sequence', 'ob-4'), {
      startKey: 'e/1',
      redelivered: true,
      foundInSince: arrived,
    });
    expect(again).toMatchObject({ kind: 'started', created: true });
    const runId = again.kind === 'started' ? again.runId : '';
    expect(published.map((m) => m.msgId)).toEqual([`${runId}:1:0`]);
  });

  it('a redelivery republishes only the tasks its run still waits on, not those whose results are recorded', async () => {
    const { decider, store, clock, published } = deciderBench();
    const arrived = clock.now();
    const started = await decider.process(start('sequence', 'ob-6'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    // Steps a and b finish; step c's task (commit 3) is out and its result not yet in.
    for (const key of ['ev/1', 'ev/2']) {
      await decider.process(result(runId, 'ob-6', await scheduled(store, runId)), { startKey: key });
    }
    expect((await historyOf(store, runId)).map((c) => c.seq)).toEqual([1, 2, 3]);
    published.length = 0;
    // The start comes back long after (past JetStream's duplicate window): sending the tasks of
    // steps a and b again would run them a second time.
    clock.t += 10 * 60_000;
    const again = await decider.process(start('sequence', 'ob-6'), {
      startKey: 'e/1',
      redelivered: true,
      foundInSince: arrived,
    });
    expect(again).toMatchObject({ kind: 'started', runId });
    expect(published.map((m) => m.msgId)).toEqual([`${runId}:3:0`]);
    // Once step c's result is recorded, the run waits on no task: nothing goes out again.
    await decider.process(result(runId, 'ob-6', 3), { startKey: 'ev/3' });
    published.length = 0;
    await decider.process(start('sequence', 'ob-6'), {
      startKey: 'e/1',
      redelivered: true,
      foundInSince: arrived,
    });
    expect(published.map((m) => m.msgId)).toEqual([`${runId}:4:0`]); // its completion alone
  });

  it('a republish that fails fails the redelivered input as retryable: never a start failure for its caller', async () => {
    const { decider, clock, published, failPublish } = deciderBench();
    const arrived = clock.now();
    await decider.process(start('sequence', 'ob-5'), { startKey: 'e/1' });
    failPublish.on = true;
    clock.t += 30_000;
    const again = decider.process(start('sequence', 'ob-5'), {
      startKey: 'e/1',
      redelivered: true,
      foundInSince: arrived,
    });
    await expect(again).rejects.toBeInstanceOf(UnavailableError);
    await expect(again).rejects.toMatchObject({ retryable: true });
    failPublish.on = false;
    published.length = 0;
    await expect(
      decider.process(start('sequence', 'ob-5'), { startKey: 'e/1', redelivered: true, foundInSince: arrived }),
    ).resolves.toMatchObject({ kind: 'started', created: true });
    expect(published).toHaveLength(1);
  });
});

describe('settledTasks: which task commands a republish leaves out', () => {
  const policy = { retry: { maximumAttempts: 3 } } as PendingActivity['policy'];
  const task = (activitySeq: number, attempt?: number): Command => ({
    kind: 'scheduleActivity',
    activitySeq,
    activity: 'a',
    invokeId: `i${activitySeq}`,
    ...(attempt === undefined ? {} : { attempt }),
  });
  const runWaitingOn = (pending: Partial<PendingActivity>, status: RunState['status'] = 'running') =>
    ({
      status,
      activities: {
        i1: { activitySeq: 1, activity: 'a', invokeId: 'i1', scheduledAt: 0, policy, attempt: 1, ...pending },
      },
    }) as unknown as RunState;
  const cmds = [task(1, 1), { kind: 'scheduleTimer', timerSeq: 9, fireAt: 5 } as Command, task(1, 2), task(2, 1)];

  it('keeps the attempt the run waits on and every other command', () => {
    expect([...settledTasks(runWaitingOn({}), cmds)]).toEqual([2, 3]);
    expect([...settledTasks(runWaitingOn({ attempt: 2 }), cmds)]).toEqual([0, 3]);
  });
  it('leaves out an attempt that reported its start, one waiting for its retry, and those of a closed run', () => {
    expect([...settledTasks(runWaitingOn({ startedAt: 1 }), cmds)]).toEqual([0, 2, 3]);
    expect([...settledTasks(runWaitingOn({ timers: { retry: { timerSeq: 4, fireAt: 9 } } }), cmds)]).toEqual([0, 2, 3]);
    expect([...settledTasks(runWaitingOn({}, 'completed'), cmds)]).toEqual([0, 2, 3]);
  });
  it('an activity recorded before policies has one attempt: its task is owed while it is pending', () => {
    const legacy = {
      status: 'running',
      activities: { i1: { activitySeq: 1, activity: 'a', invokeId: 'i1', scheduledAt: 0 } },
    };
    expect([...settledTasks(legacy as unknown as RunState, [task(1), task(2)])]).toEqual([1]);
  });
});
