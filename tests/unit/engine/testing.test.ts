import { describe, expect, it } from 'vitest';
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
    expect(b.history[1]!.events[0]).toMatchObject({ type: 'ActivityFailed', error: { message: 'declined' } });
  });

  it('leaves unstubbed activities pending for manual completion', async () => {
    const run = await createTestRun(orderWorkflow, { input, activities: { chargeCard: 'ok' } });
    await run.signal({ type: 'approve' });
    expect(run.pendingActivities().map((a) => a.activity)).toEqual(['shipOrder', 'sendEmail']);
    await run.fail('sendEmail', new Error('smtp down'));
    expect(run.output).toMatchObject({ status: 'fulfillmentFailed' });
    expect(run.commands.at(-2)).toEqual({ kind: 'cancelActivity', activitySeq: 3, activity: 'shipOrder' });
    await expect(run.complete('shipOrder', 1)).rejects.toThrow(/no pending activity shipOrder/);
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
