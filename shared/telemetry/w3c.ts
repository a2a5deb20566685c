/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) on NATS headers: `traceparent` and
 * `tracestate`, written and read here so the library needs no propagator registered (a process
 * with no OpenTelemetry SDK still carries its caller's context onward).
 */
import { createTraceState, isSpanContextValid, type SpanContext, TraceFlags } from '@opentelemetry/api';

/** The header carrying `00-<trace id>-<span id>-<flags>`. */
export const TRACEPARENT_HEADER = 'traceparent';
/** The header carrying vendor entries (`key=value,…`). */
export const TRACESTATE_HEADER = 'tracestate';

/** The headers a context is read from and written to (NATS MsgHdrs has this shape). */
export interface TraceHeaders {
  get(key: string): string;
  set(key: string, value: string): void;
  has(key: string): boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** `traceparent` of a span context (version 00). */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0')}`;
}

/**
 * The remote span context a `traceparent` (and `tracestate`) names, or undefined when it is
 * absent or malformed: a bad header from a foreign publisher is ignored, as the spec asks.
 */
export function parseTraceparent(traceparent: string | undefined, tracestate?: string): SpanContext | undefined {
  if (!traceparent) return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  // Version ff is invalid; version 00 has nothing after the flags.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  const sc: SpanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true };
  if (!isSpanContextValid(sc)) return undefined;
  if (tracestate) sc.traceState = createTraceState(tracestate);
  return sc;
}

/** Writes `sc` into `h` (both headers), leaving a context already there alone. */
export function writeTraceHeaders(h: TraceHeaders, sc: SpanContext): void {
  if (h.has(TRACEPARENT_HEADER)) return;
  h.set(TRACEPARENT_HEADER, formatTraceparent(sc));
  const state = sc.traceState?.serialize();
  if (state) h.set(TRACESTATE_HEADER, state);
}

/** The span context carried in `h`, if any. */
export function readTraceHeaders(h: Pick<TraceHeaders, 'get'> | undefined): SpanContext | undefined {
  if (!h) return undefined;
  return parseTraceparent(h.get(TRACEPARENT_HEADER) || undefined, h.get(TRACESTATE_HEADER) || undefined);
}
