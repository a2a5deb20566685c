import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { CorruptHistoryError } from '../../../shared/errors.js';
import {
  decodeEvents,
  decodePayload,
  encodeEvents,
  encodePayload,
  HISTORY_FORMAT_VERSION,
  historyFromJsonLines,
  historyToJsonLines,
} from '../../../shared/history/codec.js';
import type { Commit, HistoryEvent, SignalReceivedEvent } from '../../../shared/history/events.js';

const started: HistoryEvent = {
  type: 'RunStarted',
  at: 1_700_000_000_000,
  workflowType: 'order',
  version: 1,
  workflowId: 'order-1',
  runId: 'run-1',
  input: { items: [1, 2, 3], note: 'ünïcödé', nested: { deep: [true, null, 1.5] } },
};
const scheduled: HistoryEvent = {
  type: 'ActivityScheduled',
  at: 1_700_000_000_001,
  activitySeq: 1,
  activity: 'charge',
  invokeId: 'charge',
  input: { amount: 42 },
};
const where = { runId: 'run-1', seq: 7 };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('history codec', () => {
  it('round-trips events exactly, with the format version in front', () => {
    const bytes = encodeEvents([started, scheduled]);
    expect(bytes[0]).toBe(HISTORY_FORMAT_VERSION);
    expect(decodeEvents(bytes, where)).toEqual([started, scheduled]);
  });

  it('is standard MessagePack after the version byte (any decoder reads it)', () => {
    const bytes = encodeEvents([started]);
    expect(new Packr({ useRecords: false }).unpack(bytes.subarray(1))).toEqual([started]);
  });

  it('returns independent buffers (the shared Packr does not overwrite earlier output)', () => {
    const a = encodePayload({ n: 1 });
    const b = encodePayload({ n: 2 });
    expect(decodePayload(a, { runId: 'r', what: 'state' })).toEqual({ n: 1 });
    expect(decodePayload(b, { runId: 'r', what: 'state' })).toEqual({ n: 2 });
  });

  it('keeps undefined fields, binary data and big numbers', () => {
    const v = { a: undefined, bin: new Uint8Array([0, 255, 7]), big: 2 ** 53 - 1, neg: -12.25 };
    expect(decodePayload(encodePayload(v), { runId: 'r', what: 'state' })).toEqual(v);
  });

  it('refuses an unknown event type, naming run and seq', () => {
    const bytes = encodePayload([started, { type: 'FromTheFuture', at: 1 }]);
    const err = thrown(() => decodeEvents(bytes, where));
    expect(err).toBeInstanceOf(CorruptHistoryError);
    expect((err as CorruptHistoryError).code).toBe('CORRUPT_HISTORY');
    expect((err as Error).message).toMatch(/run run-1 commit seq 7/);
    expect((err as Error).message).toMatch(/FromTheFuture/);
    expect((err as CorruptHistoryError).details).toMatchObject({ runId: 'run-1', seq: 7 });
  });

  it('refuses a future format version, naming run and seq', () => {
    const bytes = encodeEvents([started]);
    bytes[0] = HISTORY_FORMAT_VERSION + 1;
    const err = thrown(() => decodeEvents(bytes, where));
    expect(err).toBeInstanceOf(CorruptHistoryError);
    expect((err as Error).message).toMatch(/run run-1 commit seq 7.*format version 2.*newer Squall/);
  });

  it('refuses empty, garbage and non-list payloads', () => {
    expect(() => decodeEvents(new Uint8Array(), where)).toThrow(CorruptHistoryError);
    expect(() => decodeEvents(new Uint8Array([HISTORY_FORMAT_VERSION, 0xc1]), where)).toThrow(CorruptHistoryError);
    expect(() => decodeEvents(encodePayload({ type: 'RunStarted' }), where)).toThrow(/not a list/);
    expect(() => decodeEvents(encodePayload([42]), where)).toThrow(/event 0 is not an object/);
  });

  it('round-trips arbitrary JSON values (property; -0 becomes 0, as in JSON)', () => {
    fc.assert(
      // `__proto__` keys are covered by their own test below: msgpackr renames them on purpose.
      fc.property(
        fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')),
        (value) => {
          const ev: HistoryEvent = { type: 'SignalReceived', at: 1, signal: { type: 'go', value } };
          expect(decodeEvents(encodeEvents([ev]), where)).toEqual(JSON.parse(JSON.stringify([ev])));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never turns a __proto__ key of a payload into a prototype (msgpackr renames it __proto_)', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}, "b": 2}') as unknown;
    const ev: HistoryEvent = { type: 'SignalReceived', at: 1, signal: { type: 'go', value } };
    const decoded = decodeEvents(encodeEvents([ev]), where)[0] as SignalReceivedEvent;
    expect(decoded.signal.value).toEqual({ __proto_: { polluted: true }, b: 2 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('prints JSON lines for people and reads them back', () => {
    const commits: (Commit & { at: number })[] = [
      { runId: 'run-1', workflowId: 'order-1', seq: 1, at: 5, events: [started, scheduled] },
      {
        runId: 'run-1',
        workflowId: 'order-1',
        seq: 2,
        at: 9,
        events: [{ type: 'ActivityCompleted', at: 9, activitySeq: 1, output: 'ok' }],
      },
    ];
    const text = historyToJsonLines(commits);
    expect(text.trim().split('\n')).toHaveLength(2);
    expect(JSON.parse(text.split('\n')[0] ?? '')).toMatchObject({ runId: 'run-1', seq: 1, at: 5 });
    expect(historyFromJsonLines(text)).toEqual(commits);
  });

  it('refuses bad JSON lines with the line number', () => {
    expect(() => historyFromJsonLines('{"runId":"r","workflowId":"w","seq":1,"events":[]}\nnope')).toThrow(/line 2/);
    expect(() => historyFromJsonLines('{"runId":"r","workflowId":"w","seq":1,"events":[{"type":"Nope"}]}')).toThrow(
      CorruptHistoryError,
    );
  });
});
