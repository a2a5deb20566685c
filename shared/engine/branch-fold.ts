/** How a RunBranched input folds into its run (see branch.ts): the pending work goes out again. */
import { dispatchAttempt } from './attempts.js';
import { type Draft, finish, record } from './draft.js';
import type { Decision, DecisionInput } from './types.js';

/**
 * The RunBranched input: counts the branch or reset, then issues again, for the new run, every
 * activity (attempt 1, its timeouts counted from now), machine timer, callback timeout, child run
 * and event wait pending at the copied point. The source's own timers and tasks carry its runId: they never
 * reach the new run, nor the new run's reach the source.
 */
export function foldBranched(d: Draft, input: Extract<DecisionInput, { kind: 'branched' }>): Decision {
  record(d, input);
  const s = d.state;
  if (input.origin.kind === 'branch') s.branches = (s.branches ?? 0) + 1;
  else s.resets = (s.resets ?? 0) + 1;
  const activities = Object.values(s.activities).sort((a, b) => a.activitySeq - b.activitySeq);
  for (const a of activities) {
    delete a.timers;
    a.scheduledAt = d.at;
    dispatchAttempt(d, a, 1);
  }
  for (const t of Object.values(s.timers).sort((a, b) => a.timerSeq - b.timerSeq)) {
    d.commands.push({ kind: 'scheduleTimer', timerSeq: t.timerSeq, fireAt: t.fireAt });
  }
  for (const c of Object.values(s.callbacks ?? {})) {
    if (c.timerSeq !== undefined && c.fireAt !== undefined) {
      d.commands.push({ kind: 'scheduleTimer', timerSeq: c.timerSeq, fireAt: c.fireAt });
    }
  }
  // The source's children report to the source: the new run starts its own (a branch's child ids
  // derive from its own workflowId; a reset's are the same ids, free once the source's close
  // policy ended them, else the start fails and the machine gets the child's error).
  for (const c of Object.values(s.children).sort((a, b) => a.childSeq - b.childSeq)) {
    const { childSeq, workflowType, childWorkflowId, invokeId, input, version } = c;
    d.commands.push({
      kind: 'startChild',
      childSeq,
      workflowType,
      childWorkflowId,
      invokeId,
      ...(input === undefined ? {} : { input }),
      ...(version === undefined ? {} : { version }),
    });
  }
  // finish() indexes every wait again, as new (the index is keyed by runId).
  delete s.eventWaits;
  return finish(d);
}
