import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  activityKey,
  admitFetched,
  attemptRef,
  deliveredTooOften,
  failureResult,
  fallbackResult,
  heartbeatReportDelayMs,
  heartbeatReportIntervalMs,
  interruptedResult,
  isLateTask,
  keepAliveIntervalMs,
  noticeCovers,
  pullBatchCap,
  settleAfterPublishFailure,
  settleAfterResult,
  settleBadTask,
  startAlreadyRecorded,
  successResult,
  tooManyDeliveriesResult,
  workingThrottleMs,
} from '../../../services/executor/decisions.js';
import type { ActivityCancelMessage, TaskMessage } from '../../../shared/bus/messages.js';
import { retryAfter } from '../../../shared/engine/activity.js';
import { ActivityFailure, PayloadTooLargeError } from '../../../shared/errors.js';

const task: TaskMessage = {
  runId: 'run1',
  workflowId: 'wf1',
  workflowType: 'order',
  activity: 'charge',
  activitySeq: 3,
  invokeId: 'charge',
  attempt: 2,
  scheduledAt: 0,
};
const ref = attemptRef(task);
const notice = (attempt?: number): ActivityCancelMessage => ({
  runId: 'run1',
  workflowId: 'wf1',
  activitySeq: 3,
  ...(attempt === undefined ? {} : { attempt }),
});

describe('executor decisions: which tasks still count', () => {
  it('names an attempt by run, workflow, activity seq and attempt, and an activity by run and seq', () => {
    expect(ref).toEqual({ runId: 'run1', workflowId: 'wf1', activitySeq: 3, attempt: 2 });
    expect(activityKey('run1', 3)).toBe('run1:3');
  });

  it('a task is late when redelivered or queued for more than a second', () => {
    expect(isLateTask(1, 10_000, 10_500)).toBe(false);
    expect(isLateTask(1, 10_000, 11_000)).toBe(false);
    expect(isLateTask(1, 10_000, 11_001)).toBe(true);
    expect(isLateTask(2, 10_000, 10_000)).toBe(true);
  });

  it('a notice without an attempt ends every attempt; with one, that attempt and earlier ones', () => {
    expect(noticeCovers(notice(), 1)).toBe(true);
    expect(noticeCovers(notice(), 99)).toBe(true);
    expect(noticeCovers(notice(2), 1)).toBe(true);
    expect(noticeCovers(notice(2), 2)).toBe(true);
    expect(noticeCovers(notice(2), 3)).toBe(false);
  });

  it('a task runs up to maxDeliveries times; past that it is reported failed', () => {
    expect(deliveredTooOften(10, 10)).toBe(false);
    expect(deliveredTooOften(11, 10)).toBe(true);
    const r = tooManyDeliveriesResult(ref, 11);
    expect(r).toMatchObject({ ...ref, ok: false, error: { name: 'ActivityFailure', details: { deliveries: 11 } } });
    expect(r.ok || r.error.message).toContain('delivered 11 times');
  });

  it('an at-most-once task does not run when its start was recorded before, or may have been', () => {
    const window = 120_000;
    const recorded = (deliveryCount: number, duplicate: boolean, taskAgeMs: number, firstTry = false) =>
      startAlreadyRecorded({ deliveryCount, duplicate, firstTry, taskAgeMs, duplicateWindowMs: window });
    expect(recorded(1, true, 0)).toBe(false); // its own publish, retried
    expect(recorded(1, false, 10 * window)).toBe(false);
    expect(recorded(2, false, 5_000)).toBe(false); // given back before it started
    expect(recorded(2, true, 5_000)).toBe(true);
    expect(recorded(3, false, window)).toBe(true); // past the window JetStream cannot tell
    // A duplicate on the first try was an earlier delivery's, though the count says first (a
    // nats-server killed forgets recent deliveries).
    expect(recorded(1, true, 0, true)).toBe(true);
    expect(recorded(2, true, 5_000, true)).toBe(true);
    const r = interruptedResult(ref, 2);
    expect(r).toMatchObject({
      ...ref,
      ok: false,
      error: {
        name: 'AttemptInterruptedError',
        code: 'ATTEMPT_INTERRUPTED',
        retryable: true,
        details: { deliveries: 2 },
      },
    });
  });
});

describe('executor decisions: results', () => {
  it('a returned value is the output; undefined leaves the output out', () => {
    expect(successResult(ref, { n: 1 })).toEqual({ ...ref, ok: true, output: { n: 1 } });
    expect(successResult(ref, undefined)).toEqual({ ...ref, ok: true });
    expect('output' in successResult(ref, undefined)).toBe(false);
  });

  it('a thrown error travels with its wire form, the delay it asked for and the last heartbeat', () => {
    const plain = failureResult(ref, new ActivityFailure('card declined'));
    expect(plain).toMatchObject({ ...ref, ok: false, error: { name: 'ActivityFailure', message: 'card declined' } });
    expect('heartbeat' in plain || 'retryAfterMs' in plain).toBe(false);
    const later = failureResult(ref, retryAfter(250, 'busy'), { value: { page: 4 } });
    expect(later).toMatchObject({ ok: false, retryAfterMs: 250, heartbeat: { page: 4 } });
  });

  it('an output too large to publish becomes the failure; other publish errors have no fallback', () => {
    const tooLarge = new PayloadTooLargeError('result is 2 MB, max 1 MB');
    const ok = successResult(ref, 'x');
    expect(fallbackResult(ok, tooLarge)).toMatchObject({ ...ref, ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } });
    expect(fallbackResult(ok, new Error('timeout'))).toBeUndefined();
    // A failure too large to publish is not turned into another failure: it is retried.
    expect(fallbackResult(failureResult(ref, new Error('x')), tooLarge)).toBeUndefined();
  });
});

describe('executor decisions: settling the task message', () => {
  it('publish failures give the task back unless it was abandoned (already nak’ed)', () => {
    expect(settleAfterPublishFailure(false)).toBe('nak-backoff');
    expect(settleAfterPublishFailure(true)).toBe('none');
  });

  it('a published result is acked unless the attempt was abandoned', () => {
    expect(settleAfterResult(false)).toBe('ack');
    expect(settleAfterResult(true)).toBe('none');
  });

  it('a bad task is terminated once parked, and given back when it could not be', () => {
    expect(settleBadTask(true)).toBe('term');
    expect(settleBadTask(false)).toBe('nak-backoff');
  });
});

describe('executor decisions: timing', () => {
  it('keeps a task alive every third of the ack wait, at least every 250 ms', () => {
    expect(keepAliveIntervalMs(30_000)).toBe(10_000);
    expect(keepAliveIntervalMs(300)).toBe(250);
  });

  it('heartbeats mark the task in progress at most once a second (sooner for short ack waits)', () => {
    expect(workingThrottleMs(30_000)).toBe(1000);
    expect(workingThrottleMs(1500)).toBe(500);
  });

  it('reports heartbeats within 80% of the heartbeat timeout, at least 50 ms apart, capped by the throttle', () => {
    expect(heartbeatReportIntervalMs(undefined, 30_000)).toBe(30_000);
    expect(heartbeatReportIntervalMs(10_000, 30_000)).toBe(8_000);
    expect(heartbeatReportIntervalMs(60_000, 30_000)).toBe(30_000);
    expect(heartbeatReportIntervalMs(10, 30_000)).toBe(50);
  });

  it('the next report is due one interval after the last', () => {
    expect(heartbeatReportDelayMs(0, 1000, 5000)).toBeLessThanOrEqual(0);
    expect(heartbeatReportDelayMs(5000, 1000, 5200)).toBe(800);
  });

  it('property: a report is never due before one interval has passed since the last', () => {
    fc.assert(
      fc.property(fc.nat(1e9), fc.integer({ min: 1, max: 1e6 }), fc.nat(1e6), (last, every, elapsed) => {
        const due = heartbeatReportDelayMs(last, every, last + elapsed) <= 0;
        expect(due).toBe(elapsed >= every);
      }),
    );
  });
});

describe('executor decisions: pulling', () => {
  it('splits the concurrency between activities, at least one task per pull', () => {
    expect(pullBatchCap(16, 1)).toBe(16);
    expect(pullBatchCap(16, 3)).toBe(5);
    expect(pullBatchCap(2, 5)).toBe(1);
  });

  it('gives back what arrives while stopping or beyond the permits held', () => {
    expect(admitFetched(false, 0, 2)).toBe('run');
    expect(admitFetched(false, 1, 2)).toBe('run');
    expect(admitFetched(false, 2, 2)).toBe('give-back');
    expect(admitFetched(true, 0, 2)).toBe('give-back');
  });
});
