export { isMissed, type PreviousRun, planTick, type TickAction } from './plan.js';
export {
  fireTimeOf,
  OVERLAP_POLICIES,
  type OverlapPolicy,
  parseDuration,
  type ResolvedScheduleSpec,
  SCHEDULE_DEFAULTS,
  type ScheduledWorkflow,
  type ScheduleSpec,
  ticksAfter,
  tickWorkflowId,
  validateScheduleSpec,
} from './spec.js';
export type { ScheduleRecord, ScheduleRunRef, ScheduleState, ScheduleStore } from './store.js';
