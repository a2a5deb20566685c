/** Statechart patterns built on the engine's durable primitives: dynamic fan-out and polling. */
export {
  type BatchCounts,
  type BatchResult,
  type BatchStatus,
  type CompletionPolicy,
  type CompletionReason,
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
export {
  pollIntervalMs,
  type WaitForConditionOptions,
  type WaitResult,
  type WaitStatus,
  waitForCondition,
} from './wait-for-condition.js';
