import { describe, expect, it } from 'vitest';
import type { ServiceHandle } from '../../../services/common/service.js';
import { startExecutor } from '../../../services/executor/executor.js';
import { decodeBody } from '../../../shared/bus/codec.js';
import type { Bus } from '../../../shared/bus/connect.js';
import type { ResultMessage, TaskMessage } from '../../../shared/bus/messages.js';
import { type ActivityContext, defineActivity } from '../../../shared/engine/activity.js';
import { consumerNames } from '../../../shared/names.js';
import { natsUrl, waitFor } from '../../harness/index.js';
import { collect, onCleanup, testBus } from '../bus/helpers.js';

function task(activity: string, n: number, input?: unknown): TaskMessage {
  return {
    runId: `run${n}`,
    workflowId: `wf${n}`,
    workflowType: 'order',
    activity,
    activitySeq: 7,
    invokeId: activity,
    input,
    attempt: 1,
    scheduledAt: Date.now(),
  };
}

async function publishTask(bus: Bus, t: TaskMessage): Promise<void> {
  await bus.publish(bus.subjects.task(t.activity), t, { msgId: `${t.runId}:1:0` });
}

function stopAfter(handle: ServiceHandle): ServiceHandle {
  onCleanup(() => handle.stop({ deadlineMs: 100 }));
  return handle;
}

/** A promise released from outside. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}

async function consumerIdle(bus: Bus, activity: string): Promise<boolean> {
  const info = await bus.jsm.consumers.info(bus.streams.tasks, consumerNames.activity(activity));
  return info.num_ack_pending === 0 && info.num_pending === 0;
}

describe('executor', () => {
  it('runs a task, publishes the result, then acks the task', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    let seenCtx: ActivityContext | undefined;
    stopAfter(
      await startExecutor({
        bus,
        activities: {
          add: (input, ctx) => {
            seenCtx = ctx;
            const { a, b } = input as { a: number; b: number };
            return a + b;
          },
        },
      }),
    );
    await publishTask(bus, task('add', 1, { a: 2, b: 3 }));
    const [r] = await waitFor('the result', () => results.length === 1 && results);
    expect(r?.subject).toBe(bus.subjects.result('run1'));
    expect(r?.headers?.get('Nats-Msg-Id')).toBe('result:run1:7:1');
    expect(r?.body).toEqual({ runId: 'run1', workflowId: 'wf1', activitySeq: 7, attempt: 1, ok: true, output: 5 });
    expect(seenCtx).toMatchObject({ activity: 'add', runId: 'run1', workflowId: 'wf1', activitySeq: 7, attempt: 1 });
    expect(seenCtx?.idempotencyKey).toBe('wf1/7');
    await waitFor('the task acked', () => consumerIdle(bus, 'add'));
    expect((await bus.jsm.streams.info(bus.streams.tasks)).state.messages).toBe(0);
  });

  it('reports a thrown error as ok:false with its name, message and code', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    class PaymentDeclined extends Error {
      code = 'DECLINED';
      override name = 'PaymentDeclined';
    }
    stopAfter(
      await startExecutor({
        bus,
        activities: [
          defineActivity('charge', () => {
            throw new PaymentDeclined('card expired');
          }),
          defineActivity('weird', () => Promise.reject('just a string')),
        ],
      }),
    );
    await publishTask(bus, task('charge', 1));
    await publishTask(bus, task('weird', 2));
    await waitFor('two results', () => results.length === 2);
    const byRun = new Map(results.map((r) => [(r.body as ResultMessage).runId, r.body as ResultMessage]));
    const charge = byRun.get('run1');
    expect(charge?.ok).toBe(false);
    if (charge?.ok === false) {
      expect(charge.error).toMatchObject({ name: 'PaymentDeclined', message: 'card expired', code: 'DECLINED' });
    }
    const weird = byRun.get('run2');
    expect(weird?.ok === false && weird.error).toMatchObject({ name: 'Error', message: 'just a string' });
    await waitFor('tasks acked', async () => (await consumerIdle(bus, 'charge')) && consumerIdle(bus, 'weird'));
  });

  it('never runs more tasks at once than its concurrency, across activities', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    let running = 0;
    let peak = 0;
    const work = async (): Promise<void> => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20)); // duration of the work, not a wait for correctness
      running--;
    };
    stopAfter(await startExecutor({ bus, concurrency: 3, activities: { a: work, b: work, c: work } }));
    const tasks = [];
    for (let i = 0; i < 30; i++) tasks.push(publishTask(bus, task(['a', 'b', 'c'][i % 3] as string, i)));
    await Promise.all(tasks);
    await waitFor('30 results', () => results.length === 30, { timeoutMs: 30_000 });
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThanOrEqual(2);
  });

  it('shares one durable consumer between two executors', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    const ran = new Map<string, string>();
    const bothBusy = gate();
    const make = (who: string) => async (_input: unknown, ctx: ActivityContext) => {
      ran.set(ctx.runId, who);
      if (new Set(ran.values()).size === 2) bothBusy.open();
      await bothBusy.wait; // each executor holds its one slot until the other has work too
      return who;
    };
    const prefix = bus.prefix;
    stopAfter(await startExecutor({ natsUrl: natsUrl(), prefix, concurrency: 1, activities: { job: make('A') } }));
    stopAfter(await startExecutor({ natsUrl: natsUrl(), prefix, concurrency: 1, activities: { job: make('B') } }));
    for (let i = 0; i < 6; i++) await publishTask(bus, task('job', i));
    await waitFor('6 results', () => results.length === 6, { timeoutMs: 20_000 });
    const outputs = new Set(results.map((r) => (r.body as { output: string }).output));
    expect(outputs).toEqual(new Set(['A', 'B']));
    expect(new Set(results.map((r) => (r.body as ResultMessage).runId)).size).toBe(6);
  });

  it('stop() lets in-flight work finish before closing', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    const release = gate();
    const started = gate();
    const exec = await startExecutor({
      bus,
      activities: {
        slow: async () => {
          started.open();
          await release.wait;
          return 'finished';
        },
      },
    });
    await publishTask(bus, task('slow', 1));
    await started.wait;
    let stopped = false;
    const stopping = exec.stop({ deadlineMs: 20_000 }).then(() => {
      stopped = true;
    });
    await waitFor('not ready', () => !exec.health().ready);
    expect(stopped).toBe(false);
    release.open();
    await stopping;
    await exec.closed;
    expect((await bus.jsm.streams.info(bus.streams.events)).state.messages).toBe(1); // published before stop() resolved
    // The PubAck came before stop() resolved; the collector's copy may still be on its way.
    await waitFor('the result', () => results.length === 1);
    expect(results.map((r) => (r.body as { output: string }).output)).toEqual(['finished']);
    await waitFor('the task acked', () => consumerIdle(bus, 'slow'));
  });

  it('aborts in-flight work at the stop deadline and gives the task back for another executor', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    const started = gate();
    let abortedWith: unknown;
    const first = await startExecutor({
      bus,
      activities: {
        stubborn: async (_i: unknown, ctx: ActivityContext) => {
          started.open();
          await new Promise<void>((resolve) =>
            ctx.signal.addEventListener('abort', () => {
              abortedWith = ctx.signal.reason;
              resolve();
            }),
          );
          return 'should not be published';
        },
      },
    });
    await publishTask(bus, task('stubborn', 1));
    await started.wait;
    await first.stop({ deadlineMs: 200 });
    expect(abortedWith).toBeInstanceOf(Error);
    stopAfter(
      await startExecutor({
        bus,
        activities: { stubborn: (_i: unknown, ctx: ActivityContext) => `second run, attempt ${ctx.attempt}` },
      }),
    );
    await waitFor('the redelivered task to finish', () => results.length >= 1);
    await waitFor('the task acked', () => consumerIdle(bus, 'stubborn'));
    expect(results.map((r) => (r.body as { output: unknown }).output)).toEqual(['second run, attempt 1']);
  });

  it('parks bad tasks on the DLQ with their reason and keeps working', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    const dead = await collect(bus, bus.streams.dlq, bus.subjects.all.dlq);
    const exec = stopAfter(await startExecutor({ bus, activities: { echo: (x: unknown) => x } }));
    const subject = bus.subjects.task('echo');
    // An array of two items holding one (0xC1 would read as a sealed payload: docs/security.md).
    await bus.publishBytes(subject, new Uint8Array([0x92, 0x01]), { msgId: 'bad:1' });
    await bus.publish(subject, { ...task('echo', 2), attempt: 0 }, { msgId: 'bad:2' });
    await bus.publish(subject, { ...task('echo', 3), activity: 'other' }, { msgId: 'bad:3' });
    await publishTask(bus, task('echo', 4, 'fine'));
    await waitFor('three dead letters', () => dead.length === 3);
    await waitFor('the good result', () => results.length === 1);
    expect(dead.map((d) => d.subject).sort()).toEqual(
      [bus.subjects.dlq('invalid-input'), bus.subjects.dlq('invalid-input'), bus.subjects.dlq('undecodable')].sort(),
    );
    const undecodable = dead.find((d) => d.subject === bus.subjects.dlq('undecodable'));
    expect(undecodable?.headers?.get('Squall-Original-Subject')).toBe(subject);
    expect(undecodable?.headers?.get('Squall-Error')).toMatch(/MessagePack/);
    expect([...(undecodable?.data ?? [])]).toEqual([0x92, 0x01]);
    const badAttempt = dead.find((d) => d.headers?.get('Nats-Msg-Id') === 'bad:2');
    expect(badAttempt?.headers?.get('Squall-Error')).toMatch(/'attempt'/);
    expect(results[0]?.body).toMatchObject({ output: 'fine' });
    await waitFor('nothing left on the consumer', () => consumerIdle(bus, 'echo'));
    expect(exec.health().details).toMatchObject({ deadLettered: 3 });
  });

  it('answers health requests from every instance', async () => {
    const bus = await testBus();
    const a = stopAfter(await startExecutor({ bus, id: 'exec-a', activities: { x: () => 1 } }));
    stopAfter(await startExecutor({ bus, id: 'exec-b', activities: { x: () => 1 } }));
    const replies = await bus.nc.requestMany(bus.subjects.health('executor'), undefined, {
      // nats.js honours the count strategy only without the request mux.
      strategy: 'count',
      noMux: true,
      maxMessages: 2,
      maxWait: 5_000,
    });
    const ids: string[] = [];
    for await (const m of replies) ids.push((decodeBody(m.data, m.headers, m.subject) as { id: string }).id);
    expect(ids.sort()).toEqual(['exec-a', 'exec-b']);
    expect(a.health()).toMatchObject({ live: true, ready: true });
  });
});
