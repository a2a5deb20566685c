/**
 * What a decision in progress exposes to the modules that honour actions (actions.ts, attempts.ts,
 * callback.ts, side-effects.ts), and the actor-result event they all deliver. A module of its own
 * so that those modules depend on it rather than on each other.
 */
import type { HistoryEvent, Millis, SignalEvent } from '../history/events.js';
import type { Command, RunState } from './types.js';

/** The part of a decision in progress that actions write to. Owned by one decide() call. */
export interface ActionTarget {
  /** Time of the decision's input: the only clock. */
  readonly at: Millis;
  /** Working copy of the run state; its maps are owned by this decision and may be mutated. */
  readonly state: RunState;
  readonly events: HistoryEvent[];
  readonly commands: Command[];
  /** Events the machine sent to itself without a delay; decide() feeds them after this step. */
  readonly selfEvents: SignalEvent[];
  /** Set by a continueAsNew() action: decide() closes the run as `continued` after this step. */
  continueAsNew?: { input?: unknown };
}

/** The event XState's onDone / onError listen for, as an interpreted actor would receive it. */
export function actorResult(invokeId: string, result: { output: unknown } | { error: unknown }): SignalEvent {
  return 'error' in result
    ? { type: `xstate.error.actor.${invokeId}`, error: result.error, actorId: invokeId }
    : { type: `xstate.done.actor.${invokeId}`, output: result.output, actorId: invokeId };
}
