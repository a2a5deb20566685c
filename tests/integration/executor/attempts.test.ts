/**
 * One attempt's lifecycle against a real nats-server: cancel notices (heard live, or read back from
 * the notices stream for a late task), the delivery limit, and start and heartbeat reports.
 */
import { describe, expect, it } from 'vitest';
import type { ServiceHandle } from '../../../services/common/service.js';
import { startExecutor } from '../../../services/executor/executor.js';
import type { Bus } from '../../../shared/bus/connect.js';
import type { ActivityCancelMessage, TaskMessage } from '../../../shared/bus/messages.js';
import type { Clock } from '../../../shared/clock.js';
import type { ActivityContext } from '../../../shared/engine/activity.js';
import { CancelledError } from '../../../shared/errors.js';
import { consumerNames } from '../../../shared/names.js';
import { waitFor } from '../../harness/index.js';
import { collect, onCleanup, testBus } from '../bus/helpers.js';

function task(activity: string, attempt: number, extra: Partial<TaskMessage> = {}): TaskMessage {
  return {
    runId: 'run1',
    workflowId: 'wf1',
    workflowType: 'order',
    activity,
    activitySeq: 4,
    invokeId: activity,
    attempt,
    scheduledAt: 0,
    ...extra,
  };
}

async function publishTask(bus: Bus, t: TaskMessage): Promise<void> {
  await bus.publish(bus.subjects.task(t.activity), t, { msgId: `${t.runId}:${t.activitySeq}:${t.attempt}` });
}

async function publishNotice(bus: Bus, n: ActivityCancelMessage): Promise<void> {
  await bus.publish(bus.subjects.activityCancel(n.runId, n.activitySeq), n, {
    msgId: `cancel:${n.runId}:${n.activitySeq}:${n.attempt ?? 'all'}`,
  });
}

function stopAfter(handle: ServiceHandle): ServiceHandle {
  onCleanup(() => handle.stop({ deadlineMs: 100 }));
  return handle;
}

async function consumerIdle(bus: Bus, activity: string): Promise<boolean> {
  const info = await bus.jsm.consumers.info(bus.streams.tasks, consumerNames.activity(activity));
  return info.num_ack_pending === 0 && info.num_pending === 0;
}

describe('executor attempts', () => {
  it('a cancel notice aborts the running attempt; a task queued behind it is dropped, a later attempt runs', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    const ran: number[] = [];
    let abortedWith: unknown;
    const exec = stopAfter(
      await startExecutor({
        bus,
        concurrency: 1,
        activities: {
          wait: async (_i: unknown, ctx: ActivityContext) => {
            ran.push(ctx.attempt);
            if (ctx.attempt > 1) return `attempt ${ctx.attempt}`;
            await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
            abortedWith = ctx.signal.reason;
            throw abortedWith;
          },
        },
      }),
    );
    await publishTask(bus, task('wait', 1));
    await waitFor('attempt 1 to run', () => ran.length === 1);
    await publishNotice(bus, { runId: 'run1', workflowId: 'wf1', activitySeq: 4, attempt: 1, reason: 'timedOut' });
    await waitFor('attempt 1 to be aborted', () => abortedWith !== undefined);
    expect(abortedWith).toBeInstanceOf(CancelledError);
    // A copy of attempt 1 (as after a crash) is acked unrun; attempt 2 is past the notice and runs.
    await bus.publish(bus.subjects.task('wait'), task('wait', 1), { msgId: 'copy-of-attempt-1' });
    await publishTask(bus, task('wait', 2));
    await waitFor('two results', () => results.length === 2);
    await waitFor('the tasks acked', () => consumerIdle(bus, 'wait'));
    expect(ran).toEqual([1, 2]);
    expect(results.map((r) => (r.body as { attempt: number; ok: boolean }).ok)).toEqual([false, true]);
    expect(exec.health().details).toMatchObject({ dropped: 1, started: 2 });
  });

  it('a late task is checked against the notices stream (the injected clock says how late)', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    // Published before the executor listens: only the stream remembers it.
    await publishNotice(bus, { runId: 'run1', workflowId: 'wf1', activitySeq: 4, reason: 'cancelled' });
    const ran: number[] = [];
    const anHourAhead: Clock = { now: () => Date.now() + 3_600_000 };
    const exec = stopAfter(
      await startExecutor({
        bus,
        clock: anHourAhead,
        activities: { job: (_i: unknown, ctx: ActivityContext) => ran.push(ctx.attempt) },
      }),
    );
    await publishTask(bus, task('job', 3)); // first delivery, but an hour old by the executor's clock
    await waitFor('the task dropped', () => exec.health().details.dropped === 1);
    await waitFor('the task acked', () => consumerIdle(bus, 'job'));
    expect(ran).toEqual([]);
    expect(results).toEqual([]);
  });

  it('reports a task delivered more than maxDeliveries times as failed, without running it', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    let ran = 0;
    stopAfter(
      await startExecutor({
        bus,
        maxDeliveries: 0,
        activities: {
          crashy: () => {
            ran++;
          },
        },
      }),
    );
    await publishTask(bus, task('crashy', 1));
    await waitFor('the result', () => results.length === 1);
    await waitFor('the task acked', () => consumerIdle(bus, 'crashy'));
    expect(ran).toBe(0);
    expect(results[0]?.body).toMatchObject({ ok: false, attempt: 1, error: { details: { deliveries: 1 } } });
  });

  it('reports the start before running, then heartbeats with their details, then the result', async () => {
    const bus = await testBus();
    const seen = await collect(bus, bus.streams.events, bus.subjects.all.result);
    stopAfter(
      await startExecutor({
        bus,
        activities: {
          beat: (_i: unknown, ctx: ActivityContext) => {
            ctx.heartbeat({ page: 1 });
            return 'done';
          },
        },
      }),
    );
    await publishTask(bus, task('beat', 1, { reportStart: true, heartbeatTimeoutMs: 10_000 }));
    await waitFor('start, heartbeat and result', () => seen.length === 3);
    const [started, heartbeat, result] = seen;
    expect(started?.headers?.get('Nats-Msg-Id')).toBe('update:run1:4:1:0');
    expect(started?.body).toMatchObject({ update: 'started', attempt: 1 });
    expect(heartbeat?.body).toMatchObject({ update: 'heartbeat', details: { page: 1 } });
    expect(heartbeat?.headers?.get('Nats-Msg-Id')).toBe('update:run1:4:1:1');
    expect(result?.body).toMatchObject({ ok: true, output: 'done' });
  });
});
