import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  afterMarkFailure,
  afterRound,
  lostLeases,
  MARK_ATTEMPTS,
  parseTimerMessage,
  sleepUntilDue,
  splitPublished,
  timerKey,
} from '../../../services/timer/decisions.js';
import { InvalidInputError } from '../../../shared/errors.js';

const schedule = { runId: 'r1', workflowId: 'wf-1', timerSeq: 2, fireAt: 1_000 };

describe('parseTimerMessage', () => {
  it('parses a schedule and a cancel by the subject operation', () => {
    expect(parseTimerMessage('schedule', 's', () => schedule)).toEqual({ kind: 'schedule', timer: schedule });
    expect(parseTimerMessage('cancel', 's', () => ({ runId: 'r1', timerSeq: 2 }))).toEqual({
      kind: 'cancel',
      timer: { runId: 'r1', timerSeq: 2 },
    });
  });

  it('dead-letters a body that does not decode as undecodable, whatever the operation', () => {
    const bad = new InvalidInputError('not valid MessagePack');
    for (const op of ['schedule', 'cancel', undefined]) {
      expect(
        parseTimerMessage(op, 's', () => {
          throw bad;
        }),
      ).toEqual({ kind: 'dead-letter', reason: 'undecodable', err: bad });
    }
  });

  it('dead-letters a decoded body that fails validation, or an unknown operation, as invalid input', () => {
    const invalid = parseTimerMessage('schedule', 's', () => ({ runId: 'r1', timerSeq: -1, fireAt: 0 }));
    expect(invalid).toMatchObject({ kind: 'dead-letter', reason: 'invalid-input' });
    expect(invalid.kind === 'dead-letter' && invalid.err).toBeInstanceOf(InvalidInputError);
    const unknown = parseTimerMessage('fire', 'p.timer.fire.r1', () => schedule);
    expect(unknown).toMatchObject({ kind: 'dead-letter', reason: 'invalid-input' });
    expect(unknown.kind === 'dead-letter' && String(unknown.err)).toContain('p.timer.fire.r1');
    expect(parseTimerMessage(undefined, 's', () => schedule)).toMatchObject({ reason: 'invalid-input' });
  });
});

describe('afterRound', () => {
  it('claims again at once after a full round', () => {
    expect(afterRound(40, 40, 40, 1_000)).toEqual({ kind: 'claim-again' });
  });

  it('waits for the marks while published timers are unmarked', () => {
    expect(afterRound(3, 40, 3, 1_000)).toEqual({ kind: 'wait-for-marks', sleepMs: 1_000 });
  });

  it('asks the store for the next due time when nothing is left to mark', () => {
    expect(afterRound(0, 40, 0, 1_000)).toEqual({ kind: 'look-up-next-due' });
  });
});

describe('sleepUntilDue', () => {
  it('sleeps maxSleepMs when nothing is pending, until the next due time otherwise', () => {
    expect(sleepUntilDue(undefined, 100, 1_000)).toBe(1_000);
    expect(sleepUntilDue(350, 100, 1_000)).toBe(250);
    expect(sleepUntilDue(50, 100, 1_000)).toBe(0);
    expect(sleepUntilDue(5_000, 100, 1_000)).toBe(1_000);
  });

  it('never sleeps past the next due time nor past maxSleepMs, and never negatively', () => {
    fc.assert(
      fc.property(
        fc.option(fc.integer({ min: 0, max: 10_000_000 }), { nil: undefined }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (next, now, max) => {
          const ms = sleepUntilDue(next, now, max);
          expect(ms).toBeGreaterThanOrEqual(0);
          expect(ms).toBeLessThanOrEqual(max);
          if (next !== undefined && next > now) expect(now + ms).toBeLessThanOrEqual(next);
          if (next !== undefined && next <= now) expect(ms).toBe(0);
        },
      ),
    );
  });
});

describe('afterMarkFailure', () => {
  it(`retries with backoff for ${MARK_ATTEMPTS} tries in all, then gives up`, () => {
    const half = (): number => 0.5;
    expect(afterMarkFailure(0, false, half)).toEqual({ kind: 'retry', delayMs: 50 });
    expect(afterMarkFailure(1, false, half)).toEqual({ kind: 'retry', delayMs: 100 });
    expect(afterMarkFailure(MARK_ATTEMPTS - 1, false, half)).toEqual({ kind: 'give-up' });
  });

  it('gives up at once while the service stops', () => {
    expect(afterMarkFailure(0, true)).toEqual({ kind: 'give-up' });
  });
});

describe('splitPublished', () => {
  it('keeps the published timers in order and the first failure', () => {
    const first = new Error('first');
    const results: PromiseSettledResult<void>[] = [
      { status: 'fulfilled', value: undefined },
      { status: 'rejected', reason: first },
      { status: 'fulfilled', value: undefined },
      { status: 'rejected', reason: new Error('second') },
    ];
    expect(splitPublished(['a', 'b', 'c', 'd'], results)).toEqual({
      published: ['a', 'c'],
      failure: { reason: first },
    });
  });

  it('has no failure when every publish worked, and handles an empty round', () => {
    const ok: PromiseSettledResult<void> = { status: 'fulfilled', value: undefined };
    expect(splitPublished(['a'], [ok])).toEqual({ published: ['a'], failure: undefined });
    expect(splitPublished([], [])).toEqual({ published: [], failure: undefined });
  });
});

describe('lostLeases and timerKey', () => {
  it('counts the published timers a mark did not mark', () => {
    expect(lostLeases(10, 7)).toBe(3);
    expect(lostLeases(10, 10)).toBe(0);
  });

  it('keys a timer by run and sequence', () => {
    expect(timerKey({ runId: 'r1', timerSeq: 4 })).toBe('r1:4');
  });
});
