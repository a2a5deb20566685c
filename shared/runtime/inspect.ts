/**
 * Read-only views of a run for queries and `describe`: state value, context, pending work and
 * the events the current state accepts. Never changes the run.
 */
import { getNextTransitions } from 'xstate';
import type { WorkflowDefinition } from '../engine/index.js';
import type { RunState } from '../engine/types.js';

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
  pendingActivities: { activitySeq: number; activity: string; invokeId: string; scheduledAt: number }[];
  pendingTimers: { timerSeq: number; sendId: string; fireAt: number }[];
  /** Signals the current state accepts (engine events excluded). */
  accepts: string[];
  /** Deferred signals waiting in the mailbox. */
  mailbox: string[];
  lastSeq: number;
  startedAt: number;
  updatedAt: number;
  closedAt?: number;
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
    })),
    pendingTimers: Object.values(state.timers).map((t) => ({
      timerSeq: t.timerSeq,
      sendId: t.sendId,
      fireAt: t.fireAt,
    })),
    accepts,
    mailbox: state.mailbox.map((e) => e.type),
    lastSeq: state.lastSeq,
    startedAt: state.startedAt,
    updatedAt: state.updatedAt,
  };
  if (state.output !== undefined) out.output = state.output;
  if (state.error !== undefined) out.error = state.error;
  if (state.closedAt !== undefined) out.closedAt = state.closedAt;
  return out;
}
