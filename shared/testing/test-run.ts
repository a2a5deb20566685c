/**
 * An in-memory run for workflow authors' tests: every input goes through the real decide(), with
 * stubbed activities and a virtual clock. No NATS, no MongoDB, no real time.
 */
import type { WorkflowDefinition } from '../engine/definition.js';
import { replayCommits } from '../engine/replay.js';
import type { RunState } from '../engine/types.js';
import type { Commit } from '../history/events.js';
import { InMemoryRun } from './in-memory-run.js';
import type { TestRun, TestRunOptions } from './types.js';

export type { ActivityStub } from './stubs.js';
export type { SentMessage, TestRun, TestRunOptions } from './types.js';

/** Starts a run of `definition` in memory and (by default) runs its stubbed activities. */
export async function createTestRun(definition: WorkflowDefinition, opts: TestRunOptions = {}): Promise<TestRun> {
  return new InMemoryRun(definition, opts).start(opts);
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
