/**
 * `squall/services`: the three services, to run in your own process. The `squall` command line
 * (services/cli) is the other way to start them. Each takes a `Partial` of its options, merged
 * over its `default…Options()`; none reads the environment.
 */

export { loadActivities, loadWorkflows } from './common/load-modules.js';
export {
  INBOX_SUBJECTS,
  type NatsPermissions,
  natsPermissions,
  SQUALL_ROLES,
  type SquallRole,
} from './common/nats-permissions.js';
export {
  DEFAULT_DB,
  DEFAULT_MONGO_URL,
  DEFAULT_NATS_URL,
} from './common/options.js';
export type { ServiceHandle, ServiceHealth, StopOptions } from './common/service.js';
export { startTracing, type TracingHandle, tracesEndpoint } from './common/tracing-sdk.js';
export {
  defaultExecutorOptions,
  type ExecutorOptions,
  type ExecutorStartOptions,
  startExecutor,
} from './executor/index.js';
export {
  defaultRouterOptions,
  type RouterHandle,
  type RouterOptions,
  type RouterOptionsInput,
  startRouter,
} from './router/index.js';
export { defaultTimerOptions, startTimer, type TimerServiceOptions } from './timer/index.js';
