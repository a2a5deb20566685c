/**
 * Squall: durable workflows as XState v5 statecharts, history in MongoDB, NATS JetStream between
 * the services. The package's public surface: define workflows and activities, run the services,
 * and drive runs with the client.
 */

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
  type SquallClient,
  type StartOptions,
  type StartResult,
  type WatchEvent,
  type WatchOptions,
  type WatchStream,
} from './client/index.js';
// Defining workflows and activities (the pure core).
export {
  type ActivityContext,
  type ActivityDefinition,
  ActivityError,
  type ActivityFn,
  type ActivityLogic,
  type ActivityOptions,
  activity,
  defaultRetryPolicy,
  defineActivity,
  defineWorkflow,
  nonRetryable,
  type RetryPolicy,
  retryAfter,
  type WorkflowDefinition,
  type WorkflowOptions,
  WorkflowRegistry,
} from './engine/index.js';
// Errors: one hierarchy with stable codes.
export {
  ActivityFailure,
  AlreadyStartedError,
  CancelledError,
  ConfigError,
  ConflictError,
  CorruptHistoryError,
  type ErrorCode,
  type ErrorInfo,
  InvalidInputError,
  NondeterminismError,
  NotFoundError,
  PayloadTooLargeError,
  SquallError,
  TimeoutError,
  UnavailableError,
  WorkflowFailedError,
} from './errors.js';
export type { ActivityPolicy, Commit, HistoryEvent, RunStatus, SignalEvent } from './history/events.js';
// Logging, and names for driving Squall over NATS directly.
export { createLogger, type Logger, type LogLevel, silentLogger } from './log.js';
export { DEFAULT_PREFIX, type Subjects, streamNames, subjects } from './names.js';
// Running the services in your own process.
export { type ExecutorOptions, startExecutor } from './runtime/executor.js';
export { loadActivities, loadWorkflows } from './runtime/load-modules.js';
export { type RouterHandle, type RouterOptions, startRouter } from './runtime/router.js';
export type { ServiceHandle, ServiceHealth, StopOptions } from './runtime/service.js';
export { startTimer, type TimerServiceOptions } from './runtime/timer.js';
