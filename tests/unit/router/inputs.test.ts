/** Parsing of start options (signal-with-start, memo, search attributes) and callback completions. */
import { describe, expect, it } from 'vitest';
import { deadLetterReason, parseCallback, parseInbound, parseStart } from '../../../services/router/inputs.js';
import { callbackToken } from '../../../shared/engine/index.js';
import { InvalidInputError } from '../../../shared/errors.js';
import { subjects } from '../../../shared/names.js';

const refused = (fn: () => unknown): InvalidInputError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return err as InvalidInputError;
  }
  throw new Error('expected InvalidInputError');
};

describe('parseStart: start options', () => {
  it('reads signal, memo and searchAttributes', () => {
    expect(
      parseStart('cart', {
        workflowId: 'c1',
        signal: { type: 'add', item: 'x' },
        memo: { a: 1 },
        searchAttributes: { customer: 'c1' },
      }),
    ).toEqual({
      kind: 'start',
      workflowType: 'cart',
      workflowId: 'c1',
      idReusePolicy: 'returnExisting',
      signal: { type: 'add', item: 'x' },
      memo: { a: 1 },
      searchAttributes: { customer: 'c1' },
    });
  });

  it('refuses a signal without workflowId, a bad signal, memo or attributes, as invalid-input', () => {
    const cases: [unknown, RegExp][] = [
      [{ signal: { type: 'add' } }, /needs a workflowId/],
      [{ workflowId: 'c1', signal: { type: 'xstate.init' } }, /reserved/],
      [{ workflowId: 'c1', signal: { type: 'squall.callback' } }, /reserved/],
      [{ workflowId: 'c1', signal: 'add' }, /signal body must be an object/],
      [{ workflowId: 'c1', memo: 5 }, /memo must be a JSON object/],
      [{ workflowId: 'c1', searchAttributes: { 'a-b': 1 } }, /key "a-b" is invalid/],
    ];
    for (const [body, message] of cases) {
      const err = refused(() => parseStart('cart', body));
      expect(err.message).toMatch(message);
      expect(deadLetterReason(err)).toBe('invalid-input');
    }
  });
});

describe('parseCallback', () => {
  const token = callbackToken('wf', 'run-1', 3);

  it('reads completions and failures from their subjects', () => {
    const s = subjects('t');
    expect(parseInbound(s, s.callback('complete'), { token, output: { ok: 1 } })).toEqual({
      kind: 'run',
      workflowId: 'wf',
      runId: 'run-1',
      decision: { kind: 'callbackCompleted', callbackSeq: 3, output: { ok: 1 } },
    });
    expect(parseCallback('fail', { token, error: 'declined' }).decision).toEqual({
      kind: 'callbackFailed',
      callbackSeq: 3,
      error: { name: 'Error', message: 'declined' },
    });
    expect(
      parseCallback('fail', { token, error: { message: 'm', name: 'N', code: 'C', stack: 'x' } }).decision,
    ).toMatchObject({ error: { name: 'N', message: 'm', code: 'C' } });
    expect(parseInbound(s, s.callback('heartbeat'), { token })).toEqual({
      kind: 'run',
      workflowId: 'wf',
      runId: 'run-1',
      decision: { kind: 'callbackHeartbeat', callbackSeq: 3 },
    });
  });

  it('refuses bad tokens, bodies and errors', () => {
    expect(refused(() => parseCallback('complete', { token: 'x' })).message).toMatch(/invalid callback token/);
    expect(refused(() => parseCallback('complete', [])).message).toMatch(/must be an object/);
    expect(refused(() => parseCallback('fail', { token })).message).toMatch(/callback.fail needs error/);
    expect(refused(() => parseCallback('finish', { token })).message).toMatch(
      /must be one of complete, fail, heartbeat/,
    );
    expect(refused(() => parseCallback('heartbeat', { token: 'cb1_x' })).message).toMatch(/invalid callback token/);
  });
});

describe('callback subjects', () => {
  it('are built and parsed by names.ts, and a bad operation is refused', () => {
    const s = subjects('acme');
    expect(s.callback('complete')).toBe('acme.callback.complete');
    expect(s.callback('fail')).toBe('acme.callback.fail');
    expect(s.callback('heartbeat')).toBe('acme.callback.heartbeat');
    expect(s.all.callback).toBe('acme.callback.*');
    expect(s.parse('acme.callback.fail')).toEqual({ kind: 'callback', tokens: ['fail'] });
    expect(() => s.callback('finish' as never)).toThrow(InvalidInputError);
  });
});
