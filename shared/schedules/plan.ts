/**
 * What a schedule does at a tick, as a pure function of its policy and of the run its previous
 * tick started: start a run, skip the tick, keep it for later (bufferOne), or end the open run
 * first. Temporal's overlap policies, with its meanings.
 */
import type { OverlapPolicy } from './spec.js';

/** The run the schedule started last: still open, closed, or none (never started, or refused). */
export type PreviousRun = 'open' | 'closed' | 'none';

/** What to do with one tick. */
export type TickAction = 'start' | 'skip' | 'buffer' | 'cancelThenStart' | 'terminateThenStart';

/**
 * - `skip`: a tick while the previous run is open is skipped.
 * - `bufferOne`: kept, and started once the previous run closes; one at most is kept, further
 *   ticks meanwhile are skipped.
 * - `allowAll`: every tick starts a run.
 * - `cancelOther` / `terminateOther`: the open run is cancelled (it gets `squall.cancel`) or
 *   terminated, and the tick's run starts.
 */
export function planTick(policy: OverlapPolicy, previous: PreviousRun, buffered: boolean): TickAction {
  if (previous !== 'open' || policy === 'allowAll') return 'start';
  switch (policy) {
    case 'skip':
      return 'skip';
    case 'bufferOne':
      return buffered ? 'skip' : 'buffer';
    case 'cancelOther':
      return 'cancelThenStart';
    case 'terminateOther':
      return 'terminateThenStart';
  }
}

/**
 * Ticks past their catch-up window are missed rather than fired: after an outage of every timer
 * service, only ticks at most `catchupWindowMs` old still start runs.
 */
export function isMissed(tick: number, now: number, catchupWindowMs: number): boolean {
  return tick < now - catchupWindowMs;
}
