/**
 * The library's hooks with tracing off (no SDK registered: nothing created, nothing written) and
 * then on (an SDK registered in this process: spans, headers and log fields).
 */
import { headers } from '@nats-io/transport-node';
import { context, propagation, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/log.js';
import {
  ATTR,
  activeTraceFields,
  injectTraceContext,
  inSpan,
  squallTracer,
  TRACEPARENT_HEADER,
  traceStart,
  tracingOn,
} from '../../../shared/telemetry/index.js';

/** A logger whose lines are kept, parsed. */
function keptLogger() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLogger({ sink: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }) };
}

afterAll(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

describe('tracing off', () => {
  it('writes no header, creates no span and adds no log field', async () => {
    expect(tracingOn()).toBe(false);
    const h = headers();
    injectTraceContext(h);
    expect(h.keys()).toEqual([]);
    expect(activeTraceFields()).toBeUndefined();
    let active: unknown = 'unset';
    const r = await traceStart('order', 'o-1', async () => {
      active = trace.getActiveSpan();
      return { runId: 'r-1' };
    });
    expect(r).toEqual({ runId: 'r-1' });
    expect(active).toBeUndefined();
    const { lines, log } = keptLogger();
    log.info('hello', { runId: 'r-1' });
    expect(Object.keys(lines[0] ?? {})).toEqual(['time', 'level', 'msg', 'runId']);
  });
});

describe('tracing on', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  it('a start runs in a producer span that names the run, under the caller’s span', async () => {
    provider.register();
    expect(tracingOn()).toBe(true);
    const h = headers();
    await squallTracer().startActiveSpan('caller', async (caller) => {
      await traceStart('order', 'o-1', async () => {
        injectTraceContext(h);
        return { runId: 'r-1' };
      });
      caller.end();
    });
    const [start, caller] = exporter.getFinishedSpans();
    expect(start?.name).toBe('squall.start order');
    expect(start?.parentSpanContext?.spanId).toBe(caller?.spanContext().spanId);
    expect(start?.attributes).toMatchObject({
      [ATTR.workflowType]: 'order',
      [ATTR.workflowId]: 'o-1',
      [ATTR.runId]: 'r-1',
    });
    const sc = start?.spanContext();
    expect(h.get(TRACEPARENT_HEADER)).toBe(`00-${sc?.traceId}-${sc?.spanId}-01`);
  });

  it('log lines written in a span carry its trace and span ids; others none', async () => {
    const { lines, log } = keptLogger();
    await inSpan({ name: 'work', kind: SpanKind.INTERNAL, attributes: {} }, async (span) => {
      log.info('inside', { runId: 'r-1' });
      expect(activeTraceFields()).toEqual({ traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
    });
    log.info('outside');
    expect(lines[0]).toMatchObject({ msg: 'inside', traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(lines[1]).not.toHaveProperty('traceId');
  });

  it('a span whose work throws ends marked failed with the error code, and the error goes on', async () => {
    exporter.reset();
    const err = Object.assign(new Error('no'), { code: 'UNAVAILABLE' });
    await expect(
      inSpan({ name: 'failing', kind: SpanKind.INTERNAL, attributes: {} }, async () => {
        throw err;
      }),
    ).rejects.toBe(err);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: 2, message: 'UNAVAILABLE' });
  });
});
