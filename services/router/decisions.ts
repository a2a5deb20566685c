/**
 * The router's decision helpers that need no state: the run id a start derives, the commit a
 * decision is stored as, the engine input a router input becomes, and small rules the decider
 * applies when starting and reloading runs.
 */
import { createHash } from 'node:crypto';
import { childFailure } from '../../shared/bus/lifecycle-messages.js';
import type { DecisionInput, RunState } from '../../shared/engine/types.js';
import { NotFoundError } from '../../shared/errors.js';
import type { IdReusePolicy, StoredCommit } from '../../shared/store/types.js';
import type { RouterInput, StartInput } from './inputs.js';

/** A run id derived from the start message's identity, so a redelivered start reuses it. */
export function deriveRunId(startKey: string): string {
  const h = createHash('sha256').update(startKey).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** True when a start under `policy` is refused because the workflowId's holder has `status`. */
export function refusesExisting(policy: IdReusePolicy, status: RunState['status']): boolean {
  if (policy === 'rejectDuplicate') return true;
  return policy === 'rejectWhileOpen' && status === 'running';
}

/** The commit a decision is stored as: its events and commands at the state's last seq. */
export function toCommit(
  state: RunState,
  events: StoredCommit['events'],
  commands: StoredCommit['commands'],
): StoredCommit {
  return {
    runId: state.runId,
    workflowId: state.workflowId,
    seq: state.lastSeq,
    at: state.updatedAt,
    events,
    commands,
  };
}

/** The newest of `states` for each run. */
export function latestPerRun(states: RunState[]): RunState[] {
  const by = new Map<string, RunState>();
  for (const s of states) {
    const prev = by.get(s.runId);
    if (!prev || prev.lastSeq < s.lastSeq) by.set(s.runId, s);
  }
  return [...by.values()];
}

/** The type and version of a run with no summary, from the RunStarted that opens its history. */
export function runStartedOf(tail: StoredCommit[]): { workflowType: string; version: number } {
  const first = tail[0]?.events[0];
  if (first?.type !== 'RunStarted') {
    throw new NotFoundError(`run ${tail[0]?.runId} has history but no summary and no RunStarted at seq 1`);
  }
  return { workflowType: first.workflowType, version: first.version };
}

/** `inputId` names the message an outside input came in, so its redelivery is recognised. */
export function toDecisionInput(input: Exclude<RouterInput, StartInput>, at: number, inputId?: string): DecisionInput {
  const id = inputId === undefined ? {} : { inputId };
  switch (input.kind) {
    case 'signal':
      return { kind: 'signal', at, event: input.event, ...id };
    case 'cancel':
      return { kind: 'cancel', at, ...(input.reason === undefined ? {} : { reason: input.reason }), ...id };
    case 'terminate': {
      const out: DecisionInput = { kind: 'terminate', at, ...id };
      if (input.reason !== undefined) out.reason = input.reason;
      if (input.byParent !== undefined) out.byParent = input.byParent;
      return out;
    }
    case 'child':
      return input.status === 'completed'
        ? input.output === undefined
          ? { kind: 'childCompleted', at, childSeq: input.childSeq }
          : { kind: 'childCompleted', at, childSeq: input.childSeq, output: input.output }
        : { kind: 'childFailed', at, childSeq: input.childSeq, error: childFailure(input) };
    case 'fired':
      return { kind: 'timerFired', at, timerSeq: input.timerSeq };
    case 'callback':
      return input.error === undefined
        ? input.output === undefined
          ? { kind: 'callbackCompleted', at, callbackSeq: input.callbackSeq }
          : { kind: 'callbackCompleted', at, callbackSeq: input.callbackSeq, output: input.output }
        : { kind: 'callbackFailed', at, callbackSeq: input.callbackSeq, error: input.error };
    case 'activityUpdate':
      return input.update === 'started'
        ? { kind: 'activityStarted', at, activitySeq: input.activitySeq, attempt: input.attempt }
        : input.details === undefined
          ? { kind: 'activityHeartbeat', at, activitySeq: input.activitySeq, attempt: input.attempt }
          : {
              kind: 'activityHeartbeat',
              at,
              activitySeq: input.activitySeq,
              attempt: input.attempt,
              details: input.details,
            };
    case 'result': {
      if (input.ok) {
        return {
          kind: 'activityCompleted',
          at,
          activitySeq: input.activitySeq,
          output: input.output,
          attempt: input.attempt,
        };
      }
      const failed: DecisionInput = {
        kind: 'activityFailed',
        at,
        activitySeq: input.activitySeq,
        error: input.error,
        attempt: input.attempt,
      };
      if (input.retryAfterMs !== undefined) failed.retryAfterMs = input.retryAfterMs;
      if (input.heartbeat !== undefined) failed.heartbeat = input.heartbeat;
      return failed;
    }
  }
}

/**
 * What names an outside input's message in a run's recentInputs: its `Nats-Msg-Id` when it has
 * one, which a copy published again past JetStream's duplicate window carries too, else its
 * position in the inbox stream, which a redelivery keeps.
 */
export function outsideInputKey(meta: { startKey: string; msgId?: string }): string {
  return meta.msgId !== undefined ? `msg:${meta.msgId}` : meta.startKey;
}
