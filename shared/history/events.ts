/**
 * The history of a run: an append-only list of commits, one per decision. Each commit's first
 * event is the input the decision took; the rest are what the decision produced. History is the
 * truth; run summaries, snapshots and timer documents are projections of it.
 */
import type { ErrorInfo } from '../errors.js';

/** Millisecond Unix time at which an event was recorded. */
export type Millis = number;

/** A signal as the machine receives it: an XState event. */
export interface SignalEvent {
  type: string;
  [key: string]: unknown;
}

/** Final and non-final statuses of a run. */
export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'continued';

/** Why an input was recorded but changed nothing. */
export type IgnoredReason = 'stale' | 'unhandled' | 'closed';

// ---- input events: the first event of every commit ----

/** The run was created. Always seq 1. */
export interface RunStartedEvent {
  type: 'RunStarted';
  at: Millis;
  workflowType: string;
  version: number;
  workflowId: string;
  runId: string;
  input?: unknown;
  parent?: { workflowId: string; runId: string; invokeId: string; childSeq: number };
  /** The previous run when this one was started by continue-as-new. */
  continuedFrom?: string;
}

/** An activity attempt reported success. */
export interface ActivityCompletedEvent {
  type: 'ActivityCompleted';
  at: Millis;
  activitySeq: number;
  output?: unknown;
  attempt?: number;
  ignored?: IgnoredReason;
}

/** An activity attempt reported failure. */
export interface ActivityFailedEvent {
  type: 'ActivityFailed';
  at: Millis;
  activitySeq: number;
  error: ErrorInfo;
  attempt?: number;
  ignored?: IgnoredReason;
}

/** A durable timer came due. */
export interface TimerFiredEvent {
  type: 'TimerFired';
  at: Millis;
  timerSeq: number;
  ignored?: IgnoredReason;
}

/** An external event reached the run. `ignored: 'unhandled'` when its state could not take it. */
export interface SignalReceivedEvent {
  type: 'SignalReceived';
  at: Millis;
  signal: SignalEvent;
  /** Set when the signal waits in the mailbox until a state accepts it. */
  deferred?: boolean;
  ignored?: IgnoredReason;
}

/** A user asked to cancel the run. */
export interface CancelRequestedEvent {
  type: 'CancelRequested';
  at: Millis;
  reason?: string;
}

/** A child run finished. */
export interface ChildCompletedEvent {
  type: 'ChildCompleted';
  at: Millis;
  childSeq: number;
  output?: unknown;
  ignored?: IgnoredReason;
}

/** A child run failed, was cancelled or terminated. */
export interface ChildFailedEvent {
  type: 'ChildFailed';
  at: Millis;
  childSeq: number;
  error: ErrorInfo;
  ignored?: IgnoredReason;
}

// ---- outcome events: what a decision produced ----

/** An activity task was scheduled with a fresh engine sequence number. */
export interface ActivityScheduledEvent {
  type: 'ActivityScheduled';
  at: Millis;
  activitySeq: number;
  activity: string;
  invokeId: string;
  input?: unknown;
}

/** The machine left the state that invoked a still-running activity. */
export interface ActivityCancelledEvent {
  type: 'ActivityCancelled';
  at: Millis;
  activitySeq: number;
}

/** A durable timer was scheduled (an XState delayed event). */
export interface TimerScheduledEvent {
  type: 'TimerScheduled';
  at: Millis;
  timerSeq: number;
  sendId: string;
  delayMs: number;
  fireAt: Millis;
}

/** A pending timer was cancelled (the state was left). */
export interface TimerCancelledEvent {
  type: 'TimerCancelled';
  at: Millis;
  timerSeq: number;
}

/** A child run was requested. */
export interface ChildStartedEvent {
  type: 'ChildStarted';
  at: Millis;
  childSeq: number;
  workflowType: string;
  invokeId: string;
  childWorkflowId: string;
  input?: unknown;
}

/** The machine emitted an event for observers (`emit`). */
export interface EventEmittedEvent {
  type: 'EventEmitted';
  at: Millis;
  event: SignalEvent;
}

/** The machine reached a final state. */
export interface RunCompletedEvent {
  type: 'RunCompleted';
  at: Millis;
  output?: unknown;
}

/** The machine errored (an action threw) or a failure ended the run. */
export interface RunFailedEvent {
  type: 'RunFailed';
  at: Millis;
  error: ErrorInfo;
}

/** The run ended because of a cancel request the machine did not handle. */
export interface RunCancelledEvent {
  type: 'RunCancelled';
  at: Millis;
  reason?: string;
}

/** Every history event. */
export type HistoryEvent =
  | RunStartedEvent
  | ActivityCompletedEvent
  | ActivityFailedEvent
  | TimerFiredEvent
  | SignalReceivedEvent
  | CancelRequestedEvent
  | ChildCompletedEvent
  | ChildFailedEvent
  | ActivityScheduledEvent
  | ActivityCancelledEvent
  | TimerScheduledEvent
  | TimerCancelledEvent
  | ChildStartedEvent
  | EventEmittedEvent
  | RunCompletedEvent
  | RunFailedEvent
  | RunCancelledEvent;

/** The `type` of every history event. */
export type HistoryEventType = HistoryEvent['type'];

/** Events that can open a commit (the input of a decision). */
export type InputEvent =
  | RunStartedEvent
  | ActivityCompletedEvent
  | ActivityFailedEvent
  | TimerFiredEvent
  | SignalReceivedEvent
  | CancelRequestedEvent
  | ChildCompletedEvent
  | ChildFailedEvent;

/** Every known event type, used by decoders to refuse unknown ones. */
export const HISTORY_EVENT_TYPES: ReadonlySet<HistoryEventType> = new Set<HistoryEventType>([
  'RunStarted',
  'ActivityCompleted',
  'ActivityFailed',
  'TimerFired',
  'SignalReceived',
  'CancelRequested',
  'ChildCompleted',
  'ChildFailed',
  'ActivityScheduled',
  'ActivityCancelled',
  'TimerScheduled',
  'TimerCancelled',
  'ChildStarted',
  'EventEmitted',
  'RunCompleted',
  'RunFailed',
  'RunCancelled',
]);

/** One decision's worth of history: stored as one document, unique on `(runId, seq)`. */
export interface Commit {
  runId: string;
  workflowId: string;
  /** 1 for the RunStarted commit, then consecutive. */
  seq: number;
  /** `events[0]` is the input; the rest are the decision's outcome. */
  events: HistoryEvent[];
}
