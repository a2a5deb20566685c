/**
 * The history of a run: an append-only list of commits, one per decision. Each commit's first
 * event is the input the decision took; the rest are what the decision produced. History is the
 * truth; run summaries, snapshots and timer documents are projections of it.
 *
 * One file on purpose (over 400 lines): it is the schema of that one log, a closed union whose
 * variants, HISTORY_EVENT_TYPES and the InputEvent subset must change together and be reviewed
 * side by side; split, a new event could be added to the union and missed by the decoder's set.
 */
import type { ErrorInfo } from '../errors.js';

/** Millisecond Unix time at which an event was recorded. */
export type Millis = number;

/** A signal as the machine receives it: an XState event. */
export interface SignalEvent {
  type: string;
  [key: string]: unknown;
}

/** A search attribute value: what `list({ where })` matches exactly. */
export type SearchAttributeValue = string | number | boolean;

/** Flat map of search attributes of a run (see shared/engine/search-attributes.ts for the limits). */
export type SearchAttributes = Record<string, SearchAttributeValue>;

/** Final and non-final statuses of a run. */
export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'continued';

/**
 * Who sent a message between runs (see shared/engine/messages.ts): the sender run and the
 * message's sequence among those it sent to the receiving workflowId (1, 2, 3, ...).
 */
export interface MessageFrom {
  workflowId: string;
  runId: string;
  msgSeq: number;
}

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
  /** How many continue-as-new runs came before this one (absent = 0); read by invocation(). */
  continuedCount?: number;
  /**
   * Engine semantics the run was started under. Absent (1): histories recorded before activity
   * policies, replayed as they ran (one attempt per activity, no timeouts). 2: retry policies,
   * timeouts and heartbeats. 3: XState fidelity (an unhandled signal still reaches the machine,
   * same-id delayed events both fire, timers fire in due-time then schedule order). 4: a step
   * whose action throws sends, emits and schedules nothing (XState drops its effects).
   */
  engine?: number;
  /** Signal-with-start: the event delivered right after the start, in the same commit. */
  signal?: SignalEvent;
  /** Small JSON object given at start, returned by describe. */
  memo?: Record<string, unknown>;
  /** Search attributes given at start. */
  searchAttributes?: SearchAttributes;
  /** Priority of the run's activity tasks (docs/flow-control.md#priorities); absent: the default. */
  priority?: number;
  /**
   * W3C `traceparent` of the span the run's trace hangs from (see docs/services.md#traces): the
   * parent of its decisions whose input carries no trace context. Recorded, never read by the engine.
   */
  trace?: string;
  /** Longest this run may stay open (the same for each continued run); absent = no limit. */
  runTimeoutMs?: number;
  /** When the chain of runs of this workflowId must have closed (execution timeout); absent = never. */
  executionDeadline?: Millis;
  /** How long the closed run's history is kept; absent = the router's default. */
  retentionMs?: number;
  /** Where the run came from when it was branched, reset or resumed from another run's history. */
  origin?: RunOrigin;
}

/**
 * Where a run branched, reset or resumed from another run came from: the source run and the last
 * of its commits the new run's history repeats (docs/workflows.md#branch-reset-and-resume).
 */
export interface RunOrigin {
  kind: 'branch' | 'reset' | 'resume';
  workflowId: string;
  runId: string;
  atSeq: number;
}

/**
 * The run goes on live from a copy of another run's history (commit `origin.atSeq + 1` of the new
 * run): the activities, timers and callback timeouts pending at that point are issued again for it.
 */
export interface RunBranchedEvent {
  type: 'RunBranched';
  at: Millis;
  origin: RunOrigin;
}

/** An executor began an attempt (reported when the policy has a start-bound timeout). */
export interface ActivityStartedEvent {
  type: 'ActivityStarted';
  at: Millis;
  activitySeq: number;
  attempt: number;
  ignored?: IgnoredReason;
}

/** A running attempt heartbeated; the latest details are kept for the next attempt. */
export interface ActivityHeartbeatEvent {
  type: 'ActivityHeartbeat';
  at: Millis;
  activitySeq: number;
  attempt: number;
  details?: unknown;
  ignored?: IgnoredReason;
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
  /** Delay the activity asked for before its next attempt (`retryAfter(ms, err)`). */
  retryAfterMs?: number;
  /** Latest heartbeat details of the failed attempt. */
  heartbeat?: unknown;
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
  /** The message that brought it (DecisionInput `inputId`), so a redelivery is recognised. */
  inputId?: string;
  /** Set when another run sent it (sendParent, sendTo a child, sendToWorkflow). */
  from?: MessageFrom;
  /**
   * Set when a message arrived ahead of an earlier one of its sender: it waits, unseen by the
   * machine, and is delivered (a SignalReceived with `from` later in the commit that takes the
   * earlier one) in the sender's order.
   */
  held?: boolean;
}

/** A user asked to cancel the run. */
export interface CancelRequestedEvent {
  type: 'CancelRequested';
  at: Millis;
  reason?: string;
  inputId?: string;
}

/**
 * A user (or a parent's close policy) ended the run at once: the machine is not consulted, and
 * everything pending is cancelled.
 */
export interface TerminateRequestedEvent {
  type: 'TerminateRequested';
  at: Millis;
  reason?: string;
  /** Set when a parent's close policy sent it: the parent's runId. */
  byParent?: string;
  inputId?: string;
}

/** A child run finished. */
export interface ChildCompletedEvent {
  type: 'ChildCompleted';
  at: Millis;
  childSeq: number;
  output?: unknown;
  ignored?: IgnoredReason;
  /** The last message the child run sent this run's workflowId; absent when none (or recorded before). */
  lastMessage?: MessageFrom;
  /**
   * Set when the result arrived before that message was taken: it waits, unseen by the machine,
   * and is delivered (a ChildCompleted without `held` later in the commit that takes the message).
   */
  held?: boolean;
}

/** A child run failed, was cancelled or terminated. */
export interface ChildFailedEvent {
  type: 'ChildFailed';
  at: Millis;
  childSeq: number;
  error: ErrorInfo;
  ignored?: IgnoredReason;
  /** As ChildCompletedEvent.lastMessage. */
  lastMessage?: MessageFrom;
  /** As ChildCompletedEvent.held. */
  held?: boolean;
}

/** An outside system completed a callback (`client.completeCallback(token, output)`). */
export interface CallbackCompletedEvent {
  type: 'CallbackCompleted';
  at: Millis;
  callbackSeq: number;
  output?: unknown;
  ignored?: IgnoredReason;
}

/** An outside system's heartbeat for a callback (`client.heartbeatCallback(token)`). */
export interface CallbackHeartbeatEvent {
  type: 'CallbackHeartbeat';
  at: Millis;
  callbackSeq: number;
  ignored?: IgnoredReason;
}

/** An outside system failed a callback (`client.failCallback(token, error)`). */
export interface CallbackFailedEvent {
  type: 'CallbackFailed';
  at: Millis;
  callbackSeq: number;
  error: ErrorInfo;
  ignored?: IgnoredReason;
}

// ---- outcome events: what a decision produced ----

/** The retry policy and timeouts the router enforces for one scheduled activity. */
export interface ActivityPolicy {
  retry: {
    initialIntervalMs: number;
    backoffCoefficient: number;
    maximumIntervalMs: number;
    /** 0 = unlimited. */
    maximumAttempts: number;
    nonRetryableErrorTypes: string[];
  };
  scheduleToStartTimeoutMs?: number;
  startToCloseTimeoutMs?: number;
  scheduleToCloseTimeoutMs?: number;
  heartbeatTimeoutMs?: number;
  /** An inline step: the router runs it in its own process (see ActivityOptions.inline). */
  inline?: true;
  /** Priority of its tasks (ActivityOptions.priority); absent: the run's. */
  priority?: number;
  /** At most one run per attempt: the executor records the start first (ActivityOptions.semantics). */
  atMostOnce?: true;
}

/** An activity task was scheduled with a fresh engine sequence number. */
export interface ActivityScheduledEvent {
  type: 'ActivityScheduled';
  at: Millis;
  activitySeq: number;
  activity: string;
  invokeId: string;
  input?: unknown;
  /** The policy in force for every attempt (absent in histories recorded before policies). */
  policy?: ActivityPolicy;
}

/** The four activity timeouts. */
export type ActivityTimeoutType = 'scheduleToStart' | 'startToClose' | 'scheduleToClose' | 'heartbeat';

/** What an engine timer of an activity is for. */
export type ActivityTimerPurpose = ActivityTimeoutType | 'retry';

/** An attempt (or, for scheduleToClose, the whole activity) ran out of time. */
export interface ActivityTimedOutEvent {
  type: 'ActivityTimedOut';
  at: Millis;
  activitySeq: number;
  attempt: number;
  timeoutType: ActivityTimeoutType;
  error: ErrorInfo;
}

/** The machine left the state that invoked a still-running activity. */
export interface ActivityCancelledEvent {
  type: 'ActivityCancelled';
  at: Millis;
  activitySeq: number;
}

/**
 * A durable timer was scheduled: an XState delayed event, or an engine timer of an activity
 * (`purpose` and `activitySeq` set; `sendId` is `squall.activity.<activitySeq>.<purpose>`).
 */
export interface TimerScheduledEvent {
  type: 'TimerScheduled';
  at: Millis;
  timerSeq: number;
  sendId: string;
  delayMs: number;
  fireAt: Millis;
  activitySeq?: number;
  purpose?: ActivityTimerPurpose;
  /** The attempt the timer concerns (for `retry`: the attempt it will start). */
  attempt?: number;
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
  /** Applied when the parent closes or leaves the invoking state first (absent = terminate). */
  parentClosePolicy?: ParentClosePolicy;
}

/** The machine emitted an event for observers (`emit`). */
export interface EventEmittedEvent {
  type: 'EventEmitted';
  at: Millis;
  event: SignalEvent;
}

/**
 * A side effect's value, recorded the first time it was decided (`sideEffect(id, fn)`); replays
 * take it from here instead of calling `fn`. The machine receives it as `squall.sideEffect.<id>`.
 */
export interface SideEffectRecordedEvent {
  type: 'SideEffectRecorded';
  at: Millis;
  id: string;
  value?: unknown;
}

/** The machine upserted search attributes (`upsertSearchAttributes`); `attributes` are the keys it set. */
export interface SearchAttributesUpsertedEvent {
  type: 'SearchAttributesUpserted';
  at: Millis;
  attributes: SearchAttributes;
}

/** The machine invoked a callback: `token` is what an outside system completes it with. */
export interface CallbackCreatedEvent {
  type: 'CallbackCreated';
  at: Millis;
  callbackSeq: number;
  invokeId: string;
  token: string;
  /** Its timeout, armed as the TimerScheduled that follows. */
  timeoutMs?: number;
  /** Its heartbeat window, armed as a TimerScheduled (`squall.callback.<seq>.heartbeat`). */
  heartbeatTimeoutMs?: number;
}

/** A callback's timeout fired before any completion. */
export interface CallbackTimedOutEvent {
  type: 'CallbackTimedOut';
  at: Millis;
  callbackSeq: number;
  error: ErrorInfo;
}

/** The machine left the state that invoked a pending callback (or the run ended). */
export interface CallbackCancelledEvent {
  type: 'CallbackCancelled';
  at: Millis;
  callbackSeq: number;
}

/** Where a message between runs goes: how the machine named it, and the workflowId it reaches. */
export interface MessageTarget {
  /** `parent`: sendParent; `child`: sendTo a child workflow's invoke; `workflow`: sendToWorkflow. */
  kind: 'parent' | 'child' | 'workflow';
  workflowId: string;
  /** The child's invoke id (`child` only). */
  invokeId?: string;
}

/**
 * The machine sent a message to another run; it reaches the target's current run as a
 * SignalReceived with `from: { workflowId, runId, msgSeq }` of this run.
 */
export interface MessageSentEvent {
  type: 'MessageSent';
  at: Millis;
  target: MessageTarget;
  event: SignalEvent;
  /** 1, 2, 3, ... per target workflowId: the receiver takes them in this order, each once. */
  msgSeq: number;
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

/** The run was ended by a terminate request. */
export interface RunTerminatedEvent {
  type: 'RunTerminated';
  at: Millis;
  reason?: string;
}

/** What becomes of an open child when its parent closes or leaves the state that invoked it. */
export type ParentClosePolicy = 'terminate' | 'requestCancel' | 'abandon';

/**
 * The parent no longer waits on a child (it left the invoking state or closed); the child's
 * parent close policy was applied (a terminate or cancel request sent, or nothing for abandon).
 */
export interface ChildDetachedEvent {
  type: 'ChildDetached';
  at: Millis;
  childSeq: number;
  childWorkflowId: string;
  policy: ParentClosePolicy;
}

/** The machine asked to continue as a new run of the same workflowId with a fresh history. */
export interface RunContinuedAsNewEvent {
  type: 'RunContinuedAsNew';
  at: Millis;
  input?: unknown;
}

/** Every history event. */
export type HistoryEvent =
  | RunStartedEvent
  | RunBranchedEvent
  | ActivityStartedEvent
  | ActivityHeartbeatEvent
  | ActivityCompletedEvent
  | ActivityFailedEvent
  | TimerFiredEvent
  | SignalReceivedEvent
  | CancelRequestedEvent
  | TerminateRequestedEvent
  | ChildCompletedEvent
  | ChildFailedEvent
  | ActivityScheduledEvent
  | ActivityTimedOutEvent
  | ActivityCancelledEvent
  | TimerScheduledEvent
  | TimerCancelledEvent
  | ChildStartedEvent
  | EventEmittedEvent
  | SideEffectRecordedEvent
  | SearchAttributesUpsertedEvent
  | CallbackCompletedEvent
  | CallbackFailedEvent
  | CallbackHeartbeatEvent
  | CallbackCreatedEvent
  | CallbackTimedOutEvent
  | CallbackCancelledEvent
  | MessageSentEvent
  | RunCompletedEvent
  | RunFailedEvent
  | RunCancelledEvent
  | RunTerminatedEvent
  | ChildDetachedEvent
  | RunContinuedAsNewEvent;

/** The `type` of every history event. */
export type HistoryEventType = HistoryEvent['type'];

/** Events that can open a commit (the input of a decision). */
export type InputEvent =
  | RunStartedEvent
  | RunBranchedEvent
  | ActivityStartedEvent
  | ActivityHeartbeatEvent
  | ActivityCompletedEvent
  | ActivityFailedEvent
  | TimerFiredEvent
  | SignalReceivedEvent
  | CancelRequestedEvent
  | TerminateRequestedEvent
  | ChildCompletedEvent
  | ChildFailedEvent
  | CallbackCompletedEvent
  | CallbackFailedEvent
  | CallbackHeartbeatEvent;

/** Every known event type, used by decoders to refuse unknown ones. */
export const HISTORY_EVENT_TYPES: ReadonlySet<HistoryEventType> = new Set<HistoryEventType>([
  'RunStarted',
  'RunBranched',
  'ActivityStarted',
  'ActivityHeartbeat',
  'ActivityCompleted',
  'ActivityFailed',
  'TimerFired',
  'SignalReceived',
  'CancelRequested',
  'ChildCompleted',
  'ChildFailed',
  'ActivityScheduled',
  'ActivityTimedOut',
  'ActivityCancelled',
  'TimerScheduled',
  'TimerCancelled',
  'ChildStarted',
  'EventEmitted',
  'SideEffectRecorded',
  'SearchAttributesUpserted',
  'CallbackCompleted',
  'CallbackFailed',
  'CallbackHeartbeat',
  'CallbackCreated',
  'CallbackTimedOut',
  'CallbackCancelled',
  'MessageSent',
  'RunCompleted',
  'RunFailed',
  'RunCancelled',
  'TerminateRequested',
  'RunTerminated',
  'ChildDetached',
  'RunContinuedAsNew',
]);

/** The status each closing event ends its run with. */
const CLOSING_STATUS: Readonly<Partial<Record<HistoryEventType, RunStatus>>> = {
  RunCompleted: 'completed',
  RunFailed: 'failed',
  RunCancelled: 'cancelled',
  RunTerminated: 'terminated',
  RunContinuedAsNew: 'continued',
};

/** The status a decision's events close their run with; undefined when they leave it open. */
export function closingStatusOf(events: readonly HistoryEvent[]): RunStatus | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const status = CLOSING_STATUS[(events[i] as HistoryEvent).type];
    if (status !== undefined) return status;
  }
  return undefined;
}

/** One decision's worth of history: stored as one document, unique on `(runId, seq)`. */
export interface Commit {
  runId: string;
  workflowId: string;
  /** 1 for the RunStarted commit, then consecutive. */
  seq: number;
  /** `events[0]` is the input; the rest are the decision's outcome. */
  events: HistoryEvent[];
}
