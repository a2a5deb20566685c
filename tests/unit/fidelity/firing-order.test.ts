/**
 * Issue #16 item 4b: timers due at the same instant have a defined order, due time then schedule
 * order, in the stores' claims and in how the timer service publishes them.
 */
import { describe, expect, it } from 'vitest';
import { firingChains } from '../../../services/timer/decisions.js';
import { createMemoryStore } from '../../../shared/store/index.js';
import { compareFiringOrder } from '../../../shared/store/timers.js';

describe('firing order', () => {
  it('orders by due time, then run, then timerSeq as a number (not as the text of an id)', () => {
    const timers = [
      { fireAt: 5, runId: 'r', timerSeq: 10 },
      { fireAt: 5, runId: 'r', timerSeq: 9 },
      { fireAt: 4, runId: 's', timerSeq: 11 },
      { fireAt: 5, runId: 'q', timerSeq: 12 },
    ];
    expect([...timers].sort(compareFiringOrder)).toEqual([
      { fireAt: 4, runId: 's', timerSeq: 11 },
      { fireAt: 5, runId: 'q', timerSeq: 12 },
      { fireAt: 5, runId: 'r', timerSeq: 9 },
      { fireAt: 5, runId: 'r', timerSeq: 10 },
    ]);
  });

  it('the in-memory store claims timers of one instant in schedule order', async () => {
    const store = createMemoryStore();
    for (const timerSeq of [10, 2, 9, 11])
      await store.scheduleTimer({ runId: 'r', workflowId: 'w', timerSeq, fireAt: 100 });
    const claimed = await store.claimDueTimers(100, 'me', 1_000, 10);
    expect(claimed.map((t) => t.timerSeq)).toEqual([2, 9, 10, 11]);
  });

  it('the timer service publishes one run’s firings as one chain, in claim order', () => {
    const claimed = [{ runId: 'a' }, { runId: 'b' }, { runId: 'a' }, { runId: 'c' }, { runId: 'b' }];
    expect(firingChains(claimed)).toEqual([[0, 2], [1, 4], [3]]);
  });
});
