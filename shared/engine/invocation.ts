/** The run identity invocation() answers (decision-context.ts), from the run's state or its start input. */
import type { Invocation } from './decision-context.js';
import type { WorkflowDefinition } from './definition.js';
import type { DecisionInput, RunState } from './types.js';

/** The invocation of the run `state` (or, for a start, of the run `input` opens). */
export function invocationOf(
  definition: WorkflowDefinition,
  state: RunState | undefined,
  input: DecisionInput,
): Invocation {
  if (state) {
    return {
      workflowId: state.workflowId,
      runId: state.runId,
      workflowType: state.workflowType,
      version: state.version,
      startedAt: state.startedAt,
      continuedAsNew: state.continuedCount ?? 0,
      resets: state.resets ?? 0,
      branches: state.branches ?? 0,
    };
  }
  const start = input.kind === 'start' ? input : undefined;
  return {
    workflowId: start?.workflowId ?? '',
    runId: start?.runId ?? '',
    workflowType: definition.name,
    version: definition.version,
    startedAt: input.at,
    continuedAsNew: start?.continuedCount ?? 0,
    resets: 0,
    branches: 0,
  };
}
