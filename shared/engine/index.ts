/**
 * The pure core: workflow definitions, the registry, decide() and replay. Imports neither NATS nor
 * MongoDB; services wire it to the bus and the store.
 */
export type { ActionTarget } from './action-target.js';
export { applyActions } from './actions.js';
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
export { type BranchTarget, branchDecisions, resumeSeq } from './branch.js';
export {
  CALLBACK_EVENT,
  type CallbackEvent,
  type CallbackLogic,
  type CallbackOptions,
  callback,
  callbackToken,
  parseCallbackToken,
} from './callback.js';
export { type CheckFinding, type CheckKind, type CheckOptions, checkDefinition, formatFinding } from './check.js';
export {
  type ChildSpec,
  type ChildWorkflowLogic,
  type ChildWorkflowOptions,
  CONTINUE_AS_NEW_EVENT_TYPE,
  childWorkflow,
  continueAsNew,
  isChildWorkflowLogic,
  PARENT_CLOSE_POLICIES,
} from './child.js';
export { type DecideOptions, decide, RECENT_INPUTS } from './decide.js';
export {
  type Invocation,
  invocation,
  now,
  SIDE_EFFECT_EVENT_PREFIX,
  type SideEffectEvent,
  sideEffect,
} from './decision-context.js';
export {
  type ActivityLogic,
  activity,
  defineWorkflow,
  isWorkflowDefinition,
  machineChildType,
  placeholderActivityLogic,
  type WorkflowDefinition,
  type WorkflowOptions,
} from './definition.js';
export { MAX_SENDERS } from './fold-message.js';
export {
  CANCEL_EVENT_TYPE,
  inputEvent,
  inputFromEvent,
  RESERVED_EVENT_PREFIXES,
  validateDecisionInput,
  validateSignal,
} from './input.js';
export {
  type MessageArg,
  SEND_TO_WORKFLOW_EVENT,
  sendToWorkflow,
  type WorkflowIdArg,
} from './messages.js';
export { WorkflowRegistry } from './registry.js';
export { foldCommits, type ReplayOptions, replayCommits } from './replay.js';
export { runTags } from './run-tags.js';
export {
  MAX_MEMO_BYTES,
  MAX_SEARCH_ATTRIBUTES,
  mergeSearchAttributes,
  SEARCH_ATTRIBUTES_EVENT,
  type SearchAttributesArg,
  upsertSearchAttributes,
  validateMemo,
  validateSearchAttributes,
} from './search-attributes.js';
export type {
  ActivityTimer,
  Command,
  Decision,
  DecisionInput,
  HeldMessage,
  PendingActivity,
  PendingChild,
  PendingTimer,
  RunState,
} from './types.js';
export {
  ATOMIC_STEP_ENGINE,
  CHILD_MESSAGE_ORDER_ENGINE,
  CURRENT_ENGINE,
  XSTATE_FIDELITY_ENGINE,
} from './types.js';
export {
  activeWaits,
  allOfEvents,
  sleepOrEvent,
  type WaitOn,
  type WaitTransition,
  waitForEvent,
} from './wait-for-event.js';
export {
  RESERVED_LOG_FIELDS,
  type WorkflowLogger,
  type WorkflowLogLevel,
  type WorkflowLogLine,
  workflowLog,
} from './workflow-log.js';
