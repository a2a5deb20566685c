/**
 * Start options in the pure core: signal-with-start folded into the start's own decision, the
 * memo and search attributes kept on the run state, `upsertSearchAttributes`, and their checks.
 */
import { describe, expect, it } from 'vitest';
import { decide, replayCommits, validateMemo, validateSearchAttributes } from '../../../shared/engine/index.js';
import type { DecisionInput } from '../../../shared/engine/types.js';
import { InvalidInputError } from '../../../shared/errors.js';
import type { Commit } from '../../../shared/history/events.js';
import { cart, poisoned } from '../../fixtures/callbacks/workflows.js';
import { mailboxWorkflow } from '../../fixtures/workflows.js';

const types = (events: { type: string }[]) => events.map((e) => e.type);
const start = (extra: Partial<Extract<DecisionInput, { kind: 'start' }>> = {}) => ({
  kind: 'start' as const,
  at: 1000,
  workflowId: 'w1',
  runId: 'r1',
  ...extra,
});

describe('decide: signal-with-start', () => {
  it('delivers the signal in the start commit, after the machine settled', () => {
    const d = decide(cart, undefined, start({ input: { customer: 'c1' }, signal: { type: 'add', item: 'tea' } }));
    expect(types(d.events)).toEqual([
      'RunStarted',
      'SearchAttributesUpserted',
      'SignalReceived',
      'SearchAttributesUpserted',
    ]);
    expect(d.events[0]).toMatchObject({ signal: { type: 'add', item: 'tea' } });
    expect(d.events[2]).toEqual({ type: 'SignalReceived', at: 1000, signal: { type: 'add', item: 'tea' } });
    expect(d.state.lastSeq).toBe(1);
    expect((d.state.snapshot as { context: { items: string[] } }).context.items).toEqual(['tea']);
    expect(d.state.searchAttributes).toEqual({ stage: 'open', items: 1 });
  });

  it('records a signal the initial state cannot take as unhandled, or defers it when listed', () => {
    const d = decide(cart, undefined, start({ signal: { type: 'nope' } }));
    expect(d.events.at(-1)).toMatchObject({ type: 'SignalReceived', ignored: 'unhandled' });
    const deferred = decide(mailboxWorkflow, undefined, start({ signal: { type: 'note', text: 'hi' } }));
    const received = deferred.events.find((e) => e.type === 'SignalReceived');
    expect(received).toMatchObject({ deferred: true });
    expect(deferred.state.mailbox).toEqual([{ type: 'note', text: 'hi' }]);
  });

  it('a signal that completes the run at start closes it in the same commit', () => {
    const d = decide(cart, undefined, start({ signal: { type: 'checkout' } }));
    expect(d.state.status).toBe('completed');
    expect(types(d.events).slice(-2)).toEqual(['SearchAttributesUpserted', 'RunCompleted']);
    expect(d.commands.at(-1)).toMatchObject({ kind: 'runClosed', status: 'completed' });
  });

  it('replays a signal-with-start history to the same state', () => {
    const d1 = decide(cart, undefined, start({ signal: { type: 'add', item: 'a' }, memo: { note: 'x' } }));
    const d2 = decide(cart, d1.state, { kind: 'signal', at: 2000, event: { type: 'checkout' } });
    const commits: Commit[] = [
      { runId: 'r1', workflowId: 'w1', seq: 1, events: d1.events },
      { runId: 'r1', workflowId: 'w1', seq: 2, events: d2.events },
    ];
    expect(replayCommits(cart, commits)).toEqual(d2.state);
  });

  it('refuses a reserved signal type on start', () => {
    expect(() => decide(cart, undefined, start({ signal: { type: 'xstate.init' } }))).toThrow(InvalidInputError);
  });
});

describe('decide: memo and search attributes', () => {
  it('keeps memo and attributes from the start on the state and on RunStarted', () => {
    const d = decide(
      cart,
      undefined,
      start({ memo: { source: 'web' }, searchAttributes: { customer: 'c1', vip: true } }),
    );
    expect(d.events[0]).toMatchObject({ memo: { source: 'web' }, searchAttributes: { customer: 'c1', vip: true } });
    expect(d.state.memo).toEqual({ source: 'web' });
    expect(d.state.searchAttributes).toEqual({ customer: 'c1', vip: true, stage: 'open' });
  });

  it('upsertSearchAttributes merges over the current attributes and records what it set', () => {
    const s1 = decide(cart, undefined, start({ searchAttributes: { customer: 'c1' } })).state;
    const d = decide(cart, s1, { kind: 'signal', at: 2000, event: { type: 'checkout' } });
    expect(d.events).toContainEqual({
      type: 'SearchAttributesUpserted',
      at: 2000,
      attributes: { stage: 'checkedOut' },
    });
    expect(d.state.searchAttributes).toEqual({ customer: 'c1', stage: 'checkedOut' });
    expect(s1.searchAttributes).toEqual({ customer: 'c1', stage: 'open' });
  });

  it('an invalid upsert fails the run with an error naming the key', () => {
    const s1 = decide(poisoned, undefined, start()).state;
    const d = decide(poisoned, s1, { kind: 'signal', at: 2000, event: { type: 'poison' } });
    expect(d.state.status).toBe('failed');
    expect(d.state.error?.message).toContain('"bad.key"');
  });

  it('refuses bad memo and attributes at start with InvalidInputError', () => {
    expect(() => decide(cart, undefined, start({ memo: [] as never }))).toThrow(/memo must be a JSON object/);
    expect(() => decide(cart, undefined, start({ searchAttributes: { a: {} } as never }))).toThrow(
      /searchAttributes.a must be a string, number or boolean/,
    );
  });
});

describe('validateSearchAttributes / validateMemo', () => {
  const bad: [unknown, RegExp][] = [
    [null, /must be a flat object/],
    [['a'], /must be a flat object/],
    [{ '1a': 'x' }, /key "1a" is invalid/],
    [{ 'a.b': 'x' }, /key "a.b" is invalid/],
    [{ $where: 'x' }, /key "\$where" is invalid/],
    [{ ['k'.repeat(65)]: 1 }, /is invalid/],
    [{ a: Number.NaN }, /a must be a finite number/],
    [{ a: null }, /a must be a string, number or boolean, got null/],
    [{ a: [1] }, /a must be a string, number or boolean, got an array/],
    [{ a: 'x'.repeat(257) }, /257 characters long; the limit is 256/],
    [Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])), /33 keys; the limit is 32/],
    [
      Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'v'.repeat(250)])),
      /bytes as JSON; the limit is 4096/,
    ],
  ];
  it.each(bad)('refuses %j', (value, message) => {
    const err = (() => {
      try {
        validateSearchAttributes(value);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(message);
  });

  it('accepts strings, numbers and booleans', () => {
    expect(validateSearchAttributes({ customer: 'c1', amount: 4.5, vip: false })).toEqual({
      customer: 'c1',
      amount: 4.5,
      vip: false,
    });
  });

  it('checks memo keys at any depth and its size', () => {
    expect(validateMemo({ a: [{ b: null }] })).toEqual({ a: [{ b: null }] });
    expect(() => validateMemo({ a: { $set: 1 } })).toThrow(/memo.a key "\$set" is invalid/);
    expect(() => validateMemo({ a: 'x'.repeat(9000) })).toThrow(/the limit is 8192/);
    expect(() => validateMemo({ f: () => 1 } as never)).toThrow(/memo.f must be JSON/);
  });
});

describe('createTestRun with start options', () => {
  it('starts with a signal, memo and search attributes', async () => {
    const { createTestRun } = await import('../../../shared/testing/index.js');
    const run = await createTestRun(cart, {
      input: { customer: 'c9' },
      signal: { type: 'add', item: 'tea' },
      memo: { m: 1 },
      searchAttributes: { customer: 'c9' },
    });
    expect(run.context).toEqual({ customer: 'c9', items: ['tea'] });
    expect(run.state.memo).toEqual({ m: 1 });
    expect(run.state.searchAttributes).toEqual({ customer: 'c9', stage: 'open', items: 1 });
  });
});
