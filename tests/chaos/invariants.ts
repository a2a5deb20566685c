/**
 * The invariants fault and chaos tests check after the dust settles, read from the truth:
 * histories in MongoDB and consumer state in JetStream.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { HistoryEvent } from '../../shared/history/events.js';
import { streamNames } from '../../shared/names.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';

/** A run's history, loaded whole. */
export async function loadCommits(store: Store, runId: string): Promise<StoredCommit[]> {
  const commits: StoredCommit[] = [];
  for await (const c of store.loadHistory(runId)) commits.push(c);
  return commits;
}

/** Events of a history, flattened in order. */
export function eventsOf(commits: readonly StoredCommit[]): HistoryEvent[] {
  return commits.flatMap((c) => c.events);
}

function ignoredOf(e: HistoryEvent): string | undefined {
  return (e as { ignored?: string }).ignored;
}

const TERMINAL = new Set(['RunCompleted', 'RunFailed', 'RunCancelled', 'RunTerminated', 'RunContinuedAsNew']);

/**
 * Problems with one history (empty when sound): seqs 1..n without gaps, one RunStarted first and
 * one terminal event last; each activity and timer scheduled once; each activity's completion
 * (or failure) and each timer's firing recorded at most once, not counting `ignored` ones.
 */
export function historyProblems(commits: readonly StoredCommit[]): string[] {
  const problems: string[] = [];
  commits.forEach((c, i) => {
    if (c.seq !== i + 1) problems.push(`seq ${c.seq} at position ${i + 1} (gap or duplicate)`);
  });
  const events = eventsOf(commits);
  if (events[0]?.type !== 'RunStarted') problems.push(`first event is ${events[0]?.type}, not RunStarted`);
  const count = (key: string, map: Map<string, number>): void => {
    map.set(key, (map.get(key) ?? 0) + 1);
  };
  const once = new Map<string, number>();
  for (const e of events) {
    const seqOf = e as { activitySeq?: number; timerSeq?: number };
    switch (e.type) {
      case 'RunStarted':
        count('RunStarted', once);
        break;
      case 'ActivityScheduled':
        count(`scheduled activity ${seqOf.activitySeq}`, once);
        break;
      case 'TimerScheduled':
        count(`scheduled timer ${seqOf.timerSeq}`, once);
        break;
      case 'ActivityCompleted':
      case 'ActivityFailed':
        // A failed attempt may be retried; only a completion ends an activity.
        if (!ignoredOf(e) && e.type === 'ActivityCompleted') count(`completed activity ${seqOf.activitySeq}`, once);
        break;
      case 'TimerFired':
        if (!ignoredOf(e)) count(`fired timer ${seqOf.timerSeq}`, once);
        break;
      default:
        if (TERMINAL.has(e.type)) count('terminal', once);
    }
  }
  for (const [what, n] of once) if (n > 1) problems.push(`${what} recorded ${n} times`);
  if (once.get('terminal') !== 1) problems.push(`${once.get('terminal') ?? 0} terminal events`);
  const last = events[events.length - 1];
  if (last && !TERMINAL.has(last.type)) problems.push(`last event is ${last.type}`);
  return problems;
}

/** Unacked and undelivered messages of one durable consumer. */
export interface Backlog {
  stream: string;
  consumer: string;
  ackPending: number;
  pending: number;
}

/** Every durable consumer on the engine's work streams (inbox, events, tasks, timers), with its backlog. */
export async function consumerBacklogs(jsm: JetStreamManager, prefix: string): Promise<Backlog[]> {
  const names = streamNames(prefix);
  const out: Backlog[] = [];
  for (const stream of [names.inbox, names.events, names.tasks, names.timers]) {
    for await (const ci of jsm.consumers.list(stream)) {
      if (!ci.config.durable_name) continue;
      out.push({ stream, consumer: ci.name, ackPending: ci.num_ack_pending, pending: ci.num_pending });
    }
  }
  return out;
}

/** Total messages on the dead-letter stream of a prefix. */
export async function deadLetterCount(jsm: JetStreamManager, prefix: string): Promise<number> {
  return (await jsm.streams.info(streamNames(prefix).dlq)).state.messages;
}
