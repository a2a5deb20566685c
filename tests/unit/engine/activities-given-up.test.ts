/**
 * activitiesGivenUp (what the router's `squall_router_activities_given_up_total` counts): read off
 * each commit of real test runs, it names the activity a decision gave up on and why, and nothing
 * for a retry, a completion or a cancel.
 */
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { activitiesGivenUp } from '../../../shared/engine/attempts.js';
import {
  type ActivityOptions,
  activity,
  defineWorkflow,
  nonRetryable,
  replayCommits,
  type WorkflowDefinition,
} from '../../../shared/engine/index.js';
import type { HistoryEvent } from '../../../shared/history/events.js';
import { createTestRun } from '../../../shared/testing/index.js';

function workflow(options: ActivityOptions) {
  return defineWorkflow({
    name: 'act',
    activities: { work: options },
    machine: setup({ actors: { work: activity<unknown, unknown>() } }).createMachine({
      id: 'act',
      initial: 'working',
      states: {
        working: { invoke: { id: 'w', src: 'work', onDone: 'done', onError: 'done' }, on: { leave: 'idle' } },
        idle: { on: { finish: 'done' } },
        done: { type: 'final' },
      },
    }),
  });
}

/** What activitiesGivenUp finds in each commit of `history`, the run's state before and after it. */
function givenUp(def: WorkflowDefinition, history: readonly { events: HistoryEvent[] }[]) {
  return history.slice(1).flatMap((commit, i) => {
    const before = replayCommits(def, history.slice(0, i + 1) as never);
    const after = replayCommits(def, history.slice(0, i + 2) as never);
    return activitiesGivenUp(before, commit.events, after);
  });
}

describe('activitiesGivenUp', () => {
  it('names nothing while retries go on and the activity completes', async () => {
    const def = workflow({});
    const run = await createTestRun(def, {
      activities: { work: (_: unknown, attempt: number) => (attempt < 3 ? new Error('busy') : 'ok') },
    });
    expect(run.status).toBe('completed');
    expect(givenUp(def, run.history)).toEqual([]);
  });

  it('names the last allowed attempt that failed: attemptsExhausted', async () => {
    const def = workflow({ retry: { maximumAttempts: 2 } });
    const run = await createTestRun(def, { activities: { work: () => new Error('busy') } });
    expect(givenUp(def, run.history)).toEqual([{ activity: 'work', activitySeq: 1, reason: 'attemptsExhausted' }]);
  });

  it('names an error that may not be retried: notRetryable', async () => {
    const def = workflow({});
    const run = await createTestRun(def, { activities: { work: () => Promise.reject(nonRetryable(new Error('no'))) } });
    expect(givenUp(def, run.history)).toEqual([{ activity: 'work', activitySeq: 1, reason: 'notRetryable' }]);
  });

  it('names a scheduleToClose timeout: timedOut', async () => {
    const def = workflow({ scheduleToCloseTimeoutMs: 2500 });
    const run = await createTestRun(def, { autoRun: false });
    await run.fail('work', new Error('busy'));
    await run.skipToNextTimer(); // the retry at 1000; that attempt hangs
    await run.skipToNextTimer(); // 2500: scheduleToClose
    expect(run.status).toBe('completed');
    expect(givenUp(def, run.history)).toEqual([{ activity: 'work', activitySeq: 1, reason: 'timedOut' }]);
  });

  it('names nothing when the machine leaves the state and the activity is cancelled', async () => {
    const def = workflow({});
    const run = await createTestRun(def, { autoRun: false });
    await run.signal({ type: 'leave' });
    expect(givenUp(def, run.history)).toEqual([]);
  });
});
