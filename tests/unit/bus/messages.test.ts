import { describe, expect, it } from 'vitest';
import {
  firedMsgId,
  resultMsgId,
  validateFired,
  validateResult,
  validateTask,
  validateTimerCancel,
  validateTimerSchedule,
} from '../../../shared/bus/messages.js';
import { InvalidInputError } from '../../../shared/errors.js';

const task = {
  runId: 'r1',
  workflowId: 'w1',
  workflowType: 'order',
  activity: 'charge',
  activitySeq: 2,
  invokeId: 'charge',
  input: { amount: 5 },
  attempt: 1,
  scheduledAt: 1000,
};

describe('message validators', () => {
  it('accepts well-formed bodies', () => {
    expect(validateTask(task)).toEqual(task);
    expect(validateTask({ ...task, reportStart: true, atMostOnce: true })).toMatchObject({ atMostOnce: true });
    expect(validateTask({ ...task, atMostOnce: 'yes' })).not.toHaveProperty('atMostOnce');
    expect(validateResult({ runId: 'r1', workflowId: 'w1', activitySeq: 2, attempt: 1, ok: true, output: 3 })).toEqual({
      runId: 'r1',
      workflowId: 'w1',
      activitySeq: 2,
      attempt: 1,
      ok: true,
      output: 3,
    });
    expect(validateTimerSchedule({ runId: 'r1', workflowId: 'w1', timerSeq: 3, fireAt: 5 }).fireAt).toBe(5);
    expect(validateTimerCancel({ runId: 'r1', timerSeq: 3 })).toEqual({ runId: 'r1', timerSeq: 3 });
    expect(validateFired({ runId: 'r1', workflowId: 'w1', timerSeq: 3, firedAt: 9 }).timerSeq).toBe(3);
  });

  it.each([
    ['runId', { ...task, runId: 'a.b' }],
    ['activitySeq', { ...task, activitySeq: 1.5 }],
    ['attempt', { ...task, attempt: 0 }],
    ['workflowId', { ...task, workflowId: undefined }],
    ['scheduledAt', { ...task, scheduledAt: 'now' }],
    ['invokeId', { ...task, invokeId: '' }],
  ])('names the bad field %s', (field, body) => {
    expect(() => validateTask(body)).toThrow(InvalidInputError);
    expect(() => validateTask(body)).toThrow(new RegExp(`'${field}'`));
  });

  it('refuses non-objects and results without ok', () => {
    expect(() => validateTask([1])).toThrow(/must be an object/);
    expect(() => validateResult({ runId: 'r', workflowId: 'w', activitySeq: 1, attempt: 1 })).toThrow(/'ok'/);
    expect(() => validateResult({ runId: 'r', workflowId: 'w', activitySeq: 1, attempt: 1, ok: false })).toThrow(
      /'error'/,
    );
  });

  it('builds deterministic msg ids', () => {
    expect(resultMsgId('r1', 2, 3)).toBe('result:r1:2:3');
    expect(firedMsgId('r1', 4)).toBe('fired:r1:4');
  });
});
