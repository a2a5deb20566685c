/**
 * Types of the pure core: the state of a run between decisions, the inputs a decision takes,
 * and the typed commands it asks the services to carry out after the commit is stored.
 */
import type { ErrorInfo } from '../errors.js';
import type { EventWait } from '../events/wait.js';
import type {
  ActivityPolicy,
  ActivityTimerPurpose,
  HistoryEvent,
  MessageFrom,
  MessageTarget,
  Millis,
  ParentClosePolicy,
  RunOrigin,
  RunStatus,
  SearchAttributes,
  SignalEvent,
} from '../history/events.js';

/**
 * Engine semantics new runs start under (see RunStartedEvent.engine). 3 adds XSTATE_FIDELITY_ENGINE,
 * 4 ATOMIC_STEP_ENGINE and CHILD_MESSAGE_ORDER_ENGINE; runs started under an earlier engine replay and continue as they ran.
 */
export const CURRENT_ENGINE = 4;

/**
 * From this engine on, a run follows XState where Squall used to differ (issue #16): a signal no
 * transition takes still reaches the machine (eventless transitions are re-checked after it), and
 * a delayed event sent again with a live id no longer cancels the earlier one: both fire; and the
 * machine's timers fire in order (due time, then schedule order) whatever order firings arrive in.
 */
export const XSTATE_FIDELITY_ENGINE = 3;

/**
 * From this engine on, a step whose action throws has no effect besides failing the run: the
 * messages, emits, timers, activities and child runs its earlier actions asked for are dropped
 * with it, as an XState actor drops the deferred effects of a transition that throws (issue #16).
 * Earlier engines kept them (a child's messages went out before its failure).
 */
export const ATOMIC_STEP_ENGINE = 4;

/**
 * From this engine on, the first message a run takes from a child run it started is that child
 * run's msgSeq 1: one that arrives ahead of it is held, as a parent's are in its child. Earlier
 * engines took it as it came, and the earlier message, arriving later, was dropped as stale.
 */
export const CHILD_MESSAGE_ORDER_ENGINE = 4;

/** An engine timer of an activity (retry backoff or a timeout). */
export interface ActivityTimer {
  timerSeq: number;
  fireAt: Millis;
}

/** An activity the run is waiting on, keyed in RunState by its XState invoke id. */
export interface PendingActivity {
  activitySeq: number;
  activity: string;
  invokeId: string;
  input?: unknown;
  scheduledAt: Millis;
  /** Retry policy and timeouts; absent in runs recorded before policies (one attempt, no timeouts). */
  policy?: ActivityPolicy;
  /** The current attempt, from 1. */
  attempt?: number;
  /** When the current attempt's task was published. */
  attemptScheduledAt?: Millis;
  /** When the current attempt reported its start (start-bound timeouts only). */
  startedAt?: Millis;
  /** When the current attempt last heartbeated (or started). */
  lastHeartbeatAt?: Millis;
  /** The latest heartbeat details of any attempt: the checkpoint the next attempt resumes from. */
  heartbeat?: unknown;
  /** Live engine timers of this activity by purpose; `retry` set = waiting to start the next attempt. */
  timers?: Partial<Record<ActivityTimerPurpose, ActivityTimer>>;
}

/** A timer the run is waiting on, keyed in RunState by its XState send id. */
export interface PendingTimer {
  timerSeq: number;
  sendId: string;
  fireAt: Millis;
  /** The event fed to the machine when the timer fires; `{ type: sendId }` when absent. */
  event?: SignalEvent;
}

/** A child run the parent is waiting on, keyed in RunState by its XState invoke id. */
export interface PendingChild {
  childSeq: number;
  workflowType: string;
  invokeId: string;
  childWorkflowId: string;
  /** What happens to the child when this run closes or leaves the invoking state first. */
  parentClosePolicy: ParentClosePolicy;
  /** The child's input and version (a machine child's): what a branch of this run starts it with again. */
  input?: unknown;
  version?: number;
}

/** A callback the run is waiting on (see callback.ts), keyed in RunState by its XState invoke id. */
export interface PendingCallback {
  callbackSeq: number;
  invokeId: string;
  token: string;
  createdAt: Millis;
  /** The durable timer of its timeout, when it has one. */
  timerSeq?: number;
  fireAt?: Millis;
  /** The heartbeat window, when it has one, and the timer that ends it (re-armed by each heartbeat). */
  heartbeatTimeoutMs?: number;
  heartbeat?: { timerSeq: number; fireAt: Millis };
}

/**
 * Everything decide() needs about a run besides its definition. Plain data (structured-clone
 * and msgpack safe): it is persisted in the run summary and rebuilt from history by replay.
 */
export interface RunState {
  workflowId: string;
  runId: string;
  workflowType: string;
  version: number;
  status: RunStatus;
  /** The machine's persisted snapshot (`machine.getPersistedSnapshot`). */
  snapshot: unknown;
  /** Seq of the last commit folded into this state (0 before the first). */
  lastSeq: number;
  /** Next engine sequence number for an activity, timer or child (shared counter). */
  nextSeq: number;
  activities: Record<string, PendingActivity>;
  /**
   * The machine's live delayed events, keyed by send id; under XSTATE_FIDELITY_ENGINE, one sent
   * again with a live id moves the earlier timer to supersededTimerKey() (it fires, as in XState).
   */
  timers: Record<string, PendingTimer>;
  children: Record<string, PendingChild>;
  /** Deferred signals waiting for a state that accepts them, oldest first. */
  mailbox: SignalEvent[];
  startedAt: Millis;
  updatedAt: Millis;
  closedAt?: Millis;
  output?: unknown;
  error?: ErrorInfo;
  parent?: { workflowId: string; runId: string; invokeId: string; childSeq: number };
  /** Engine semantics of the run (RunStartedEvent.engine); absent = 1. */
  engine?: number;
  /** The run this one continued (continue-as-new). */
  continuedFrom?: string;
  /** How many continue-as-new runs came before this one of its chain (absent = 0). */
  continuedCount?: number;
  /** Where the run came from when branched, reset or resumed (RunStartedEvent.origin). */
  origin?: RunOrigin;
  /** How many resets (resumes included) and branches its history went through (absent = 0); read by invocation(). */
  resets?: number;
  branches?: number;
  /** Small JSON object given at start, returned by describe; never read by the engine. */
  memo?: Record<string, unknown>;
  /** Priority of the run's activity tasks, when given at start (RunStartedEvent.priority). */
  priority?: number;
  /** The run's trace (RunStartedEvent.trace); never read by the engine. */
  trace?: string;
  /** Run timeout (RunStartedEvent.runTimeoutMs). */
  runTimeoutMs?: number;
  /** Deadline of the chain of runs (RunStartedEvent.executionDeadline). */
  executionDeadline?: Millis;
  /** Retention of the closed run's history (RunStartedEvent.retentionMs); read by the store, not the engine. */
  retentionMs?: number;
  /** Set on a swept run's tombstone state by the store's retention sweeper (never by the engine). */
  swept?: Millis;
  /** The armed run timeout timer (run-timeouts.ts), while the run is open. */
  runTimeout?: { timerSeq: number; fireAt: Millis; timeoutType: 'run' | 'execution' };
  /** Flat attributes `list` filters by: set at start, upserted by the machine (upsertSearchAttributes). */
  searchAttributes?: SearchAttributes;
  /** Callbacks waiting for an outside completion; absent when none was ever created. */
  callbacks?: Record<string, PendingCallback>;
  /**
   * Ids of the latest outside inputs taken (signals, cancels, terminates), oldest first, at most
   * RECENT_INPUTS: the same message delivered again (a router died before acking it) is dropped.
   */
  recentInputs?: string[];
  /** Messages sent, by target workflowId: the last msgSeq (see messages.ts); absent when none was sent. */
  sent?: Record<string, number>;
  /**
   * Messages taken, by sender runId: the last msgSeq delivered to the machine (at most MAX_SENDERS,
   * besides child runs whose result is held).
   */
  received?: Record<string, number>;
  /** Messages that arrived ahead of an earlier one of their sender, oldest first (see messages.ts). */
  held?: HeldMessage[];
  /** User event keys the active states wait on (wait-for-event.ts); absent when none. */
  eventWaits?: Record<string, EventWait>;
  /** Child results that arrived before the last message their child sent (see child-result.ts). */
  heldResults?: HeldChildResult[];
}

/** A message waiting for an earlier one of its sender (RunState.held). */
export interface HeldMessage {
  from: MessageFrom;
  event: SignalEvent;
  at: Millis;
}

/** A child's result waiting for the last message its child run sent (RunState.heldResults). */
export type HeldChildResult = Extract<DecisionInput, { kind: 'childCompleted' | 'childFailed' }> & {
  lastMessage: MessageFrom;
};

/** One thing that happened to a run, to be folded by decide(). Every input carries its time. */
export type DecisionInput =
  | {
      kind: 'start';
      at: Millis;
      workflowId: string;
      runId: string;
      input?: unknown;
      parent?: RunState['parent'];
      continuedFrom?: string;
      /** How many continue-as-new runs came before (absent = 0). */
      continuedCount?: number;
      /** Engine semantics; the router leaves it out (current), replay passes what history recorded. */
      engine?: number;
      /** Signal-with-start: an event delivered right after the start, in the same decision. */
      signal?: SignalEvent;
      memo?: Record<string, unknown>;
      searchAttributes?: SearchAttributes;
      /** Priority of the run's activity tasks (MIN_PRIORITY to MAX_PRIORITY); absent: the default. */
      priority?: number;
      /** W3C traceparent the run's trace hangs from (RunStartedEvent.trace). */
      trace?: string;
      /** The run this one's history was copied from (branch, reset, resume). */
      origin?: RunOrigin;
      /** Run timeout of this run and each continued one (run-timeouts.ts). */
      runTimeoutMs?: number;
      /** Execution timeout, counted from this start (a first run's). */
      executionTimeoutMs?: number;
      /** The chain's execution deadline, handed on by continue-as-new (wins over executionTimeoutMs). */
      executionDeadline?: Millis;
      /** How long the closed run's history is kept; absent = the router's default. */
      retentionMs?: number;
    }
  /** A run rebuilt from another's history goes on live: its pending work is issued again (branch.ts). */
  | { kind: 'branched'; at: Millis; origin: RunOrigin }
  | { kind: 'activityStarted'; at: Millis; activitySeq: number; attempt: number }
  | { kind: 'activityHeartbeat'; at: Millis; activitySeq: number; attempt: number; details?: unknown }
  | { kind: 'activityCompleted'; at: Millis; activitySeq: number; output?: unknown; attempt?: number }
  | {
      kind: 'activityFailed';
      at: Millis;
      activitySeq: number;
      error: ErrorInfo;
      attempt?: number;
      retryAfterMs?: number;
      heartbeat?: unknown;
    }
  | { kind: 'timerFired'; at: Millis; timerSeq: number }
  /**
   * Outside inputs carry `inputId`, the identity of the message that brought them: one already
   * among the run's recentInputs is a redelivery, and changes nothing.
   */
  /** `from`: a message another run sent (sendParent, sendTo a child, sendToWorkflow). */
  | { kind: 'signal'; at: Millis; event: SignalEvent; inputId?: string; from?: MessageFrom }
  | { kind: 'cancel'; at: Millis; reason?: string; inputId?: string }
  /** Ends the run without consulting the machine; `byParent` = the runId of a parent whose close policy sent it. */
  | { kind: 'terminate'; at: Millis; reason?: string; byParent?: string; inputId?: string }
  /**
   * A child's result. `lastMessage`: the last message the child run sent this run's workflowId
   * (sendParent, sendToWorkflow); the result waits until it is taken (child-result.ts).
   */
  | { kind: 'childCompleted'; at: Millis; childSeq: number; output?: unknown; lastMessage?: MessageFrom }
  | { kind: 'childFailed'; at: Millis; childSeq: number; error: ErrorInfo; lastMessage?: MessageFrom }
  | { kind: 'callbackCompleted'; at: Millis; callbackSeq: number; output?: unknown }
  | { kind: 'callbackFailed'; at: Millis; callbackSeq: number; error: ErrorInfo }
  /** The outside system working on a callback says it is alive: its heartbeat window starts again. */
  | { kind: 'callbackHeartbeat'; at: Millis; callbackSeq: number };

/** What the services must do once a decision's commit is stored. */
export type Command =
  | {
      kind: 'scheduleActivity';
      activitySeq: number;
      activity: string;
      invokeId: string;
      input?: unknown;
      /** Absent = 1. */
      attempt?: number;
      /** The executor reports the attempt's start (a start-bound timeout is enforced). */
      reportStart?: boolean;
      /** The attempt runs at most once: an executor that finds its start recorded fails it. */
      atMostOnce?: boolean;
      startToCloseTimeoutMs?: number;
      heartbeatTimeoutMs?: number;
      /** Latest heartbeat details of an earlier attempt. */
      lastHeartbeat?: unknown;
      /** An inline step: the router that stored it runs it; never published to executors. */
      inline?: true;
      /** Priority of the task (the activity's, else the run's); absent: the default level. */
      priority?: number;
    }
  /** The activity (or, with `attempt`, that attempt and every earlier one) is over: executors abort it. */
  | { kind: 'cancelActivity'; activitySeq: number; activity?: string; attempt?: number; reason?: string }
  | { kind: 'scheduleTimer'; timerSeq: number; fireAt: Millis }
  | { kind: 'cancelTimer'; timerSeq: number }
  | {
      kind: 'startChild';
      childSeq: number;
      workflowType: string;
      /** The version to start (a machine child follows its parent's); latest when absent. */
      version?: number;
      childWorkflowId: string;
      invokeId: string;
      input?: unknown;
      /** The parent's priority, which the child runs at. */
      priority?: number;
    }
  /** The parent stopped waiting on a child: terminate it, ask it to cancel, or leave it be (abandon). */
  | { kind: 'detachChild'; childSeq: number; childWorkflowId: string; policy: ParentClosePolicy }
  /** This child run closed: tell its parent (not sent for `continued`, whose next run reports instead). */
  | {
      kind: 'notifyParent';
      parent: NonNullable<RunState['parent']>;
      status: Exclude<RunStatus, 'running' | 'continued'>;
      output?: unknown;
      error?: ErrorInfo;
      /** The msgSeq of the last message this run sent its parent's workflowId; absent when none. */
      lastMsgSeq?: number;
    }
  /** Start the next run of this workflowId (same type, latest version) with `input` and a fresh history. */
  | {
      kind: 'continueAsNew';
      input?: unknown;
      parent?: RunState['parent'];
      continuedCount?: number;
      /** The run's priority, kept by the next run. */
      priority?: number;
      runTimeoutMs?: number;
      executionDeadline?: Millis;
      retentionMs?: number;
    }
  | { kind: 'emit'; event: SignalEvent }
  /** Deliver `event` to the current run of `target.workflowId`, from this run, as message `msgSeq`. */
  | { kind: 'sendMessage'; target: MessageTarget; event: SignalEvent; msgSeq: number }
  /** The run's waits on user events changed: index `add` (catching up from each `since`), drop `remove` keys. */
  | { kind: 'watchEvents'; add: EventWait[]; remove: string[] }
  | {
      kind: 'runClosed';
      status: Exclude<RunStatus, 'running'>;
      output?: unknown;
      error?: ErrorInfo;
    };

/** The result of one decision. `events` is empty only when the input was a no-op (closed run). */
export interface Decision {
  events: HistoryEvent[];
  state: RunState;
  commands: Command[];
  /**
   * Lines workflow code logged (workflowLog) while deciding live; absent when none or replaying.
   * Not history: the router writes them to its log once the commit is stored.
   */
  logs?: WorkflowLogLine[];
}

/** Severities of a workflow log line (those of shared/log.ts). */
export type WorkflowLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One line a decision logged, with the ids of the run and the commit it belongs to. */
export interface WorkflowLogLine {
  level: WorkflowLogLevel;
  msg: string;
  /** The caller's fields, as given (plain data). */
  fields?: Record<string, unknown>;
  runId: string;
  workflowId: string;
  workflowType: string;
  /** The seq of the commit the decision is stored as. */
  seq: number;
  /** The decision's time (`now()`). */
  at: Millis;
}

/** Where a timer superseded by a later send with the same id waits for its firing (see RunState.timers). */
export function supersededTimerKey(timer: PendingTimer): string {
  return `${timer.sendId}#superseded.${timer.timerSeq}`;
}
