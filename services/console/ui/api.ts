/** The console API as the app calls it: typed fetches that throw the server's error message. */
import type { DefinitionGraph, RunPath } from '../wire.js';

/** A run summary row (client.list / describe). */
export interface RunRow {
  workflowId: string;
  runId: string;
  workflowType: string;
  version?: number;
  status: string;
  value?: unknown;
  /** The state value as list and describe report it. */
  stateValue?: unknown;
  startedAt?: number;
  updatedAt?: number;
  closedAt?: number;
  lastSeq?: number;
  searchAttributes?: Record<string, string | number | boolean>;
  memo?: Record<string, unknown>;
  error?: { code: string; message: string };
  output?: unknown;
  parent?: { workflowId: string; runId: string };
}

/** One history event (a HistoryEvent; the app reads a few fields). */
export interface HistoryEventView {
  type: string;
  at?: number;
  [key: string]: unknown;
}

export interface Commit {
  seq: number;
  at: number;
  events: HistoryEventView[];
}

export interface QueryView {
  runId: string;
  status: string;
  value: unknown;
  context: unknown;
  accepts: string[];
  lastSeq?: number;
  pendingActivities: {
    activitySeq: number;
    activity: string;
    invokeId?: string;
    scheduledAt?: number;
    attempt?: number;
    retrying?: boolean;
  }[];
  pendingTimers: { timerSeq: number; sendId?: string; fireAt: number }[];
  pendingChildren?: { childSeq: number; workflowType: string; invokeId: string; childWorkflowId: string }[];
  pendingCallbacks?: { callbackSeq: number; invokeId: string; token: string; fireAt?: number }[];
  parent?: { workflowId: string; runId: string };
  mailbox?: string[];
}

export interface RunView {
  summary: RunRow;
  query?: QueryView;
  commits: Commit[];
  truncated: boolean;
  path?: RunPath;
  definition?: DefinitionGraph;
  notes: string[];
}

export interface ListPage {
  runs: RunRow[];
  nextCursor?: string;
}

export interface BulkPreview {
  token: string;
  count: number;
  sample: string[];
  capped: boolean;
}

async function request<T>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
  if (!res.ok) throw new Error(data.error?.message ?? `${method} ${url}: HTTP ${res.status}`);
  return data as T;
}

export const api = {
  list: (params: URLSearchParams) => request<ListPage>('GET', `/api/runs?${params}`),
  definitions: () => request<{ definitions: DefinitionGraph[] }>('GET', '/api/definitions'),
  run: (workflowId: string, runId?: string) =>
    request<RunView>(
      'GET',
      `/api/runs/${encodeURIComponent(workflowId)}${runId ? `?runId=${encodeURIComponent(runId)}` : ''}`,
    ),
  act: (workflowId: string, op: 'signal' | 'cancel' | 'terminate', body: unknown) =>
    request<{ accepted: boolean }>('POST', `/api/runs/${encodeURIComponent(workflowId)}/${op}`, body),
  bulkPreview: (params: URLSearchParams) => request<BulkPreview>('POST', `/api/bulk/preview?${params}`, {}),
  bulkTerminate: (token: string, reason: string) =>
    request<{ terminated: number; failed: { workflowId: string; error: string }[] }>('POST', '/api/bulk/terminate', {
      token,
      reason,
    }),
};

/** Navigates inside the app without a reload. */
export function navigate(href: string): void {
  history.pushState(null, '', href);
  dispatchEvent(new PopStateEvent('popstate'));
}

/** A short local date and time. */
export function when(ms: number | undefined): string {
  if (ms === undefined) return '—';
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString(undefined, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
  return today ? time : `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${time}`;
}

/** `in 4s`, `3m ago`. */
export function relative(ms: number, now = Date.now()): string {
  const d = ms - now;
  const a = Math.abs(d);
  const text =
    a < 1000
      ? 'now'
      : a < 60_000
        ? `${Math.round(a / 1000)}s`
        : a < 3_600_000
          ? `${Math.round(a / 60_000)}m`
          : `${Math.round(a / 3_600_000)}h`;
  if (text === 'now') return text;
  return d > 0 ? `in ${text}` : `${text} ago`;
}

/** A state value as text: `awaitingApproval`, `fulfilling.{shipping.shipped, emailing.sending}`. */
export function stateText(value: unknown): string {
  if (value === undefined || value === null) return '—';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') {
    const parts = Object.entries(value as Record<string, unknown>).map(([k, v]) =>
      typeof v === 'object' && v !== null && Object.keys(v).length > 0
        ? `${k}.${stateText(v)}`
        : typeof v === 'string'
          ? `${k}.${v}`
          : k,
    );
    return parts.length === 1 ? (parts[0] ?? '') : `{${parts.join(', ')}}`;
  }
  return String(value);
}

/** Paths of the state nodes active in `value` (`''` the root, `a`, `a.b`), ancestors included. */
export function activePaths(value: unknown): Set<string> {
  const out = new Set<string>(['']);
  const walk = (prefix: string, v: unknown): void => {
    const join = (k: string): string => (prefix === '' ? k : `${prefix}.${k}`);
    if (typeof v === 'string') {
      out.add(join(v));
      return;
    }
    if (typeof v === 'object' && v !== null) {
      for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
        out.add(join(k));
        walk(join(k), child);
      }
    }
  };
  walk('', value);
  return out;
}

/** A timer's name for people: `after approvalTimeout` for XState's `xstate.after.<delay>.<state id>`. */
export function timerName(sendId: string | undefined, timerSeq: number): string {
  if (!sendId) return `#${timerSeq}`;
  const after = /^xstate\.after\.([^.]+)\./.exec(sendId);
  return after ? `after ${after[1]}` : sendId;
}
