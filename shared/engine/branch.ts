/**
 * Branch, reset and resume (docs/workflows.md#branch-reset-and-resume): a new run whose history
 * is another run's up to a commit, then goes on live. Pure: the router loads the source's commits
 * and stores what this module returns.
 *
 * The new run's history is a copy, not a reference: each source commit's input is folded again
 * under the new run's ids (so callback tokens and child ids are the new run's own, and its history
 * replays by itself), after the source's commits were replayed under the current definition with
 * the usual check, so an incompatible change fails with the NondeterminismError naming the event.
 * The commit after the copy (`RunBranched`) issues again what was pending at that point, for the
 * new run: activities (a fresh attempt budget), timers and callback timeouts, child runs (started
 * again, as children of the new run), and event waits.
 */
import { CorruptHistoryError, InvalidInputError } from '../errors.js';
import type { Commit, RunOrigin } from '../history/events.js';
import { decide } from './decide.js';
import type { WorkflowDefinition } from './definition.js';
import { inputFromEvent } from './input.js';
import { replayCommits } from './replay.js';
import type { Decision, DecisionInput, RunState } from './types.js';

/** The run a branch, reset or resume creates. */
export interface BranchTarget {
  workflowId: string;
  runId: string;
  origin: RunOrigin;
  /** When the new run goes on live (the RunBranched commit's time). */
  at: number;
}

/**
 * The decisions of the new run: one per source commit (its history copy, with no commands: that
 * work was the source's), then the RunBranched decision with the commands that go on from there.
 * `source` holds the source's commits 1..origin.atSeq. Throws NondeterminismError when the current
 * definition no longer replays them, InvalidInputError when the point cannot go on live (the run
 * is closed there).
 */
export function branchDecisions(def: WorkflowDefinition, source: readonly Commit[], target: BranchTarget): Decision[] {
  if (source[0]?.seq !== 1) {
    throw new CorruptHistoryError(`run ${target.origin.runId}: its history does not start at commit 1`, {
      details: { runId: target.origin.runId },
    });
  }
  replayCommits(def, source);
  const decisions: Decision[] = [];
  let state: RunState | undefined;
  for (const commit of source) {
    const decision = decide(def, state, copiedInput(commit, target), { recorded: commit.events });
    decisions.push({ events: decision.events, state: decision.state, commands: [] });
    state = decision.state;
  }
  const at = state as RunState;
  const { origin } = target;
  if (at.status !== 'running') {
    throw refusal(`commit ${origin.atSeq} of run ${origin.runId} closes it (${at.status}); pick an earlier commit`, {
      reason: 'invalid-input',
      problem: 'closed-at-seq',
      runId: origin.runId,
      atSeq: origin.atSeq,
    });
  }
  decisions.push(decide(def, at, { kind: 'branched', at: Math.max(target.at, at.updatedAt), origin }));
  return decisions;
}

/** The source commit's input, for the new run: its start names the new run and where it came from. */
function copiedInput(commit: Commit, target: BranchTarget): DecisionInput {
  const first = commit.events[0];
  if (!first) {
    throw new CorruptHistoryError(`run ${commit.runId}: commit ${commit.seq} has no events`, {
      details: { runId: commit.runId, seq: commit.seq },
    });
  }
  const input = inputFromEvent(first);
  if (input.kind !== 'start') return input;
  const start = { ...input, workflowId: target.workflowId, runId: target.runId, origin: target.origin };
  // A branch is a run of its own: the source's parent does not wait on it (a reset still reports).
  if (target.origin.kind === 'branch') delete start.parent;
  return start;
}

/**
 * The commit a resume re-enters a failed run at: the last one before the commit that failed it.
 * InvalidInputError when the history has no failure, or the run failed in its first commit.
 */
export function resumeSeq(commits: readonly Commit[]): number {
  const failed = commits.find((c) => c.events.some((e) => e.type === 'RunFailed'));
  const runId = commits[0]?.runId;
  if (!failed) {
    throw refusal(`run ${runId} did not fail; only a failed run can be resumed`, {
      reason: 'invalid-input',
      problem: 'not-failed',
      runId,
    });
  }
  if (failed.seq <= 1) {
    throw refusal(`run ${runId} failed in its first commit; there is no earlier commit to resume at`, {
      reason: 'invalid-input',
      problem: 'failed-at-start',
      runId,
    });
  }
  return failed.seq - 1;
}

function refusal(message: string, details: Record<string, unknown>): InvalidInputError {
  return new InvalidInputError(message, { details });
}
