/**
 * A child run's result, the parent's side. The child's messages to its parent (sendParent,
 * sendToWorkflow) travel on the parent's signal subject and its result on the child-result
 * subject, so the result can arrive first; XState's parent takes every event its child sent
 * before the child's done event. So the result names the last message the child run sent its
 * parent's workflowId (`lastMessage`), and one that arrives before that message was taken is
 * recorded `held` and waits in RunState.heldResults, unseen by the machine. The commit that takes
 * the message delivers it right after (a ChildCompleted or ChildFailed without `held`).
 *
 * A result without `lastMessage` (its child sent no message, or it was recorded before results
 * named one) is taken as it comes: recorded histories replay as they ran.
 */
import type { MessageFrom } from '../history/events.js';
import { actorResult } from './action-target.js';
import { type Draft, finish, ignore, record, settle, step } from './draft.js';
import { inputEvent } from './input.js';
import type { Decision, DecisionInput, HeldChildResult, PendingChild, RunState } from './types.js';

type ChildResultInput = Extract<DecisionInput, { kind: 'childCompleted' | 'childFailed' }>;

/** Folds a child's result into draft `d` of an open run (see the module comment) and closes the decision. */
export function foldChildResult(d: Draft, input: ChildResultInput): Decision {
  const { state } = d;
  const child = pendingChild(state, input.childSeq);
  // A result already held is a redelivery, as is one for a child no longer waited on.
  if (!child || state.heldResults?.some((h) => h.childSeq === input.childSeq)) return ignore(d, input, 'stale');
  const { lastMessage } = input;
  if (lastMessage && !taken(state, lastMessage)) {
    d.events.push(inputEvent(input, d.definition.name, d.definition.version, { held: true }));
    const held: HeldChildResult = { ...input, lastMessage: { ...lastMessage } };
    state.heldResults = [...(state.heldResults ?? []), held];
    return finish(d);
  }
  record(d, input);
  takeChildResult(d, child, input);
  settle(d);
  return finish(d);
}

/**
 * Delivers, oldest first, the held results whose last message (from sender run `senderRunId`) is
 * now taken; called in the commit that took it. One whose child the run stopped waiting on
 * meanwhile is dropped: it would have been stale.
 */
export function releaseChildResults(d: Draft, senderRunId: string): void {
  for (const held of d.state.heldResults ?? []) {
    if (d.state.status !== 'running') return;
    if (held.lastMessage.runId !== senderRunId || !taken(d.state, held.lastMessage)) continue;
    const rest = d.state.heldResults?.filter((h) => h !== held) ?? [];
    if (rest.length === 0) delete d.state.heldResults;
    else d.state.heldResults = rest;
    const child = pendingChild(d.state, held.childSeq);
    if (!child) continue;
    const input: ChildResultInput = { ...held, at: d.at };
    d.events.push(inputEvent(input, d.definition.name, d.definition.version));
    takeChildResult(d, child, input);
    settle(d);
  }
}

/** Whether the run has taken message `m` (or a later one of its sender). */
function taken(state: RunState, m: MessageFrom): boolean {
  return (state.received?.[m.runId] ?? 0) >= m.msgSeq;
}

function pendingChild(state: RunState, childSeq: number): PendingChild | undefined {
  return Object.values(state.children).find((c) => c.childSeq === childSeq);
}

/** The run stops waiting on `child`, and the machine takes its done or error event. */
function takeChildResult(d: Draft, child: PendingChild, input: ChildResultInput): void {
  // Consumed before the machine moves, so leaving the invoking state detaches nothing.
  delete d.state.children[child.invokeId];
  const result = input.kind === 'childCompleted' ? { output: input.output } : { error: input.error };
  step(d, actorResult(child.invokeId, result));
}
