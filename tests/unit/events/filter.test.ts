/** The JSON predicate of event waits: what matches, and the typed errors of bad filters, keys and waits. */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../shared/errors.js';
import { matchesFilter, validateFilter } from '../../../shared/events/filter.js';
import {
  parsePublishedEvent,
  reachesWait,
  validateEventKey,
  validateWaitSpec,
  waitSince,
} from '../../../shared/events/wait.js';

describe('matchesFilter', () => {
  const payload = { tier: 'gold', total: 120, tags: ['a', 'b'], order: { id: 'o-1', lines: 3 }, note: null };

  it.each([
    [{ tier: 'gold' }, true],
    [{ tier: 'silver' }, false],
    [{ 'order.id': 'o-1' }, true],
    [{ 'order.missing': 1 }, false],
    [{ tags: ['a', 'b'] }, true],
    [{ tags: ['b', 'a'] }, false],
    [{ order: { lines: 3, id: 'o-1' } }, true],
    [{ note: null }, true],
    [{ total: { $gt: 100 } }, true],
    [{ total: { $gt: 120 } }, false],
    [{ total: { $gte: 120, $lt: 121 } }, true],
    [{ total: { $lte: 119 } }, false],
    [{ total: { $gt: '100' } }, false],
    [{ tier: { $gt: 'a', $lt: 'h' } }, true],
    [{ tier: { $in: ['gold', 'all'] } }, true],
    [{ tier: { $nin: ['gold'] } }, false],
    [{ tier: { $ne: 'silver' } }, true],
    [{ tier: { $eq: 'gold' } }, true],
    [{ missing: { $exists: false } }, true],
    [{ tier: { $exists: false } }, false],
    [{ tier: 'gold', total: { $lt: 100 } }, false],
    [{}, true],
  ])('%j → %s', (filter, expected) => {
    expect(matchesFilter(validateFilter(filter), payload)).toBe(expected);
  });

  it('matches everything without a filter, and nothing inside a non-object payload', () => {
    expect(matchesFilter(undefined, 42)).toBe(true);
    expect(matchesFilter({ tier: 'gold' }, 'gold')).toBe(false);
    expect(matchesFilter({ tier: { $exists: false } }, undefined)).toBe(true);
  });
});

describe('bad input gets a typed error naming what is wrong', () => {
  it.each([
    [[1, 2], /must be an object/],
    ['tier', /must be an object/],
    [{ 'a..b': 1 }, /path "a\.\.b"/],
    [{ total: { $regex: 'x' } }, /unknown operator "\$regex"/],
    [{ tier: { $in: 'gold' } }, /tier\.\$in must be an array/],
    [{ total: { $gt: true } }, /total\.\$gt must be a finite number or a string/],
    [{ total: { $exists: 1 } }, /\$exists must be true or false/],
    [{ total: Number.NaN }, /total must be a finite number/],
    [{ at: new Date(0) }, /must be JSON/],
  ])('filter %j', (filter, message) => {
    expect(() => validateFilter(filter)).toThrow(InvalidInputError);
    expect(() => validateFilter(filter)).toThrow(message);
    try {
      validateFilter(filter);
    } catch (err) {
      expect((err as InvalidInputError).code).toBe('INVALID_INPUT');
      expect((err as InvalidInputError).details).toMatchObject({ reason: 'bad-filter' });
    }
  });

  it.each([
    ['order.paid', /contains "\."/],
    ['order paid', /contains " "/],
    ['orders.*', /contains/],
    ['', /must not be empty/],
    [7, /must be a string/],
  ])('key %j', (key, message) => {
    expect(() => validateEventKey(key)).toThrow(InvalidInputError);
    expect(() => validateEventKey(key)).toThrow(/eventKey/);
    expect(() => validateEventKey(key)).toThrow(message);
  });

  it('wait declarations: label, since and the filter are checked', () => {
    expect(() => validateWaitSpec({ key: 'k', label: '' })).toThrow(/label must be a string of 1 to 128/);
    expect(() => validateWaitSpec({ key: 'k', since: 'yesterday' })).toThrow(/since must be 'runStart'/);
    expect(() => validateWaitSpec({ key: 'k', since: -5 })).toThrow(/since must be 'runStart'/);
    expect(() => validateWaitSpec({ key: 'k', filter: { x: { $nope: 1 } } })).toThrow(/unknown operator/);
    expect(validateWaitSpec({ key: 'k', filter: { x: 1 }, label: 'L', since: 'runStart' })).toEqual({
      key: 'k',
      filter: { x: 1 },
      label: 'L',
      since: 'runStart',
    });
  });

  it('published bodies: an object with an optional token eventId', () => {
    expect(parsePublishedEvent(undefined)).toEqual({});
    expect(parsePublishedEvent({ eventId: 'e-1', payload: { a: 1 } })).toEqual({ eventId: 'e-1', payload: { a: 1 } });
    expect(() => parsePublishedEvent([1])).toThrow(/must be an object/);
    expect(() => parsePublishedEvent({ eventId: 'a b' })).toThrow(InvalidInputError);
  });
});

describe('when a wait takes events', () => {
  it('from its start, from the run start, or some time before', () => {
    expect(waitSince({ key: 'k' }, 1000, 10)).toBe(1000);
    expect(waitSince({ key: 'k', since: 'runStart' }, 1000, 10)).toBe(10);
    expect(waitSince({ key: 'k', since: 300 }, 1000, 10)).toBe(700);
  });

  it('an event before the wait began does not reach it; one at or after does, if its filter matches', () => {
    const wait = { key: 'k', since: 1000, filter: validateFilter({ ok: true }) };
    expect(reachesWait(wait, 999, { ok: true })).toBe(false);
    expect(reachesWait(wait, 1000, { ok: true })).toBe(true);
    expect(reachesWait(wait, 2000, { ok: false })).toBe(false);
  });
});
