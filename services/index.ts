/**
 * `squall/services`: the three services, to run in your own process. The `squall` command line
 * (services/cli) is the other way to start them.
 */
export { loadActivities, loadWorkflows } from './common/load-modules.js';
export type { ServiceHandle, ServiceHealth, StopOptions } from './common/service.js';
export { type ExecutorOptions, startExecutor } from './executor/index.js';
export { type RouterHandle, type RouterOptions, startRouter } from './router/index.js';
export { startTimer, type TimerServiceOptions } from './timer/index.js';
