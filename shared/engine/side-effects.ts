/**
 * Side effects inside a decision (see `sideEffect()` in decision-context.ts): the first time, the
 * author's function runs and its value is recorded; on replay the recorded value is used and the
 * function is never called. Either way the machine then receives `squall.sideEffect.<id>`.
 */
import type { HistoryEvent, SideEffectRecordedEvent } from '../history/events.js';
import type { ActionTarget } from './actions.js';
import { SIDE_EFFECT_EVENT_PREFIX } from './decision-context.js';

/**
 * The recorder of one decision. `recorded` is the commit being replayed (undefined when deciding
 * live): its SideEffectRecorded events are taken in order, per id. A side effect the commit lacks
 * is recorded without a value and without calling its function; replay's comparison then reports
 * the divergence as a NondeterminismError.
 */
export function sideEffectRecorder(
  target: ActionTarget,
  recorded: readonly HistoryEvent[] | undefined,
): (id: string, fn: () => unknown) => void {
  const replayed = recorded?.filter((e): e is SideEffectRecordedEvent => e.type === 'SideEffectRecorded');
  return (id, fn) => {
    let value: unknown;
    if (replayed) {
      const i = replayed.findIndex((e) => e.id === id);
      const [hit] = i >= 0 ? replayed.splice(i, 1) : [];
      value = hit?.value;
    } else {
      value = fn();
    }
    const event: SideEffectRecordedEvent = { type: 'SideEffectRecorded', at: target.at, id };
    if (value !== undefined) event.value = value;
    target.events.push(event);
    target.selfEvents.push({ type: `${SIDE_EFFECT_EVENT_PREFIX}${id}`, value });
  };
}
