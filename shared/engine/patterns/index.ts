/** Statechart patterns built on the engine's durable primitives: fan-out (map, parallel branches), polling, callbacks. */
export {
  type BatchCounts,
  type BatchResult,
  type BatchStatus,
  type CompletionConfig,
  type CompletionPolicy,
  type CompletionReason,
  completionVerdict,
  openBatch,
  recordItem,
  runningItems,
  startItems,
} from './batch.js';
export {
  type ActorInput,
  type ActorOutput,
  type ChildWorkflowSrc,
  type KeysAccepting,
  type MapStateBaseOptions,
  type MapStateOptions,
  mapChildPrefix,
  mapState,
} from './map-state.js';
export { type ParallelBranch, type ParallelStateOptions, parallelState } from './parallel-state.js';
export {
  type CallbackSrc,
  type CallbackWaitResult,
  type CallbackWaitStatus,
  type WaitForCallbackOptions,
  waitForCallback,
} from './wait-for-callback.js';
export {
  pollIntervalMs,
  type WaitDecision,
  type WaitForConditionBaseOptions,
  type WaitForConditionOptions,
  type WaitResult,
  type WaitStatus,
  type WaitStrategyOptions,
  type WaitUntilOptions,
  waitForCondition,
} from './wait-for-condition.js';
