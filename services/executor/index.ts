/** The executor service: pulls activity tasks, runs them, publishes their results. */
export { type ExecutorOptions, startExecutor } from './executor.js';
