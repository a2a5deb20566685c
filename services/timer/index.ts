/** The timer service: stores timer schedules and fires them when due. */
export { compileTimerOptions, defaultTimerOptions, type TimerServiceOptions } from './options.js';
export { startTimer } from './timer.js';
