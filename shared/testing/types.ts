/**
 * The shapes of squall/testing's in-memory runs: the options of createTestRun() and the TestRun
 * it returns (implemented by InMemoryRun).
 */
import type { WorkflowDefinition } from '../engine/definition.js';
import type {
  Command,
  Decision,
  DecisionInput,
  PendingActivity,
  PendingCallback,
  PendingChild,
  PendingTimer,
  RunState,
} from '../engine/types.js';
import type { WorkflowLogLine } from '../engine/workflow-log.js';
import type { ErrorInfo } from '../errors.js';
import type {
  Commit,
  MessageFrom,
  MessageTarget,
  Millis,
  RunStatus,
  SearchAttributes,
  SignalEvent,
} from '../history/events.js';
import type { ActivityStub } from './stubs.js';
import type { UndeliveredMessage } from './world.js';

/** Options of createTestRun. */
export interface TestRunOptions {
  /** Stubs by activity name. An activity without a stub stays pending until complete()/fail(). @default {} */
  activities?: Record<string, ActivityStub>;
  /** The run's input. */
  input?: unknown;
  /** @default 'test-workflow' */
  workflowId?: string;
  /** @default `${workflowId}-run-1` */
  runId?: string;
  /** As if this run were the n-th continue-as-new of its chain: what invocation().continuedAsNew answers. @default 0 */
  continuedCount?: number;
  /** Virtual time of the start. @default 0 */
  start?: Millis;
  /** Deliver stubbed activity results after every input (in schedule order). @default true */
  autoRun?: boolean;
  /**
   * Stubs of child workflows by workflow type, like activity stubs: a value is the child's
   * output, an Error (or a function that throws or returns one) fails it. A child without a stub
   * stays open until completeChild()/failChild(). @default {}
   */
  children?: Record<string, ActivityStub>;
  /** Signal-with-start: an event delivered in the start's own decision. */
  signal?: SignalEvent;
  /** Memo of the run (see StartOptions.memo). */
  memo?: Record<string, unknown>;
  /** Search attributes at start (see StartOptions.searchAttributes). */
  searchAttributes?: SearchAttributes;
  /** Run timeout (see StartOptions.runTimeoutMs): a timer of virtual time fails the run. */
  runTimeoutMs?: number;
  /** Execution timeout (see StartOptions.executionTimeoutMs). */
  executionTimeoutMs?: number;
  /**
   * Workflows run for real next to this one: a child of one of these types (and no stub in
   * `children`) is started as an in-memory run of its own, with these same options, and messages
   * between runs (sendParent, sendTo a child, sendToWorkflow) reach the open run of their target
   * workflowId as the router delivers them: once and in order. Such runs keep their own clock. @default []
   */
  workflows?: readonly WorkflowDefinition[];
  /** Start this run as a child of that (absent) parent, so its `sendParent` lands in `messagesSent`. */
  parent?: { workflowId: string; runId: string; invokeId?: string; childSeq?: number };
}

/** A message a run sent to another (its `sendMessage` command). */
export interface SentMessage {
  target: MessageTarget;
  event: SignalEvent;
  msgSeq: number;
}

/** A run driven by a test. Every method folds inputs through decide() and records the commits. */
export interface TestRun {
  readonly definition: WorkflowDefinition;
  /** Every commit so far, as the router would have stored them. */
  readonly history: readonly Commit[];
  readonly state: RunState;
  readonly status: RunStatus;
  /** The machine's output once completed. */
  readonly output: unknown;
  /** The failure once failed. */
  readonly error: ErrorInfo | undefined;
  /** Current state value (`'waiting'`, `{ fulfilling: { ... } }`). */
  readonly value: unknown;
  readonly context: unknown;
  /** Sorted tags of the active state nodes; once closed, those of the state the run ended in (as XState keeps them). */
  readonly tags: string[];
  /** Virtual time now. */
  readonly now: Millis;
  /** Every command decisions produced, in order. */
  readonly commands: readonly Command[];
  /** Events the machine emitted (`emit`), in order. */
  readonly emitted: readonly SignalEvent[];
  /** Lines workflow code logged (workflowLog), in order, as the router would write them: once per decision. */
  readonly logs: readonly WorkflowLogLine[];
  /** Activities scheduled and not yet finished, in schedule order (also those waiting for a retry). */
  pendingActivities(): PendingActivity[];
  /** Live timers, earliest first: the machine's, and activity retry and timeout timers. */
  pendingTimers(): PendingTimer[];
  /** Sends a signal now. */
  signal(event: SignalEvent): Promise<Decision>;
  /**
   * Publishes a user event now, as the fan-out would deliver it (docs/events.md): to this run
   * only if it waits on `key` and the event reaches the wait (time, filter), with the wait's
   * label. Resolves undefined when it does not.
   */
  publishEvent(key: string, payload?: unknown, opts?: { eventId?: string }): Promise<Decision | undefined>;
  /** Asks the run to cancel now. */
  cancel(reason?: string): Promise<Decision>;
  /** Terminates the run now (its machine is not consulted). */
  terminate(reason?: string): Promise<Decision>;
  /** Open child runs, oldest first. */
  pendingChildren(): PendingChild[];
  /** Completes an open child, named by workflow type (oldest open) or childSeq. */
  completeChild(child: string | number, output?: unknown): Promise<Decision>;
  /** Fails an open child (as a failed child run would), named by workflow type or childSeq. */
  failChild(child: string | number, error: unknown): Promise<Decision>;
  /** Completes a pending activity, named by activity name (oldest pending) or activitySeq. */
  complete(activity: string | number, output?: unknown): Promise<Decision>;
  /**
   * Fails the current attempt of a pending activity, named by activity name (oldest pending) or
   * activitySeq; its policy decides whether it is retried (`nonRetryable(err)` never is).
   */
  fail(activity: string | number, error: unknown): Promise<Decision>;
  /** Reports a heartbeat of the current attempt, with details for the next attempt. */
  heartbeat(activity: string | number, details?: unknown): Promise<Decision>;
  /** Callbacks the run waits on, oldest first, with their tokens (as `query().pendingCallbacks`). */
  pendingCallbacks(): PendingCallback[];
  /**
   * Completes a pending callback as `client.completeCallback` would: named by its token or its
   * invoke id. A callback that is over is recorded as ignored, as the router records it.
   */
  completeCallback(callback: string, output?: unknown): Promise<Decision>;
  /** Fails a pending callback (`client.failCallback`), named by token or invoke id. */
  failCallback(
    callback: string,
    error: Error | string | { message: string; name?: string; code?: string },
  ): Promise<Decision>;
  /** A heartbeat for a pending callback (`client.heartbeatCallback`): its heartbeat window starts again. */
  heartbeatCallback(callback: string): Promise<Decision>;
  /** Delivers every stubbed activity result, in schedule order, until none is left. */
  runUntilIdle(): Promise<void>;
  /** Moves the clock to `ms`, firing every timer due on the way (in order). */
  advanceTo(ms: Millis): Promise<void>;
  /** Moves the clock forward by `ms`. */
  advanceBy(ms: number): Promise<void>;
  /** Jumps to the next live timer and fires it; false when there is none. */
  skipToNextTimer(): Promise<boolean>;
  /** Runs activities and timers until the run closes or nothing is left to do. */
  runToEnd(): Promise<void>;
  /** Folds any input (at defaults to now), for tests that need exact control. */
  apply(input: DecisionInput): Decision;
  /** Replays this run's history under its definition; throws NondeterminismError on divergence. */
  replay(): RunState;
  /** Messages this run sent to other runs, in order. */
  readonly messagesSent: readonly SentMessage[];
  /** Messages any run of this test sent to a workflowId it does not run open (the router would dead-letter them). */
  readonly undelivered: readonly UndeliveredMessage[];
  /** The latest run of `workflowId` this test drives (a child started from `workflows`), or undefined. */
  runOf(workflowId: string): TestRun | undefined;
  /** Delivers a message another run sent (`from`: its workflowId, runId and msgSeq), as the router would. */
  receive(event: SignalEvent, from: MessageFrom): Promise<Decision>;
}
