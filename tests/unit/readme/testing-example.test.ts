/** The README's "Testing workflows" example, kept true by running it. */
import { describe, expect, it } from 'vitest';
import { orderWorkflow } from '../../../examples/order/workflows.js';
import { createTestRun, replayHistory } from '../../../shared/testing/index.js';

describe('README: testing workflows', () => {
  it('drives the order workflow with stubs, a signal and the virtual clock', async () => {
    const run = await createTestRun(orderWorkflow, {
      input: { orderId: 'o-1', amount: 4200 },
      activities: {
        chargeCard: { chargeId: 'ch_1' },
        shipOrder: { carrier: 'UPS' },
        sendEmail: new Error('smtp down'),
      },
    });
    expect(run.value).toBe('awaitingApproval');
    await run.signal({ type: 'approve' });
    expect(run.output).toMatchObject({ status: 'fulfillmentFailed' });

    const late = await createTestRun(orderWorkflow, {
      input: { orderId: 'o-2', amount: 1 },
      activities: { chargeCard: {} },
    });
    await late.skipToNextTimer();
    expect(late.output).toMatchObject({ status: 'timedOut' });

    expect(replayHistory(orderWorkflow, run.history)).toEqual(run.state);
  });
});
