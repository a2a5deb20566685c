/**
 * The tags of a run's state, as XState reports them: those of the active state nodes, whatever
 * the run's status. A finished XState actor keeps its final state's tags (`snapshot.hasTag`
 * still answers), so a closed run reports the tags of the state it ended in.
 */
import type { WorkflowDefinition } from './definition.js';
import type { RunState } from './types.js';

/**
 * Sorted tags of the run's persisted snapshot: for a closed run, those of the state it ended in.
 * Empty when the run has no snapshot (its start failed). Throws as `machine.resolveState` does
 * when the snapshot does not fit `definition`.
 */
export function runTags(definition: WorkflowDefinition, state: Pick<RunState, 'snapshot'>): string[] {
  if (state.snapshot === undefined) return [];
  const { machine } = definition;
  const snapshot = machine.resolveState(state.snapshot as Parameters<typeof machine.resolveState>[0]);
  return [...snapshot.tags].sort();
}
