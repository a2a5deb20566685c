/**
 * Types of the pure core: the state of a run between decisions, the inputs a decision takes,
 * and the typed commands it asks the services to carry out after the commit is stored.
 */
import type { ErrorInfo } from '../errors.js';
import type { HistoryEvent, Millis, RunStatus, SignalEvent } from '../history/events.js';

/** An activity the run is waiting on, keyed in RunState by its XState invoke id. */
export interface PendingActivity {
  activitySeq: number;
  activity: string;
  invokeId: string;
  input?: unknown;
  scheduledAt: Millis;
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
}

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
    }
  | { kind: 'activityCompleted'; at: Millis; activitySeq: number; output?: unknown; attempt?: number }
  | { kind: 'activityFailed'; at: Millis; activitySeq: number; error: ErrorInfo; attempt?: number }
  | { kind: 'timerFired'; at: Millis; timerSeq: number }
  | { kind: 'signal'; at: Millis; event: SignalEvent }
  | { kind: 'cancel'; at: Millis; reason?: string }
  | { kind: 'childCompleted'; at: Millis; childSeq: number; output?: unknown }
  | { kind: 'childFailed'; at: Millis; childSeq: number; error: ErrorInfo };

/** What the services must do once a decision's commit is stored. */
export type Command =
  | {
      kind: 'scheduleActivity';
      activitySeq: number;
      activity: string;
      invokeId: string;
      input?: unknown;
    }
  | { kind: 'cancelActivity'; activitySeq: number; activity: string }
  | { kind: 'scheduleTimer'; timerSeq: number; fireAt: Millis }
  | { kind: 'cancelTimer'; timerSeq: number }
  | {
      kind: 'startChild';
      childSeq: number;
      workflowType: string;
      childWorkflowId: string;
      invokeId: string;
      input?: unknown;
    }
  | { kind: 'emit'; event: SignalEvent }
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
}
