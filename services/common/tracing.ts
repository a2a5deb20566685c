/**
 * The services' spans (see docs/services.md#traces): the router's decision of one input, the
 * executor's attempt of one task, and the completion of a run. Each hook is one call in a hot file
 * that, with tracing off, checks once and runs the work as it is.
 *
 * Where a decision hangs in its run's trace: under the context its message carries (a start from a
 * traced client, a result from a traced attempt, a child's start from its parent's decision), else
 * under the run's own trace, recorded at start in RunStarted.trace (RunState.trace). Recording it
 * with the run, not in the timer's schedules or each sender's messages, keeps the timer and the
 * signal senders untouched and survives any restart: a timer firing, a signal from an untraced
 * sender or a cancel all join the run's trace from what the router loads anyway.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import { type Context, context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { TaskMessage } from '../../shared/bus/messages.js';
import type { RunState } from '../../shared/engine/types.js';
import type { ErrorInfo } from '../../shared/errors.js';
import {
  ATTR,
  contextFromHeaders,
  contextOf,
  formatTraceparent,
  inSpan,
  markFailed,
  parseTraceparent,
  squallTracer,
  tracingOn,
} from '../../shared/telemetry/index.js';

/** What a decision span reads of the input (the router's InboundInput has this shape). */
export interface TracedInput {
  kind: 'start' | 'run';
  workflowId?: string | undefined;
  workflowType?: string;
  runId?: string | undefined;
  decision?: { kind: string };
  /** Set here on a start: the run's trace, recorded in its RunStarted. */
  trace?: string;
}

/** What a decision ended in (the router's DecideOutcome has this shape). */
export interface TracedOutcome {
  kind: string;
  runId?: string | undefined;
  seq?: number;
  created?: boolean;
}

/** Where run states are read for tracing (the router's RunDecider). */
export interface TracedRuns {
  /** The run's state if held in memory; no load, no lookup counted. */
  peek(runId: string): RunState | undefined;
  load(runId: string): Promise<{ state: RunState } | undefined>;
  current(workflowId: string): Promise<{ state: RunState } | undefined>;
}

/**
 * Runs the decision of one input inside a consumer span `squall.decide <input kind>`, under the
 * context its message carries or else its run's recorded trace (see the file header). A start's
 * run records the context it came with, or this span when it came with none.
 */
export function traceDecision<T extends TracedOutcome | undefined>(
  headers: MsgHdrs | undefined,
  input: TracedInput,
  runs: TracedRuns,
  decide: () => Promise<T>,
): Promise<T> {
  return tracingOn() ? tracedDecision(headers, input, runs, decide) : decide();
}

async function tracedDecision<T extends TracedOutcome | undefined>(
  headers: MsgHdrs | undefined,
  input: TracedInput,
  runs: TracedRuns,
  decide: () => Promise<T>,
): Promise<T> {
  const carried = contextFromHeaders(headers);
  const parent = carried ?? (input.kind === 'run' ? await runContext(input, runs) : undefined) ?? ROOT_CONTEXT;
  const kind = input.kind === 'run' ? (input.decision?.kind ?? 'run') : 'start';
  const attributes: Record<string, string> = { [ATTR.input]: kind };
  if (input.workflowId !== undefined) attributes[ATTR.workflowId] = input.workflowId;
  if (input.workflowType !== undefined) attributes[ATTR.workflowType] = input.workflowType;
  if (input.runId !== undefined) attributes[ATTR.runId] = input.runId;
  return inSpan({ name: `squall.decide ${kind}`, kind: SpanKind.CONSUMER, parent, attributes }, async (span) => {
    if (input.kind === 'start') {
      const from = carried ? trace.getSpanContext(carried) : undefined;
      input.trace = formatTraceparent(from ?? span.spanContext());
    }
    const outcome = await decide();
    if (outcome !== undefined) describeOutcome(span, outcome, runs);
    return outcome;
  });
}

/** The context of the run's recorded trace, if it has one (never throws: the decision reports trouble). */
async function runContext(input: TracedInput, runs: TracedRuns): Promise<Context | undefined> {
  try {
    const state =
      input.runId !== undefined
        ? (runs.peek(input.runId) ?? (await runs.load(input.runId))?.state)
        : input.workflowId !== undefined
          ? (await runs.current(input.workflowId))?.state
          : undefined;
    const sc = parseTraceparent(state?.trace);
    return sc ? contextOf(sc) : undefined;
  } catch {
    return undefined;
  }
}

/** The outcome's attributes, and a `squall.complete` span when this decision closed the run. */
function describeOutcome(span: Span, outcome: TracedOutcome, runs: TracedRuns): void {
  span.setAttribute(ATTR.outcome, outcome.kind);
  if (outcome.runId === undefined) return;
  span.setAttribute(ATTR.runId, outcome.runId);
  const state = runs.peek(outcome.runId);
  const seq = outcome.seq ?? (outcome.kind === 'started' ? state?.lastSeq : undefined);
  if (seq !== undefined) span.setAttribute(ATTR.seq, seq);
  if (!state) return;
  span.setAttributes({ [ATTR.workflowType]: state.workflowType, [ATTR.workflowId]: state.workflowId });
  const closedHere =
    state.status !== 'running' &&
    ((outcome.kind === 'started' && outcome.created === true) ||
      (outcome.kind === 'applied' && state.lastSeq === outcome.seq));
  if (!closedHere) return;
  const attributes = {
    [ATTR.status]: state.status,
    [ATTR.runId]: state.runId,
    [ATTR.workflowId]: state.workflowId,
    [ATTR.workflowType]: state.workflowType,
  };
  const parent = trace.setSpan(context.active(), span);
  const done = squallTracer().startSpan(`squall.complete ${state.workflowType}`, { attributes }, parent);
  if (state.status === 'failed') {
    done.setStatus({ code: SpanStatusCode.ERROR, message: state.error?.code ?? state.status });
  }
  done.end();
}

/** Marks the active decision span failed by `err` (a no-op without one); the input is settled as settle.ts says. */
export function noteDecisionFailed(err: unknown): void {
  const span = trace.getActiveSpan();
  if (span !== undefined) markFailed(span, err);
}

/**
 * Runs one delivered task inside a consumer span `squall.attempt <activity>`, under the context
 * the task carries (its scheduling decision); the result it publishes carries this span onward.
 */
export function traceAttempt(
  headers: MsgHdrs | undefined,
  task: TaskMessage,
  work: () => Promise<void>,
): Promise<void> {
  if (!tracingOn()) return work();
  const attributes = {
    [ATTR.activity]: task.activity,
    [ATTR.attempt]: task.attempt,
    [ATTR.activitySeq]: task.activitySeq,
    [ATTR.runId]: task.runId,
    [ATTR.workflowId]: task.workflowId,
    [ATTR.workflowType]: task.workflowType,
  };
  const parent = contextFromHeaders(headers) ?? ROOT_CONTEXT;
  return inSpan({ name: `squall.attempt ${task.activity}`, kind: SpanKind.CONSUMER, parent, attributes }, work);
}

/** Marks the active attempt span with how the attempt ended (a no-op without one). */
export function noteAttemptResult(result: { ok: true } | { ok: false; error: ErrorInfo }): void {
  const span = trace.getActiveSpan();
  if (span === undefined) return;
  span.setAttribute(ATTR.outcome, result.ok ? 'completed' : 'failed');
  if (!result.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: result.error.code ?? result.error.name });
}
