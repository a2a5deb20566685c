/**
 * Messages of the run lifecycle between runs: a child run's outcome for its parent, and the
 * fields a parent (or continue-as-new) adds to the start, cancel and terminate bodies it sends.
 */

import type { DecisionInput } from '../engine/types.js';
import type { ErrorInfo } from '../errors.js';
import { InvalidInputError } from '../errors.js';
import type { RunStatus } from '../history/events.js';
import { validateToken } from '../names.js';

/** Where a child run reports: its parent run and the engine sequence the parent started it under. */
export interface ParentRef {
  workflowId: string;
  runId: string;
  invokeId: string;
  childSeq: number;
}

/** A child run closed, on `subjects.child(parentRunId)` (events stream). */
export interface ChildResultMessage {
  /** The parent run. */
  runId: string;
  workflowId: string;
  childSeq: number;
  childWorkflowId: string;
  childRunId: string;
  status: Exclude<RunStatus, 'running' | 'continued'>;
  output?: unknown;
  error?: ErrorInfo;
  /**
   * The msgSeq of the last message the child run sent its parent's workflowId (sendParent,
   * sendToWorkflow); the parent takes the result after it. Absent when it sent none.
   */
  lastMsgSeq?: number;
}

/** Msg id of a child's outcome: one per child run. */
export function childResultMsgId(parentRunId: string, childSeq: number): string {
  return `child:${parentRunId}:${childSeq}`;
}

const CLOSED: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled', 'terminated']);

function bad(what: string, field: string, problem: string): never {
  throw new InvalidInputError(`${what}: field '${field}' ${problem}`, { details: { field } });
}

function tokenField(what: string, o: Record<string, unknown>, field: string, kind: 'runId' | 'workflowId'): string {
  try {
    return validateToken(kind, o[field]);
  } catch (err) {
    return bad(what, field, `is invalid: ${(err as Error).message}`);
  }
}

function seqField(what: string, o: Record<string, unknown>, field: string): number {
  const v = o[field];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(what, field, 'must be a positive integer');
  return v;
}

/** Checks a parent reference carried by a start body. */
export function validateParentRef(value: unknown): ParentRef {
  const w = 'start.parent';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('start', 'parent', 'must be an object');
  const o = value as Record<string, unknown>;
  if (typeof o.invokeId !== 'string' || o.invokeId.length === 0) bad(w, 'invokeId', 'must be a non-empty string');
  return {
    workflowId: tokenField(w, o, 'workflowId', 'workflowId'),
    runId: tokenField(w, o, 'runId', 'runId'),
    invokeId: o.invokeId,
    childSeq: seqField(w, o, 'childSeq'),
  };
}

/** Checks a decoded child outcome body. */
export function validateChildResult(body: unknown): ChildResultMessage {
  const w = 'child';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError(`${w}: body must be an object, got ${body === null ? 'null' : typeof body}`);
  }
  const o = body as Record<string, unknown>;
  if (typeof o.status !== 'string' || !CLOSED.has(o.status)) {
    bad(w, 'status', `must be one of ${[...CLOSED].join(', ')}`);
  }
  const out: ChildResultMessage = {
    runId: tokenField(w, o, 'runId', 'runId'),
    workflowId: tokenField(w, o, 'workflowId', 'workflowId'),
    childSeq: seqField(w, o, 'childSeq'),
    childWorkflowId: tokenField(w, o, 'childWorkflowId', 'workflowId'),
    childRunId: tokenField(w, o, 'childRunId', 'runId'),
    status: o.status as ChildResultMessage['status'],
  };
  if (o.output !== undefined) out.output = o.output;
  if (o.lastMsgSeq !== undefined) out.lastMsgSeq = seqField(w, o, 'lastMsgSeq');
  if (o.error !== undefined) {
    const e = o.error as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || typeof e.message !== 'string') {
      bad(w, 'error', 'must be an ErrorInfo { name, message }');
    }
    out.error = e as unknown as ErrorInfo;
  }
  return out;
}

/**
 * The error a parent's `onError` gets for a child that did not complete: a WorkflowFailedError
 * (CancelledError for a cancelled child) naming the child, its status and its own error.
 */
export function childFailure(m: ChildResultMessage): ErrorInfo {
  const cancelled = m.status === 'cancelled';
  const why = m.error ? `: ${m.error.message}` : '';
  return {
    name: cancelled ? 'CancelledError' : 'WorkflowFailedError',
    code: cancelled ? 'CANCELLED' : 'WORKFLOW_FAILED',
    message: `child run ${m.childWorkflowId} (${m.childRunId}) ${m.status}${why}`,
    details: {
      childWorkflowId: m.childWorkflowId,
      childRunId: m.childRunId,
      status: m.status,
      ...(m.error ? { cause: m.error } : {}),
    },
  };
}

/** A child's outcome as its parent's engine input (the router adds the time it is decided at). */
export type ChildResultInput =
  | Omit<Extract<DecisionInput, { kind: 'childCompleted' }>, 'at'>
  | Omit<Extract<DecisionInput, { kind: 'childFailed' }>, 'at'>;

/** The engine input of child outcome `m`: its output, or the error childFailure() names, and its last message. */
export function childResultInput(m: ChildResultMessage): ChildResultInput {
  const input: ChildResultInput =
    m.status === 'completed'
      ? { kind: 'childCompleted', childSeq: m.childSeq }
      : { kind: 'childFailed', childSeq: m.childSeq, error: childFailure(m) };
  if (input.kind === 'childCompleted' && m.output !== undefined) input.output = m.output;
  if (m.lastMsgSeq !== undefined) {
    input.lastMessage = { workflowId: m.childWorkflowId, runId: m.childRunId, msgSeq: m.lastMsgSeq };
  }
  return input;
}
