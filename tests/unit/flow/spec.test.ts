import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { defineActivity } from '../../../shared/engine/activity.js';
import { defineWorkflow } from '../../../shared/engine/definition.js';
import { InvalidInputError } from '../../../shared/errors.js';
import {
  checkConcurrency,
  checkRateLimit,
  flowKeyOf,
  parseDebounce,
  parseSingleton,
} from '../../../shared/flow/spec.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as Error).message;
  }
  throw new Error('expected a throw');
}

describe('flow option checks', () => {
  it('accepts good start options', () => {
    expect(parseDebounce({ key: 'k', windowMs: 500 })).toEqual({ key: 'k', windowMs: 500 });
    expect(parseSingleton({ key: 'k', mode: 'queue' })).toEqual({ key: 'k', mode: 'queue' });
  });

  it('names the bad field of a start option', () => {
    expect(message(() => parseDebounce({ key: 'k', windowMs: 0 }))).toMatch(
      /start\.debounce\.windowMs: must be an integer from 1 to 3600000, got 0/,
    );
    expect(message(() => parseDebounce({ key: 'k', windowMs: 1.5 }))).toMatch(/windowMs: must be an integer/);
    expect(message(() => parseDebounce({ key: 7, windowMs: 10 }))).toMatch(
      /start\.debounce\.key: must be a string, got number/,
    );
    expect(message(() => parseDebounce({ key: 'k', windowMs: 10, every: 1 }))).toMatch(/unknown field "every"/);
    expect(message(() => parseDebounce('soon'))).toMatch(/start\.debounce: must be an object/);
    expect(message(() => parseSingleton({ key: 'k', mode: 'sometimes' }))).toMatch(
      /start\.singleton\.mode: must be one of skip, queue, got "sometimes"/,
    );
    expect(message(() => parseSingleton({ key: 'x'.repeat(300), mode: 'skip' }))).toMatch(
      /is 300 characters long; the limit is 256/,
    );
  });

  it('names the bad field of an activity option: negative limit, zero period, key not a function', () => {
    expect(message(() => checkConcurrency({ limit: -1 }, 'activity a: concurrency'))).toMatch(
      /activity a: concurrency\.limit: must be an integer from 1 .* got -1/,
    );
    expect(message(() => checkRateLimit({ limit: 5, periodMs: 0 }, 'activity a: rateLimit'))).toMatch(
      /rateLimit\.periodMs: must be an integer from 1 .* got 0/,
    );
    expect(message(() => checkConcurrency({ limit: 1, key: 'customer' }, 'w'))).toMatch(/w\.key: must be a function/);
    expect(message(() => checkConcurrency({ limit: 1, max: 2 }, 'w'))).toMatch(/unknown field "max"/);
  });

  it('checks the options where they are declared: defineActivity and defineWorkflow', () => {
    expect(message(() => defineActivity('a', () => 1, { concurrency: { limit: 0 } }))).toMatch(
      /activity a: concurrency\.limit/,
    );
    expect(message(() => defineActivity('a', () => 1, { rateLimit: { limit: 1, periodMs: -5 } }))).toMatch(
      /activity a: rateLimit\.periodMs/,
    );
    const machine = setup({}).createMachine({ id: 'w', initial: 'a', states: { a: {} } });
    expect(message(() => defineWorkflow({ name: 'w', machine, concurrency: { limit: -2 } }))).toMatch(
      /workflow w: concurrency\.limit: .* got -2/,
    );
    expect(defineWorkflow({ name: 'w', machine, concurrency: { limit: 2 } }).concurrency?.limit).toBe(2);
  });

  it('computes keys; a key function that throws or returns no string is an error naming it', () => {
    expect(flowKeyOf(undefined, {}, 'x')).toBe('*');
    expect(flowKeyOf((i) => (i as { c: string }).c, { c: 'acme' }, 'x')).toBe('acme');
    const thrown = (() => {
      try {
        flowKeyOf(
          () => {
            throw new Error('boom');
          },
          {},
          'activity a concurrency',
        );
      } catch (err) {
        return err as InvalidInputError;
      }
    })();
    expect(thrown?.message).toBe('activity a concurrency.key threw: boom');
    expect(thrown?.retryable).toBe(false);
    expect(message(() => flowKeyOf(() => 42 as unknown as string, {}, 'activity a concurrency'))).toMatch(
      /activity a concurrency\.key\(input\): must be a string, got number/,
    );
  });
});
