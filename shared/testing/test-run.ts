/**
 * An in-memory run for workflow authors' tests: every input goes through the real decide(), with
 * stubbed activities and a virtual clock. No NATS, no MongoDB, no real time.
 */
import type { WorkflowDefinition } from '../engine/definition.js';
import { replayCommits } from '../engine/replay.js';
import type { RunState } from '../engine/types.js';
import { InvalidInputError } from '../errors.js';
import type { Commit, RunOrigin } from '../history/events.js';
import { InMemoryRun } from './in-memory-run.js';
import type { TestRun, TestRunOptions } from './types.js';

export type { ActivityStub } from './stubs.js';
export type { SentMessage, TestRun, TestRunOptions } from './types.js';

/** Starts a run of `definition` in memory and (by default) runs its stubbed activities. */
export async function createTestRun(definition: WorkflowDefinition, opts: TestRunOptions = {}): Promise<TestRun> {
  return new InMemoryRun(definition, opts).start(opts);
}

/** Options of branchTestRun: a test run's, plus the point of the source to go on from. */
export interface BranchTestRunOptions extends TestRunOptions {
  /** The source's last commit the new run repeats (for a resume: the one before its failure). */
  atSeq: number;
  /** What the history records (RunStartedEvent.origin); invocation() counts it. @default 'branch' */
  kind?: RunOrigin['kind'];
}

/**
 * A run rebuilt from `source` (another test run's `history`, or recorded commits) up to
 * `opts.atSeq`, then going on live, as `client.branch`, `reset` and `resume` do on the router.
 * Throws NondeterminismError when `definition` no longer replays the source.
 */
export async function branchTestRun(
  definition: WorkflowDefinition,
  source: readonly Commit[],
  opts: BranchTestRunOptions,
): Promise<TestRun> {
  const { atSeq, kind = 'branch', ...rest } = opts;
  const from = source[0];
  if (!from) throw new InvalidInputError('branchTestRun needs the source history, from commit 1');
  const origin = { kind, workflowId: from.workflowId, runId: from.runId, atSeq };
  if (!Number.isSafeInteger(atSeq) || atSeq < 1 || atSeq > source.length) {
    throw new InvalidInputError(`atSeq must be a commit of the source (1..${source.length}), got ${atSeq}`);
  }
  const workflowId = rest.workflowId ?? (kind === 'branch' ? `${from.workflowId}-branch` : from.workflowId);
  const runId = rest.runId ?? `${workflowId}-${kind}-1`;
  return new InMemoryRun(definition, { ...rest, workflowId, runId }).startFrom(source, origin);
}

/**
 * Replays recorded commits (e.g. a fixture file's `commits`) under `definition`, as CI should for
 * every stored history. Returns the rebuilt state; throws NondeterminismError on divergence.
 */
export function replayHistory(
  definition: WorkflowDefinition,
  history: readonly Commit[] | { commits: Commit[] },
): RunState {
  return replayCommits(definition, 'commits' in history ? history.commits : history);
}
