/**
 * Squall's spans over the OpenTelemetry API alone: the library never loads an SDK. A process has
 * tracing on when some SDK registered a global tracer provider (a service given
 * OTEL_EXPORTER_OTLP_ENDPOINT, or the user's own application); otherwise every helper here
 * returns after one cheap check, creating no span and writing no header.
 */
import {
  type Attributes,
  type Context,
  context,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import { readTraceHeaders, type TraceHeaders, writeTraceHeaders } from './w3c.js';

/** Instrumentation scope of Squall's spans. */
export const TRACER_NAME = 'squall';

/** What the API returns while no SDK registered a provider. */
const NOOP_PROVIDER: TracerProvider = new ProxyTracerProvider().getDelegate();

/**
 * Where every copy of @opentelemetry/api 1.x keeps what was registered (tracer provider, context
 * manager, propagator). Absent until something registers: then no span can be active and no
 * provider set, which one property read tells, before the API's own lookups (~100 ns each).
 */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/** False while nothing was ever registered with the OpenTelemetry API in this process. */
function apiInUse(): boolean {
  return (globalThis as Record<symbol, unknown>)[API_GLOBAL] !== undefined;
}

/** True when a tracer provider is registered in this process (an SDK is loaded and set up). */
export function tracingOn(): boolean {
  if (!apiInUse()) return false;
  const p = trace.getTracerProvider() as TracerProvider & { getDelegate?: () => TracerProvider };
  return (typeof p.getDelegate === 'function' ? p.getDelegate() : p) !== NOOP_PROVIDER;
}

/** Squall's tracer from the registered provider. */
export function squallTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Writes the active span's context into `h` (W3C headers) unless `h` has one already. Without an
 * active span, which is always so when tracing is off, it only looks and returns.
 */
export function injectTraceContext(h: TraceHeaders): void {
  if (!apiInUse()) return;
  const span = trace.getActiveSpan();
  if (span === undefined) return;
  const sc = span.spanContext();
  if (sc.traceId !== '00000000000000000000000000000000') writeTraceHeaders(h, sc);
}

/** A context whose parent is the span context carried in headers, or undefined when they carry none. */
export function contextFromHeaders(h: Pick<TraceHeaders, 'get'> | undefined): Context | undefined {
  const sc = readTraceHeaders(h);
  return sc ? trace.setSpanContext(ROOT_CONTEXT, sc) : undefined;
}

/** A context whose parent is `sc` (a span context restored from a stored traceparent). */
export function contextOf(sc: SpanContext): Context {
  return trace.setSpanContext(ROOT_CONTEXT, sc);
}

/** `traceId` and `spanId` of the active span, for a log line; undefined when there is none. */
export function activeTraceFields(): { traceId: string; spanId: string } | undefined {
  if (!apiInUse()) return undefined;
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { traceId, spanId };
}

/** How a traced piece of work is named and placed. */
export interface SpanSpec {
  name: string;
  kind: SpanKind;
  attributes: Attributes;
  /** @default the active context */
  parent?: Context | undefined;
}

/**
 * Runs `work` inside a new active span (so what it publishes and logs carries the span), ending
 * the span when `work` settles; a throw marks it an error and is rethrown. Call only when
 * tracingOn(): the caller's fast path skips it.
 */
export function inSpan<T>(spec: SpanSpec, work: (span: Span) => Promise<T>): Promise<T> {
  const opts = { kind: spec.kind, attributes: spec.attributes };
  return squallTracer().startActiveSpan(spec.name, opts, spec.parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (err) {
      markFailed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Marks `span` failed with what `err` says (its code when it has one; never its details). */
export function markFailed(span: Span, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (err as { code?: unknown })?.code;
  span.recordException(e);
  span.setStatus({ code: SpanStatusCode.ERROR, message: typeof code === 'string' ? code : e.name });
}

export { SpanKind };
