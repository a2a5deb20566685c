/**
 * `squall describe --table`: a run's summary as short `field  value` lines for people: identity,
 * status and state, tags, times, what it waits on (activities with their attempt, timers,
 * signals it accepts, deferred signals), and its output or error.
 */
import type { PendingActivityInfo, PendingTimerInfo, RunSummary } from '../../shared/client/index.js';

/** The describe reply's `query` part, as far as the table reads it. */
interface QueryPart {
  value?: unknown;
  tags?: string[];
  accepts?: string[];
  mailbox?: string[];
  pendingActivities?: PendingActivityInfo[];
  pendingTimers?: PendingTimerInfo[];
}

/** The lines of the table for one describe reply. */
export function describeTable(summary: RunSummary): string[] {
  const q = (summary.query ?? {}) as QueryPart;
  const rows: [string, string][] = [
    [
      'workflow',
      `${summary.workflowId} (${summary.workflowType}${summary.version === undefined ? '' : ` v${summary.version}`})`,
    ],
    ['run', summary.runId],
    ['status', summary.status],
    ['state', stateText(q.value ?? summary.stateValue ?? summary.value)],
  ];
  if (q.tags && q.tags.length > 0) rows.push(['tags', q.tags.join(', ')]);
  if (summary.startedAt !== undefined) rows.push(['started', iso(summary.startedAt)]);
  if (summary.updatedAt !== undefined) {
    rows.push([
      'updated',
      `${iso(summary.updatedAt)}${summary.lastSeq === undefined ? '' : ` (commit ${summary.lastSeq})`}`,
    ]);
  }
  if (summary.closedAt !== undefined) rows.push(['closed', iso(summary.closedAt)]);
  for (const a of q.pendingActivities ?? []) {
    const attempt = a.attempt === undefined ? '' : ` attempt ${a.attempt}${a.retrying ? ' (waiting to retry)' : ''}`;
    const since = a.scheduledAt === undefined ? '' : ` since ${iso(a.scheduledAt)}`;
    rows.push(['activity', `#${a.activitySeq} ${a.activity}${attempt}${since}`]);
  }
  for (const t of q.pendingTimers ?? [])
    rows.push(['timer', `#${t.timerSeq} ${t.sendId ?? ''} fires ${iso(t.fireAt)}`]);
  if (q.accepts && q.accepts.length > 0) rows.push(['accepts', q.accepts.join(', ')]);
  if (q.mailbox && q.mailbox.length > 0) rows.push(['mailbox', q.mailbox.join(', ')]);
  if (summary.output !== undefined) rows.push(['output', JSON.stringify(summary.output)]);
  if (summary.error !== undefined) {
    const e = summary.error;
    rows.push(['error', `${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd());
}

function iso(at: number): string {
  return new Date(at).toISOString();
}

function stateText(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
}
