/**
 * `squall check`: loads a workflow module (and, when given, an activity module) and prints the
 * static findings of every definition it exports (shared/engine/check.ts), one line each. Exit 0
 * with one "no findings in N workflows" line when clean, 1 when anything was found, 2 when a
 * module cannot be loaded (a bad argument, as for `squall replay`). Needs no server.
 */
import { checkDefinition, formatFinding, type WorkflowDefinition } from '../../shared/engine/index.js';
import { type CliIO, errorLine } from './io.js';
import type { CommandOf } from './types.js';

/** Runs `squall check`; resolves with the exit code. */
export async function runCheck(command: CommandOf<'check'>, io: CliIO): Promise<number> {
  let workflows: WorkflowDefinition[];
  let activities: Set<string> | undefined;
  try {
    const { loadActivities, loadWorkflows } = await import('../common/load-modules.js');
    workflows = await loadWorkflows(command.workflows);
    if (command.activities !== undefined) {
      activities = new Set((await loadActivities(command.activities)).map((a) => a.name));
    }
  } catch (err) {
    io.stderr(errorLine(err));
    return 2;
  }
  // Sorted so the output is stable whatever order the module exports its definitions in.
  const sorted = [...workflows].sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  let findings = 0;
  for (const def of sorted) {
    for (const finding of checkDefinition(def, { activities, strictDelays: command.strict })) {
      io.stdout(formatFinding(finding));
      findings++;
    }
  }
  if (findings > 0) return 1;
  io.stdout(`no findings in ${sorted.length} workflow${sorted.length === 1 ? '' : 's'}`);
  return 0;
}
