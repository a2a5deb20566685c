/** The executor service: pulls activity tasks, runs them, publishes their results. */
export { startExecutor } from './executor.js';
export {
  type CompiledExecutorOptions,
  compileExecutorOptions,
  defaultExecutorOptions,
  type ExecutorOptions,
  type ExecutorStartOptions,
} from './options.js';
