/**
 * Replay: rebuilding a run from its history by folding every commit's input back through decide().
 * History is the truth, so replay also checks the current definition against it: a commit whose
 * scheduling differs from what was recorded raises NondeterminismError instead of diverging.
 */
import { CorruptHistoryError, NondeterminismError } from '../errors.js';
import type { Commit, HistoryEvent, HistoryEventType } from '../history/events.js';
import { decide } from './decide.js';
import type { WorkflowDefinition } from './definition.js';
import { inputFromEvent } from './input.js';
import type { RunState } from './types.js';

export { inputFromEvent } from './input.js';

/** Options of replayCommits / foldCommits. */
export interface ReplayOptions {
  /** State to resume from (a stored summary); commits at or below its `lastSeq` are skipped. */
  from?: RunState;
  /** Compare each rebuilt commit with the recorded one. @default true */
  verify?: boolean;
}

/** Outcome events whose presence and key fields must match between history and replay. */
const COMPARED: ReadonlySet<HistoryEventType> = new Set<HistoryEventType>([
  'ActivityScheduled',
  'ActivityTimedOut',
  'ActivityCancelled',
  'TimerScheduled',
  'TimerCancelled',
  'ChildStarted',
  'SideEffectRecorded',
  'CallbackCreated',
  'MessageSent',
  'RunCompleted',
  'RunFailed',
  'RunCancelled',
  'RunTerminated',
  'ChildDetached',
  'RunContinuedAsNew',
]);

/**
 * Rebuilds a run's state from `commits` (ascending seq, contiguous), checking every decision
 * against what was recorded. Throws NondeterminismError naming runId, commit seq, event index,
 * expected and got; CorruptHistoryError for gaps or a commit that does not open with an input.
 */
export function replayCommits(
  definition: WorkflowDefinition,
  commits: Iterable<Commit>,
  opts: ReplayOptions = {},
): RunState {
  const verify = opts.verify ?? true;
  let state = opts.from;
  for (const commit of commits) {
    if (state && commit.seq <= state.lastSeq) continue;
    const expectedSeq = (state?.lastSeq ?? 0) + 1;
    if (commit.seq !== expectedSeq || (state && commit.runId !== state.runId)) {
      throw new CorruptHistoryError(
        `run ${commit.runId}: expected commit ${expectedSeq}${state ? ` of run ${state.runId}` : ''}, found seq ${commit.seq}`,
        { details: { runId: commit.runId, seq: commit.seq, expectedSeq } },
      );
    }
    const first = commit.events[0];
    if (!first) {
      throw new CorruptHistoryError(`run ${commit.runId}: commit ${commit.seq} has no events`, {
        details: { runId: commit.runId, seq: commit.seq },
      });
    }
    const decision = decide(definition, state, inputFromEvent(first), { recorded: commit.events });
    if (decision.events.length === 0) {
      throw new NondeterminismError(
        `run ${commit.runId}: commit ${commit.seq} follows the run's end under ${definition.name} v${definition.version}`,
        { details: { runId: commit.runId, seq: commit.seq, index: 0 } },
      );
    }
    if (verify) compareCommit(definition, commit, decision.events);
    state = decision.state;
  }
  if (!state) throw new CorruptHistoryError('cannot rebuild a run from an empty history');
  return state;
}

/** replayCommits without the comparison: the fast path when history was written by this definition. */
export function foldCommits(
  definition: WorkflowDefinition,
  commits: Iterable<Commit>,
  opts: Omit<ReplayOptions, 'verify'> = {},
): RunState {
  return replayCommits(definition, commits, { ...opts, verify: false });
}

function compareCommit(definition: WorkflowDefinition, commit: Commit, produced: HistoryEvent[]): void {
  const recorded = commit.events;
  const fail = (index: number, expected: unknown, got: unknown): never => {
    throw new NondeterminismError(
      `run ${commit.runId}: replaying commit ${commit.seq} under ${definition.name} v${definition.version} diverged at event ${index}: expected ${show(expected)}, got ${show(got)}`,
      { details: { runId: commit.runId, workflowId: commit.workflowId, seq: commit.seq, index, expected, got } },
    );
  };
  const wantInput = inputMarks(recorded[0]);
  const gotInput = inputMarks(produced[0]);
  if (show(wantInput) !== show(gotInput)) fail(0, wantInput, gotInput);

  const want = significant(recorded);
  const got = significant(produced);
  const n = Math.max(want.length, got.length);
  for (let i = 0; i < n; i++) {
    const w = want[i];
    const g = got[i];
    if (show(w?.key) !== show(g?.key)) fail(w?.index ?? recorded.length, w?.key ?? 'nothing', g?.key ?? 'nothing');
  }
}

function inputMarks(event: HistoryEvent | undefined): Record<string, unknown> {
  if (!event) return {};
  const e = event as { type: string; ignored?: unknown; deferred?: unknown; held?: unknown };
  const marks: Record<string, unknown> = { type: e.type };
  if (e.ignored !== undefined) marks.ignored = e.ignored;
  if (e.deferred !== undefined) marks.deferred = e.deferred;
  if (e.held !== undefined) marks.held = e.held;
  return marks;
}

/** The compared events of a commit with their index in it, reduced to the fields that must match. */
function significant(events: HistoryEvent[]): { index: number; key: Record<string, unknown> }[] {
  const out: { index: number; key: Record<string, unknown> }[] = [];
  events.forEach((e, index) => {
    if (index === 0 || !COMPARED.has(e.type)) return;
    out.push({ index, key: keyOf(e) });
  });
  return out;
}

function keyOf(e: HistoryEvent): Record<string, unknown> {
  switch (e.type) {
    case 'ActivityScheduled':
      return { type: e.type, activity: e.activity, activitySeq: e.activitySeq, invokeId: e.invokeId };
    case 'ActivityCancelled':
      return { type: e.type, activitySeq: e.activitySeq };
    case 'ActivityTimedOut':
      return { type: e.type, activitySeq: e.activitySeq, attempt: e.attempt, timeoutType: e.timeoutType };
    case 'TimerScheduled':
      return { type: e.type, timerSeq: e.timerSeq, sendId: e.sendId, delayMs: e.delayMs };
    case 'TimerCancelled':
      return { type: e.type, timerSeq: e.timerSeq };
    case 'ChildStarted':
      // The workflowId too: a parent's close policy and outcomes address the child by it.
      return {
        type: e.type,
        childSeq: e.childSeq,
        workflowType: e.workflowType,
        invokeId: e.invokeId,
        childWorkflowId: e.childWorkflowId,
      };
    case 'SideEffectRecorded':
      return { type: e.type, id: e.id };
    case 'ChildDetached':
      return { type: e.type, childSeq: e.childSeq, policy: e.policy };
    case 'CallbackCreated':
      return { type: e.type, callbackSeq: e.callbackSeq, invokeId: e.invokeId };
    case 'MessageSent':
      // The target and the event's type: a changed machine that sends elsewhere, or something else, diverges.
      return { type: e.type, target: e.target.workflowId, msgSeq: e.msgSeq, event: e.event.type };
    default:
      return { type: e.type };
  }
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
