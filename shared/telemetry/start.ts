/**
 * The client's side of a trace: a start request runs in a `squall.start` span (a child of the
 * caller's active span, if any), and the request carries its context in its headers.
 */
import { inSpan, SpanKind, tracingOn } from './tracing.js';

/** Span attribute names Squall sets (one place, so the services and the docs agree). */
export const ATTR = {
  workflowType: 'squall.workflow.type',
  workflowId: 'squall.workflow.id',
  runId: 'squall.run.id',
  input: 'squall.input.kind',
  seq: 'squall.commit.seq',
  outcome: 'squall.outcome',
  status: 'squall.run.status',
  activity: 'squall.activity.name',
  activitySeq: 'squall.activity.seq',
  attempt: 'squall.activity.attempt',
} as const;

/**
 * Runs a start request inside a producer span `squall.start <workflowType>`; the span gets the
 * run's id from the reply. With tracing off it is `send()` alone.
 */
export function traceStart<T extends { runId: string }>(
  workflowType: string,
  workflowId: string,
  send: () => Promise<T>,
): Promise<T> {
  if (!tracingOn()) return send();
  const attributes = { [ATTR.workflowType]: workflowType, [ATTR.workflowId]: workflowId };
  return inSpan({ name: `squall.start ${workflowType}`, kind: SpanKind.PRODUCER, attributes }, async (span) => {
    const r = await send();
    span.setAttribute(ATTR.runId, r.runId);
    return r;
  });
}
