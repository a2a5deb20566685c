/**
 * `squall history --table` and `squall dev --sample`: a run's history as a short human table,
 * one row per event with its commit's time, activity attempts and errors.
 */
import type { HistoryCommit } from '../../shared/client/index.js';
import type { HistoryEvent, RunOrigin } from '../../shared/history/events.js';

/**
 * A short human table of a run's history: one row per event, in order, with the commit's time
 * (UTC time of day) and its offset from the start, activity attempts and error messages.
 */
export function historyTable(commits: readonly HistoryCommit[]): string[] {
  const t0 = commits[0]?.events[0]?.at ?? 0;
  const rows: string[][] = [['seq', 'time', '+ms', 'event', 'detail']];
  for (const commit of commits) {
    commit.events.forEach((event, i) => {
      const first = i === 0;
      rows.push([
        first ? String(commit.seq) : '',
        first ? timeOfDay(event.at) : '',
        first ? String(event.at - t0) : '',
        event.type,
        eventDetail(event),
      ]);
    });
  }
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]?.length ?? 0)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c < 4 ? cell.padEnd(widths[c] ?? 0) : cell))
      .join('  ')
      .trimEnd(),
  );
}

function originText(o: RunOrigin): string {
  return `${o.kind} of ${o.workflowId} run ${o.runId} at commit ${o.atSeq}`;
}

/** `HH:MM:SS.mmm` in UTC. */
export function timeOfDay(at: number): string {
  return new Date(at).toISOString().slice(11, 23);
}

function eventDetail(e: HistoryEvent): string {
  switch (e.type) {
    case 'RunStarted':
      return `${e.workflowType}@${e.version} input=${short(e.input)}${e.origin ? ` ${originText(e.origin)}` : ''}`;
    case 'RunBranched':
      return `live from here: ${originText(e.origin)}`;
    case 'ActivityScheduled':
      return `#${e.activitySeq} ${e.activity}`;
    case 'ActivityCompleted':
      return `#${e.activitySeq}${attempt(e.attempt)} output=${short(e.output)}${ignored(e.ignored)}`;
    case 'ActivityFailed':
      return `#${e.activitySeq}${attempt(e.attempt)} ${errorText(e.error)}${ignored(e.ignored)}`;
    case 'ActivityStarted':
      return `#${e.activitySeq}${attempt(e.attempt)}${ignored(e.ignored)}`;
    case 'ActivityHeartbeat':
      return `#${e.activitySeq}${attempt(e.attempt)}${e.details === undefined ? '' : ` details=${short(e.details)}`}${ignored(e.ignored)}`;
    case 'ActivityTimedOut':
      return `#${e.activitySeq}${attempt(e.attempt)} ${e.timeoutType} timeout`;
    case 'ActivityCancelled':
    case 'TimerCancelled':
      return `#${'activitySeq' in e ? e.activitySeq : e.timerSeq}`;
    case 'TimerScheduled':
      return e.purpose === undefined
        ? `#${e.timerSeq} in ${e.delayMs} ms`
        : `#${e.timerSeq} ${e.purpose} of #${e.activitySeq}${attempt(e.attempt)} in ${e.delayMs} ms`;
    case 'TimerFired':
      return `#${e.timerSeq}${ignored(e.ignored)}`;
    case 'SignalReceived':
      return `${e.signal.type}${labelOf(e.signal)}${e.deferred ? ' (deferred)' : ''}${ignored(e.ignored)}`;
    case 'EventEmitted':
      return e.event.type;
    case 'SideEffectRecorded':
      return `${e.id} = ${short(e.value)}`;
    case 'RunCompleted':
      return `output=${short(e.output)}`;
    case 'RunFailed':
      return errorText(e.error);
    case 'CancelRequested':
    case 'RunCancelled':
      return e.reason ?? '';
    case 'ChildStarted':
      return `#${e.childSeq} ${e.workflowType} ${e.childWorkflowId}`;
    case 'ChildCompleted':
    case 'ChildFailed':
      return `#${e.childSeq}${ignored(e.ignored)}`;
    default: {
      // Event kinds this table does not know yet still get their sequence number.
      const other = e as { activitySeq?: number; timerSeq?: number; ignored?: string };
      const seq = other.activitySeq ?? other.timerSeq;
      return `${seq === undefined ? '' : `#${seq}`}${ignored(other.ignored)}`;
    }
  }
}

function attempt(n: number | undefined): string {
  return n === undefined ? '' : ` attempt ${n}`;
}

/** `Name: message`, or the message alone for a plain Error. */
function errorText(e: { name?: string; message: string; code?: string }): string {
  const name = e.name && e.name !== 'Error' ? e.name : e.code;
  return name ? `${name}: ${e.message}` : e.message;
}

function ignored(reason: string | undefined): string {
  return reason ? ` (ignored: ${reason})` : '';
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A user event's wait label (docs/events.md), as ` [label]`. */
function labelOf(signal: object): string {
  const label = (signal as { label?: unknown }).label;
  return typeof label === 'string' ? ` [${label}]` : '';
}
