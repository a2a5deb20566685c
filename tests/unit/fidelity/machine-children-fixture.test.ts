/**
 * The end-to-end machine-children workflows (tests/fixtures/machine-children) under plain XState
 * and the test kit: what tests/e2e/machine-children.test.ts expects of the real processes.
 */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { createTestRun } from '../../../shared/testing/index.js';
import { REPLIER_DELAY_MS, waiter, waiterMachine } from '../../fixtures/machine-children/workflows.js';

describe('waiter and its machine child replier', () => {
  it('ends with the same output under plain XState and the test kit, whichever of timer and word comes first', async () => {
    for (const wordFirst of [true, false]) {
      const clock = new SimulatedClock();
      const plain = createActor(waiterMachine, { clock, input: { name: 'Ada' } }).start();
      const run = await createTestRun(waiter, { input: { name: 'Ada' }, workflowId: 'w' });
      if (!wordFirst) {
        clock.increment(REPLIER_DELAY_MS);
        await run.advanceBy(REPLIER_DELAY_MS);
      }
      plain.send({ type: 'go', word: 'hello' });
      await run.signal({ type: 'go', word: 'hello' });
      if (wordFirst) {
        clock.increment(REPLIER_DELAY_MS);
        await run.advanceBy(REPLIER_DELAY_MS);
      }
      expect(plain.getSnapshot().status).toBe('done');
      expect(run.status).toBe('completed');
      expect(run.output).toEqual(plain.getSnapshot().output);
      expect(run.output).toEqual({ reply: 'hello, Ada', child: { word: 'hello' } });
      expect(run.runOf('w-helper-1')?.replay().status).toBe('completed');
    }
  });
});
