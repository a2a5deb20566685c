import { describe, expect, it } from 'vitest';
import { nonRetryable } from '../../../shared/engine/index.js';
import { NondeterminismError } from '../../../shared/errors.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { changedOrderWorkflow, orderWorkflow, sequenceWorkflow } from '../../fixtures/workflows.js';

const input = { orderId: 'o-7', amount: 990, approvalTimeoutMs: 60_000 };

describe('createTestRun', () => {
  it('runs the README order: charge, approve, ship + email, output', async () => {
    const seen: unknown[] = [];
    const run = await createTestRun(orderWorkflow, {
      input,
      activities: {
        chargeCard: (i: unknown) => {
          seen.push(i);
          return { chargeId: 'ch_1' };
        },
        shipOrder: async () => ({ trackingNumber: 'T' }),
        sendEmail: { messageId: 'm' },
      },
    });
    expect(seen).toEqual([{ orderId: 'o-7', amount: 990 }]);
    expect(run.value).toBe('awaitingApproval');
    expect(run.emitted).toEqual([{ type: 'orderCharged', orderId: 'o-7' }]);
    await run.signal({ type: 'approve' });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ orderId: 'o-7', charged: true, shipped: true, emailed: true, status: 'fulfilled' });
    expect(run.replay()).toEqual(run.state);
  });

  it('rejects and times out on the virtual clock', async () => {
    const rejected = await createTestRun(orderWorkflow, { input, activities: { chargeCard: 'ok' } });
    await rejected.signal({ type: 'reject' });
    expect(rejected.output).toMatchObject({ status: 'rejected', shipped: false });

    const late = await createTestRun(orderWorkflow, { input, start: 5, activities: { chargeCard: 'ok' } });
    expect(await late.skipToNextTimer()).toBe(true);
    expect(late.now).toBe(60_005);
    expect(late.output).toMatchObject({ status: 'timedOut' });
    expect(await late.skipToNextTimer()).toBe(false);
  });

  it('fails the payment with an Error stub or a throwing function', async () => {
    const a = await createTestRun(orderWorkflow, { input, activities: { chargeCard: new Error('declined') } });
    expect(a.output).toMatchObject({ status: 'paymentFailed', charged: false });
    const b = await createTestRun(orderWorkflow, {
      input,
      activities: {
        chargeCard: async () => {
          throw new Error('declined');
        },
      },
    });
    // chargeCard may take 5 attempts: four retries, 1 s, 2 s, 4 s and 8 s apart on the virtual clock.
    expect(b.output).toMatchObject({ status: 'paymentFailed', charged: false });
    const failures = b.history.map((c) => c.events[0]!).filter((e) => e.type === 'ActivityFailed');
    expect(failures.map((e) => (e as { attempt?: number }).attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(failures[0]).toMatchObject({ error: { message: 'declined' } });
    expect(b.now).toBe(15_000);
  });

  it('leaves unstubbed activities pending for manual completion', async () => {
    const run = await createTestRun(orderWorkflow, { input, activities: { chargeCard: 'ok' } });
    await run.signal({ type: 'approve' });
    expect(run.pendingActivities().map((a) => a.activity)).toEqual(['shipOrder', 'sendEmail']);
    await run.fail('sendEmail', new Error('smtp down'));
    expect(run.status).toBe('running'); // retried under the default policy, 1 s later
    expect(run.pendingTimers()[0]).toMatchObject({ sendId: 'squall.activity.4.retry', fireAt: 1000 });
    await run.fail('shipOrder', nonRetryable(new Error('no carrier')));
    expect(run.output).toMatchObject({ status: 'fulfillmentFailed' });
    expect(run.commands.filter((c) => c.kind === 'cancelActivity')).toEqual([
      { kind: 'cancelActivity', activitySeq: 4, activity: 'sendEmail', reason: 'cancelled' },
    ]);
    await expect(run.complete('sendEmail', 1)).rejects.toThrow(/no pending activity sendEmail/);
  });

  it('advanceTo refuses to go back in time; runToEnd stops when nothing is left', async () => {
    const run = await createTestRun(sequenceWorkflow, { start: 100, autoRun: false });
    await expect(run.advanceTo(50)).rejects.toThrow(/back/);
    await run.runToEnd();
    expect(run.status).toBe('running');
    expect(run.pendingActivities()).toHaveLength(1);
  });

  it('replay() of a history under a changed machine throws NondeterminismError', async () => {
    const run = await createTestRun(orderWorkflow, { input, activities: { chargeCard: 'ok' } });
    const { replayHistory } = await import('../../../shared/testing/index.js');
    expect(() => replayHistory(changedOrderWorkflow, run.history)).toThrow(NondeterminismError);
  });
});
