/**
 * The router's decision helpers that need no state: the run id a start derives, the commit a
 * decision is stored as, the key an outside input's message is known by, and small rules the
 * decider applies when starting and reloading runs.
 */
import { createHash } from 'node:crypto';
import type { RunState } from '../../shared/engine/types.js';
import { NotFoundError } from '../../shared/errors.js';
import type { IdReusePolicy, StoredCommit } from '../../shared/store/types.js';

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

/**
 * What names an outside input's message in a run's recentInputs: its `Nats-Msg-Id` when it has
 * one, which a copy published again past JetStream's duplicate window carries too, else its
 * position in the inbox stream, which a redelivery keeps.
 */
export function outsideInputKey(meta: { startKey: string; msgId?: string }): string {
  return meta.msgId !== undefined ? `msg:${meta.msgId}` : meta.startKey;
}
