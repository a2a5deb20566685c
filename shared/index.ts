/**
 * Squall: durable workflows as XState v5 statecharts, history in MongoDB, NATS JetStream between
 * the services. The package's public surface: define workflows and activities, run the services,
 * and drive runs with the client.
 */

// NATS credentials and TLS, shared by the client and the services (docs/security.md).
export type { NatsAuth, NatsAuthKind, NatsSecurity, NatsTls } from './bus/auth.js';
export type { ScheduleClient, ScheduleDescription } from './client/index.js';
// Driving runs.
export {
  type AcceptedReply,
  type ClientOptions,
  connect,
  type EmittedEvent,
  type HistoryCommit,
  type HistoryOptions,
  type HistoryPage,
  type IdReusePolicy,
  type ListFilter,
  type ListPage,
  type QueryResult,
  type ResultOptions,
  type RunOutcome,
  type RunSummary,
  type SignalWithStartOptions,
  type SignalWithStartResult,
  type SquallClient,
  type StartOptions,
  type StartResult,
  type WatchEvent,
  type WatchOptions,
  type WatchStart,
  type WatchStream,
} from './client/index.js';
// Defining workflows and activities (the pure core).
// Static checks of definitions (what `squall check` runs).
export {
  type ActivityContext,
  type ActivityDefinition,
  ActivityError,
  type ActivityFn,
  type ActivityLogic,
  type ActivityOptions,
  activity,
  CALLBACK_EVENT,
  type CallbackEvent,
  type CallbackOptions,
  type CheckFinding,
  type CheckKind,
  type CheckOptions,
  type ChildWorkflowLogic,
  type ChildWorkflowOptions,
  callback,
  checkDefinition,
  childWorkflow,
  continueAsNew,
  defaultRetryPolicy,
  defineActivity,
  defineWorkflow,
  formatFinding,
  nonRetryable,
  now,
  type RetryPolicy,
  retryAfter,
  type SideEffectEvent,
  sendToWorkflow,
  sideEffect,
  upsertSearchAttributes,
  type WorkflowDefinition,
  type WorkflowOptions,
  WorkflowRegistry,
} from './engine/index.js';
// Statechart patterns: dynamic fan-out (map) and wait-for-condition.
export {
  type BatchCounts,
  type BatchResult,
  type BatchStatus,
  type ChildWorkflowSrc,
  type CompletionPolicy,
  type CompletionReason,
  type MapStateBaseOptions,
  type MapStateOptions,
  mapState,
  type WaitForConditionOptions,
  type WaitResult,
  type WaitStatus,
  waitForCondition,
} from './engine/patterns/index.js';
// Errors: one hierarchy with stable codes.
export {
  ActivityFailure,
  AlreadyStartedError,
  CallbackClosedError,
  CancelledError,
  ConfigError,
  ConflictError,
  CorruptHistoryError,
  type ErrorCode,
  type ErrorInfo,
  InvalidInputError,
  NondeterminismError,
  NoParentError,
  NotFoundError,
  OutsideDecisionError,
  PayloadTooLargeError,
  SquallError,
  TerminatedError,
  TimeoutError,
  UnavailableError,
  WorkflowFailedError,
} from './errors.js';
export type {
  ActivityPolicy,
  Commit,
  HistoryEvent,
  ParentClosePolicy,
  RunStatus,
  SearchAttributes,
  SearchAttributeValue,
  SignalEvent,
} from './history/events.js';
// Logging, and names for driving Squall over NATS directly.
export { createLogger, type Logger, type LogLevel, redactUrl, silentLogger } from './log.js';
export { DEFAULT_PREFIX, type Subjects, streamNames, subjects } from './names.js';
// Schedules: workflows started on a cron or an interval.
export {
  type OverlapPolicy,
  type ScheduledWorkflow,
  type ScheduleRecord,
  type ScheduleRunRef,
  type ScheduleSpec,
  type ScheduleState,
  validateScheduleSpec,
} from './schedules/index.js';
