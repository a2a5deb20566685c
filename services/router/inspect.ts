/**
 * Read-only views of a run for queries and `describe`: state value, context, pending work and
 * the events the current state accepts. Never changes the run.
 */
import { getNextTransitions } from 'xstate';
import { runTags, type WorkflowDefinition } from '../../shared/engine/index.js';
import type { RunState } from '../../shared/engine/types.js';
import type { RunOrigin } from '../../shared/history/events.js';

/** The reply to `squall.query.<workflowId>`. */
export interface QueryResult {
  workflowId: string;
  runId: string;
  workflowType: string;
  version: number;
  status: RunState['status'];
  value: unknown;
  context: unknown;
  output?: unknown;
  error?: unknown;
  pendingActivities: {
    activitySeq: number;
    activity: string;
    invokeId: string;
    scheduledAt: number;
    /** The current attempt, from 1 (absent in runs recorded before retry policies). */
    attempt?: number;
    /** True while waiting out the backoff before the next attempt. */
    retrying?: boolean;
  }[];
  pendingTimers: { timerSeq: number; sendId: string; fireAt: number }[];
  /** Open child runs the run waits on (absent when none). */
  pendingChildren?: {
    childSeq: number;
    workflowType: string;
    invokeId: string;
    childWorkflowId: string;
    parentClosePolicy: string;
  }[];
  /** The parent run, for a child run. */
  parent?: { workflowId: string; runId: string; invokeId: string; childSeq: number };
  /** The run this one continued as new. */
  continuedFrom?: string;
  /** Where the run came from when branched, reset or resumed (docs/workflows.md#branch-reset-and-resume). */
  origin?: RunOrigin;
  /** Signals the current state accepts (engine events excluded). */
  accepts: string[];
  /** Deferred signals waiting in the mailbox. */
  mailbox: string[];
  /** Tags of the active state nodes (XState `tags`), sorted; once closed, those of the state the run ended in. */
  tags: string[];
  lastSeq: number;
  startedAt: number;
  updatedAt: number;
  closedAt?: number;
  /** Callbacks waiting for an outside completion, with their tokens. */
  pendingCallbacks?: {
    callbackSeq: number;
    invokeId: string;
    token: string;
    fireAt?: number;
    heartbeatDueAt?: number;
  }[];
}

/** Builds the query view of a run. */
export function inspectRun(def: WorkflowDefinition | undefined, state: RunState): QueryResult {
  const persisted = state.snapshot as { value?: unknown; context?: unknown };
  let accepts: string[] = [];
  if (def && state.status === 'running') {
    const snap = def.machine.resolveState(state.snapshot as Parameters<typeof def.machine.resolveState>[0]);
    accepts = [...new Set(getNextTransitions(snap).map((t) => t.eventType))].filter(
      (t) => !t.startsWith('xstate.') && t !== '*',
    );
  }
  // As XState keeps a finished actor's tags, a closed run reports those of the state it ended in.
  const tags = def ? runTags(def, state) : [];
  const out: QueryResult = {
    workflowId: state.workflowId,
    runId: state.runId,
    workflowType: state.workflowType,
    version: state.version,
    status: state.status,
    value: persisted.value,
    context: persisted.context,
    pendingActivities: Object.values(state.activities).map((a) => ({
      activitySeq: a.activitySeq,
      activity: a.activity,
      invokeId: a.invokeId,
      scheduledAt: a.scheduledAt,
      ...(a.attempt === undefined ? {} : { attempt: a.attempt }),
      ...(a.timers?.retry ? { retrying: true } : {}),
    })),
    pendingTimers: Object.values(state.timers).map((t) => ({
      timerSeq: t.timerSeq,
      sendId: t.sendId,
      fireAt: t.fireAt,
    })),
    accepts,
    mailbox: state.mailbox.map((e) => e.type),
    tags,
    lastSeq: state.lastSeq,
    startedAt: state.startedAt,
    updatedAt: state.updatedAt,
  };
  const children = Object.values(state.children ?? {});
  if (children.length > 0) {
    out.pendingChildren = children.map((c) => ({
      childSeq: c.childSeq,
      workflowType: c.workflowType,
      invokeId: c.invokeId,
      childWorkflowId: c.childWorkflowId,
      parentClosePolicy: c.parentClosePolicy ?? 'terminate',
    }));
  }
  if (state.parent) out.parent = { ...state.parent };
  if (state.continuedFrom !== undefined) out.continuedFrom = state.continuedFrom;
  if (state.origin !== undefined) out.origin = { ...state.origin };
  if (state.output !== undefined) out.output = state.output;
  if (state.error !== undefined) out.error = state.error;
  if (state.closedAt !== undefined) out.closedAt = state.closedAt;
  const callbacks = Object.values(state.callbacks ?? {});
  if (callbacks.length > 0) {
    out.pendingCallbacks = callbacks.map((c) => ({
      callbackSeq: c.callbackSeq,
      invokeId: c.invokeId,
      token: c.token,
      ...(c.fireAt === undefined ? {} : { fireAt: c.fireAt }),
      ...(c.heartbeat === undefined ? {} : { heartbeatDueAt: c.heartbeat.fireAt }),
    }));
  }
  // Engine events (a callback's token) are not signals anyone can send.
  out.accepts = out.accepts.filter((t) => t !== 'squall.callback');
  return out;
}
