/** The timer service: stores timer schedules and fires them when due. */
export { startTimer, type TimerServiceOptions } from './timer.js';
