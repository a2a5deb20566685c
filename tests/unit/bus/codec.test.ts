import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeBody, isJson } from '../../../shared/bus/codec.js';
import { InvalidInputError, PayloadCodecError } from '../../../shared/errors.js';

describe('codec', () => {
  it('round-trips MessagePack bodies as plain objects', () => {
    const value = { runId: 'r1', n: 3, at: 1_700_000_000_123, nested: { list: [1, 'two', null] }, big: 2 ** 40 };
    const data = encodeBody(value);
    expect(decodeBody(data, undefined, 'squall.task.a')).toEqual(value);
  });

  it('leaves out undefined properties, as JSON does, and keeps null apart from them', () => {
    for (const json of [false, true]) {
      const h = headers();
      if (json) h.set('content-type', 'application/json');
      const decoded = decodeBody(encodeBody({ a: undefined, b: null, c: { d: undefined } }, { json }), h, 's');
      expect(decoded).toStrictEqual({ b: null, c: {} });
    }
  });

  it('encodes any other undefined as nil so other MessagePack readers can read it', () => {
    expect(decodeBody(encodeBody([1, undefined]), undefined, 's')).toEqual([1, null]);
    expect([...encodeBody(undefined)]).toEqual([0xc0]);
  });

  it('reads JSON when content-type says so, in any case and with parameters', () => {
    const h = headers();
    h.set('Content-Type', 'Application/JSON; charset=utf-8');
    expect(isJson(h)).toBe(true);
    const data = new TextEncoder().encode('{"workflowId":"w1","input":{"x":1}}');
    expect(decodeBody(data, h, 'squall.start.order')).toEqual({ workflowId: 'w1', input: { x: 1 } });
  });

  it('encodes JSON replies on request', () => {
    expect(new TextDecoder().decode(encodeBody({ ok: true }, { json: true }))).toBe('{"ok":true}');
  });

  it('treats an empty body as undefined', () => {
    expect(decodeBody(new Uint8Array(0), undefined, 's')).toBeUndefined();
  });

  it('refuses undecodable MessagePack with an error naming the subject', () => {
    for (const bytes of [[0x92, 0x01], [...new TextEncoder().encode('hello')]]) {
      const call = () => decodeBody(new Uint8Array(bytes), undefined, 'squall.signal.w1');
      expect(call).toThrow(InvalidInputError);
      expect(call).toThrow(/squall\.signal\.w1.*MessagePack/);
    }
  });

  it('reads a body that starts with 0xC1 (never MessagePack) as a sealed payload, and refuses a broken one', () => {
    const call = () => decodeBody(new Uint8Array([0xc1]), undefined, 'squall.signal.w1');
    expect(call).toThrow(PayloadCodecError);
    expect(call).toThrow(/squall\.signal\.w1.*sealed payload of 1 bytes/);
  });

  it('refuses bad JSON with an error naming the subject', () => {
    const h = headers();
    h.set('content-type', 'application/json');
    const call = () => decodeBody(new TextEncoder().encode('{nope'), h, 'squall.start.order');
    expect(call).toThrow(InvalidInputError);
    expect(call).toThrow(/squall\.start\.order.*JSON/);
  });
});
