import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../shared/errors.js';
import {
  fireTimeOf,
  isMissed,
  parseDuration,
  planTick,
  ticksAfter,
  tickWorkflowId,
  validateScheduleSpec,
} from '../../../shared/schedules/index.js';

const wf = { type: 'report' };

function refusal(spec: unknown, id = 'nightly'): string {
  try {
    validateScheduleSpec(id, spec);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('validateScheduleSpec', () => {
  it('fills in the defaults', () => {
    expect(validateScheduleSpec('nightly', { cron: '0 2 * * *', workflow: wf })).toEqual({
      cron: '0 2 * * *',
      workflow: wf,
      jitterMs: 0,
      overlap: 'skip',
      catchupWindowMs: 60_000,
    });
  });

  it('names what is wrong', () => {
    expect(refusal({ cron: '61 * * * *', workflow: wf })).toMatch(
      /schedule "nightly": cron "61 \* \* \* \*" is not a valid cron expression/,
    );
    expect(refusal({ cron: '0 2 * * *', timezone: 'Mars/Base', workflow: wf })).toMatch(
      /timezone "Mars\/Base" is not a known IANA time zone/,
    );
    expect(refusal({ workflow: wf })).toMatch(/cron\/every exactly one must be given/);
    expect(refusal({ cron: '* * * * *', every: '1m', workflow: wf })).toMatch(/exactly one/);
    expect(refusal({ every: '5 minutes', workflow: wf })).toMatch(
      /every "5 minutes" is not milliseconds or a duration/,
    );
    expect(refusal({ every: 500, workflow: wf })).toMatch(/every must be at least 1000 ms, got 500/);
    expect(refusal({ every: '1m', timezone: 'UTC', workflow: wf })).toMatch(/timezone applies to cron schedules only/);
    expect(refusal({ every: '1m', workflow: wf, jitterMs: -5 })).toMatch(/jitterMs must be an integer from 0/);
    expect(refusal({ every: '1m', workflow: wf, catchupWindowMs: 1.5 })).toMatch(/catchupWindowMs must be an integer/);
    expect(refusal({ every: '1m', workflow: wf, overlap: 'queue' })).toMatch(/overlap must be one of skip, bufferOne/);
    expect(refusal({ every: '1m', workflow: { type: 'a.b' } })).toMatch(/workflow workflowType/);
    expect(refusal({ every: '1m', workflow: wf, startAt: 10, endAt: 5 })).toMatch(/endAt must not be before startAt/);
    expect(refusal({ every: '1m', workflow: wf, cronn: 'x' })).toMatch(/cronn is not a schedule field/);
    expect(refusal('every minute')).toMatch(/spec must be an object/);
    expect(() => validateScheduleSpec('a.b', { every: '1m', workflow: wf })).toThrow(InvalidInputError);
  });
});

describe('ticks', () => {
  it('reads a cron expression in its time zone', () => {
    const after = Date.parse('2026-12-04T12:00:00Z');
    const ticks = ticksAfter({ cron: '0 9 * * 1-5', timezone: 'Europe/Berlin', workflow: wf }, after, { limit: 3 });
    expect(ticks.map((t) => new Date(t).toISOString())).toEqual([
      '2026-12-07T08:00:00.000Z',
      '2026-12-08T08:00:00.000Z',
      '2026-12-09T08:00:00.000Z',
    ]);
  });

  it('puts interval ticks on multiples counted from startAt, the same wherever computed', () => {
    const spec = { every: '10s', startAt: 3_000, workflow: wf };
    expect(ticksAfter(spec, 0, { limit: 3 })).toEqual([3_000, 13_000, 23_000]);
    expect(ticksAfter(spec, 13_000, { limit: 2 })).toEqual([23_000, 33_000]);
    expect(ticksAfter(spec, 12_999, { limit: 1 })).toEqual([13_000]);
    expect(ticksAfter(spec, 0, { limit: 10, until: 23_000 })).toEqual([3_000, 13_000, 23_000]);
    expect(ticksAfter({ ...spec, endAt: 13_000 }, 0, { limit: 10 })).toEqual([3_000, 13_000]);
    expect(parseDuration('1d')).toBe(86_400_000);
  });

  it('spreads jitter over ticks deterministically, within the bound', () => {
    const times = [1, 2, 3, 4, 5].map((i) => fireTimeOf('s', { jitterMs: 1000 }, i * 60_000) - i * 60_000);
    expect(times).toEqual([1, 2, 3, 4, 5].map((i) => fireTimeOf('s', { jitterMs: 1000 }, i * 60_000) - i * 60_000));
    for (const j of times) expect(j >= 0 && j < 1000).toBe(true);
    expect(new Set(times).size).toBeGreaterThan(1);
    expect(fireTimeOf('s', {}, 5)).toBe(5);
  });

  it('names each tick run after the schedule and the tick', () => {
    const t = Date.parse('2026-12-04T09:00:00Z');
    expect(tickWorkflowId('nightly', { workflow: wf }, t)).toBe('nightly-20261204T090000Z');
    expect(tickWorkflowId('nightly', { workflow: { ...wf, workflowIdPrefix: 'rep' } }, t)).toBe('rep-20261204T090000Z');
  });
});

describe('planTick (overlap policies)', () => {
  it('starts whenever nothing is open', () => {
    for (const p of ['skip', 'bufferOne', 'allowAll', 'cancelOther', 'terminateOther'] as const) {
      expect(planTick(p, 'closed', false)).toBe('start');
      expect(planTick(p, 'none', false)).toBe('start');
    }
  });

  it('applies the policy while the previous run is open', () => {
    expect(planTick('skip', 'open', false)).toBe('skip');
    expect(planTick('bufferOne', 'open', false)).toBe('buffer');
    expect(planTick('bufferOne', 'open', true)).toBe('skip');
    expect(planTick('allowAll', 'open', false)).toBe('start');
    expect(planTick('cancelOther', 'open', false)).toBe('cancelThenStart');
    expect(planTick('terminateOther', 'open', false)).toBe('terminateThenStart');
  });

  it('misses ticks older than the catch-up window', () => {
    expect(isMissed(1_000, 70_000, 60_000)).toBe(true);
    expect(isMissed(10_000, 70_000, 60_000)).toBe(false);
  });
});
