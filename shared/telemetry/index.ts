/**
 * Tracing over the OpenTelemetry API (see docs/services.md#traces): W3C context on NATS headers,
 * spans only when a tracer provider is registered, and the trace fields of log lines.
 */
export { ATTR, traceStart } from './start.js';
export {
  activeTraceFields,
  contextFromHeaders,
  contextOf,
  injectTraceContext,
  inSpan,
  markFailed,
  type SpanSpec,
  squallTracer,
  TRACER_NAME,
  tracingOn,
} from './tracing.js';
export {
  formatTraceparent,
  parseTraceparent,
  readTraceHeaders,
  TRACEPARENT_HEADER,
  TRACESTATE_HEADER,
  type TraceHeaders,
  writeTraceHeaders,
} from './w3c.js';
