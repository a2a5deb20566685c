import { headers } from '@nats-io/transport-node';
import { TraceFlags } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import {
  formatTraceparent,
  parseTraceparent,
  readTraceHeaders,
  TRACEPARENT_HEADER,
  TRACESTATE_HEADER,
  writeTraceHeaders,
} from '../../../shared/telemetry/index.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

describe('W3C trace context', () => {
  it('formats and reads back a sampled and an unsampled span context', () => {
    for (const traceFlags of [TraceFlags.SAMPLED, TraceFlags.NONE]) {
      const tp = formatTraceparent({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags });
      expect(tp).toBe(`00-${TRACE_ID}-${SPAN_ID}-0${traceFlags}`);
      expect(parseTraceparent(tp)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags, isRemote: true });
    }
  });

  it('reads a later version with more fields, as the spec asks', () => {
    expect(parseTraceparent(`01-${TRACE_ID}-${SPAN_ID}-01-extra`)?.traceId).toBe(TRACE_ID);
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['short trace id', `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`],
    ['upper-case hex', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN_ID}-01`],
    ['all-zero span id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE_ID}-${SPAN_ID}-01`],
    ['version 00 with more fields', `00-${TRACE_ID}-${SPAN_ID}-01-extra`],
    ['garbage', 'not a traceparent'],
  ])('ignores a malformed traceparent (%s)', (_what, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it('carries tracestate on NATS headers and leaves a context already there alone', () => {
    const h = headers();
    const sc = parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-01`, 'vendor=abc,other=1');
    expect(sc).toBeDefined();
    writeTraceHeaders(h, sc as NonNullable<typeof sc>);
    expect(h.get(TRACEPARENT_HEADER)).toBe(`00-${TRACE_ID}-${SPAN_ID}-01`);
    expect(h.get(TRACESTATE_HEADER)).toBe('vendor=abc,other=1');
    const read = readTraceHeaders(h);
    expect(read?.traceState?.get('vendor')).toBe('abc');

    writeTraceHeaders(h, { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 });
    expect(h.get(TRACEPARENT_HEADER)).toBe(`00-${TRACE_ID}-${SPAN_ID}-01`);
  });

  it('reads nothing from headers without a context', () => {
    expect(readTraceHeaders(undefined)).toBeUndefined();
    expect(readTraceHeaders(headers())).toBeUndefined();
  });
});
