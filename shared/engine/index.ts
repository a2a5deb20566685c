/**
 * The pure core: workflow definitions, the registry, decide() and replay. Imports neither NATS nor
 * MongoDB; services wire it to the bus and the store.
 */
export { type ActionTarget, applyActions } from './actions.js';
export {
  type ActivityContext,
  type ActivityDefinition,
  ActivityError,
  type ActivityFn,
  type ActivityOptions,
  attemptFailure,
  defaultRetryPolicy,
  defineActivity,
  isActivityDefinition,
  nonRetryable,
  type RetryPolicy,
  resolvePolicy,
  retryAfter,
} from './activity.js';
export { activityTimerId, isRetryableActivityError, retryDelay } from './attempts.js';
export { decide } from './decide.js';
export {
  type ActivityLogic,
  activity,
  defineWorkflow,
  isWorkflowDefinition,
  placeholderActivityLogic,
  type WorkflowDefinition,
  type WorkflowOptions,
} from './definition.js';
export {
  CANCEL_EVENT_TYPE,
  inputEvent,
  inputFromEvent,
  RESERVED_EVENT_PREFIXES,
  validateDecisionInput,
  validateSignal,
} from './input.js';
export { WorkflowRegistry } from './registry.js';
export { foldCommits, type ReplayOptions, replayCommits } from './replay.js';
export type {
  ActivityTimer,
  Command,
  Decision,
  DecisionInput,
  PendingActivity,
  PendingChild,
  PendingTimer,
  RunState,
} from './types.js';
export { CURRENT_ENGINE } from './types.js';
