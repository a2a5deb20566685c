/**
 * One run: its statechart with the active states and the path it took, what it waits on
 * (activities, timers, callbacks, children), a signal form built from what the current state
 * accepts, cancel/terminate, and the history timeline, each commit linked to the state it moved
 * to. The page follows the run over server-sent events and reloads its view on each move.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import type { DefinitionGraph, RunPath } from '../wire.js';
import {
  activePaths,
  api,
  type Commit,
  type HistoryEventView,
  navigate,
  type RunView,
  relative,
  stateText,
  timerName,
  when,
} from './api.js';
import { type ChartMarks, Statechart } from './chart.js';
import { Status } from './status.js';

export function RunPage(props: { workflowId: string; runId?: string }): VNode {
  const { workflowId, runId } = props;
  const [view, setView] = useState<RunView | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [focus, setFocus] = useState<number | undefined>(undefined);
  const [liveState, setLive] = useState<'connecting' | 'live' | 'closed'>('connecting');
  const load = useCallback(
    () =>
      api.run(workflowId, runId).then(
        (v) => {
          setView(v);
          setError(undefined);
          return v;
        },
        (e: Error) => {
          setError(e.message);
          return undefined;
        },
      ),
    [workflowId, runId],
  );

  useEffect(() => {
    let source: EventSource | undefined;
    let gone = false;
    void load().then((v) => {
      if (gone || !v) return;
      if (v.summary.status !== 'running') {
        setLive('closed');
        return;
      }
      const url = `/api/runs/${encodeURIComponent(workflowId)}/live?runId=${encodeURIComponent(v.summary.runId)}&after=${v.commits.at(-1)?.seq ?? 0}`;
      source = new EventSource(url);
      source.onopen = () => setLive('live');
      source.addEventListener('moved', (ev) => {
        const m = JSON.parse((ev as MessageEvent<string>).data) as { closed: boolean };
        void load();
        if (m.closed) {
          source?.close();
          setLive('closed');
        }
      });
    });
    return () => {
      gone = true;
      source?.close();
    };
  }, [load, workflowId]);

  if (error && !view) return html`<main class="page"><div class="error-box">${error}</div></main>`;
  if (!view) return html`<main class="page"><div class="empty">Loading ${workflowId}…</div></main>`;
  const s = view.summary;
  const running = s.status === 'running';
  return html`<main class="page run-page">
    <header class="run-head">
      <div>
        <div class="crumbs"><a href="/" onClick=${link('/')}>Runs</a> / ${s.workflowType}</div>
        <h1>${s.workflowId}</h1>
        <div class="meta">
          <${Status} status=${s.status} />
          <span class=${`live-dot ${liveState}`} title="follows the run as it moves">${liveState === 'live' ? 'Live' : liveState === 'closed' ? 'Closed' : 'Connecting'}</span>
          <span>${s.workflowType} v${s.version ?? '?'}</span>
          <span class="mono">run ${s.runId}</span>
          <span>started ${when(s.startedAt)}</span>
          ${s.closedAt ? html`<span>closed ${when(s.closedAt)}</span>` : null}
          ${view.query?.parent ? html`<span>parent <a href=${runHref(view.query.parent.workflowId, view.query.parent.runId)} onClick=${link(runHref(view.query.parent.workflowId, view.query.parent.runId))}>${view.query.parent.workflowId}</a></span>` : null}
        </div>
      </div>
      ${running ? html`<${Actions} workflowId=${s.workflowId} onDone=${load} />` : null}
    </header>
    ${error ? html`<div class="error-box">${error}</div>` : null}
    ${view.notes.map((n) => html`<div class="note">${n}</div>`)}
    <div class="run-grid">
      <section class="panel chart-panel">
        <div class="panel-title">Statechart <span class="state-now" data-testid="current-state">${stateText(view.query?.value ?? s.stateValue ?? s.value)}</span></div>
        ${
          view.definition
            ? html`<div class="chart-scroll"><${Statechart} graph=${view.definition} marks=${marks(view, view.definition, focus)} closed=${!running} /></div>`
            : html`<div class="empty">No router serves this definition's graph.</div>`
        }
      </section>
      <aside class="side">
        ${running && view.query ? html`<${SignalForm} workflowId=${s.workflowId} accepts=${view.query.accepts} onSent=${load} />` : null}
        ${running ? html`<${Waiting} view=${view} />` : null}
        ${!running ? html`<${Outcome} view=${view} />` : null}
      </aside>
      <section class="panel timeline-panel">
        <div class="panel-title">History <span class="count">${view.commits.length} commits</span></div>
        <${Timeline} commits=${view.commits} path=${view.path} focus=${focus} onFocus=${setFocus} />
      </section>
    </div>
  </main>`;
}

export function runHref(workflowId: string, runId?: string): string {
  return `/runs/${encodeURIComponent(workflowId)}${runId ? `?runId=${encodeURIComponent(runId)}` : ''}`;
}

function link(href: string) {
  return (e: MouseEvent) => {
    e.preventDefault();
    navigate(href);
  };
}

/** Active, visited and focused states and the transitions taken, from the run's path. */
function marks(view: RunView, graph: DefinitionGraph, focus: number | undefined): ChartMarks {
  const steps = view.path?.steps ?? [];
  const sets = steps.map((st) => activePaths(st.value));
  const current = activePaths(
    view.query?.value ?? steps.at(-1)?.value ?? view.summary.stateValue ?? view.summary.value,
  );
  const visited = new Set<string>();
  for (const set of sets) for (const p of set) visited.add(p);
  const pathOf = new Map<string, string>();
  const index = (st: DefinitionGraph['root']): void => {
    pathOf.set(st.id, st.path);
    st.children.forEach(index);
  };
  index(graph.root);
  const taken = new Set<string>();
  const inputs = new Map(view.commits.map((c) => [c.seq, c.events[0]]));
  const actorEvents = actorEventsOf(view.commits);
  for (let i = 1; i < sets.length; i++) {
    const prev = sets[i - 1] ?? new Set<string>();
    const next = sets[i] ?? new Set<string>();
    const input = inputs.get(steps[i]?.seq ?? -1);
    const actorEvent = actorEvents.get(input ?? { type: '' });
    for (const t of graph.transitions) {
      if (!couldTake(t, input)) continue;
      const src = pathOf.get(t.source) ?? '';
      // The very actor event the input was: taken from its source, even to a state the same
      // commit went through and left (a parallel region's final state that completed the parallel).
      const byActor = actorEvent !== undefined && t.event === actorEvent && prev.has(src) && !next.has(src);
      for (const target of t.targets) {
        const tgt = pathOf.get(target) ?? '';
        if (byActor || (prev.has(src) && next.has(tgt) && (!prev.has(tgt) || !next.has(src)))) {
          taken.add(`${src}>${tgt}`);
          visited.add(tgt);
        }
      }
    }
  }
  const step = steps.find((st) => st.seq === focus);
  const focused = step ? leaves(activePaths(step.value)) : new Set<string>();
  return { active: current, visited, taken, focus: focused };
}

/** Whether a commit opened by `input` can have taken `t` (eventless and state-done ones follow any input). */
function couldTake(t: DefinitionGraph['transitions'][number], input: HistoryEventView | undefined): boolean {
  const type = input?.type ?? '';
  switch (t.kind) {
    case 'event':
      return type === 'SignalReceived' && (input?.signal as { type?: string } | undefined)?.type === t.event;
    case 'after':
      return type === 'TimerFired';
    case 'error':
      return /Failed$|TimedOut$/.test(type);
    case 'done':
      return t.event.startsWith('xstate.done.state.') || /Completed$/.test(type);
    default:
      return true;
  }
}

/**
 * The XState event each activity result of the history became for the machine
 * (`xstate.done.actor.<invokeId>`, `xstate.error.actor.<invokeId>`), by the result's event; the
 * invoke id is read from the activity's ActivityScheduled event.
 */
function actorEventsOf(commits: readonly Commit[]): Map<HistoryEventView, string> {
  const invokeIds = new Map<unknown, unknown>();
  const out = new Map<HistoryEventView, string>();
  for (const c of commits) {
    for (const e of c.events) {
      if (e.type === 'ActivityScheduled') invokeIds.set(e.activitySeq, e.invokeId);
      const invokeId = invokeIds.get(e.activitySeq);
      if (typeof invokeId !== 'string') continue;
      if (e.type === 'ActivityCompleted') out.set(e, `xstate.done.actor.${invokeId}`);
      if (e.type === 'ActivityFailed' || e.type === 'ActivityTimedOut') out.set(e, `xstate.error.actor.${invokeId}`);
    }
  }
  return out;
}

function leaves(paths: Set<string>): Set<string> {
  const all = [...paths].filter((p) => p !== '');
  return new Set(all.filter((p) => !all.some((q) => q.startsWith(`${p}.`))));
}

function SignalForm(props: { workflowId: string; accepts: string[]; onSent: () => void }): VNode {
  const [type, setType] = useState(props.accepts[0] ?? '');
  const [payload, setPayload] = useState('');
  const [status, setStatus] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  useEffect(() => {
    if (!props.accepts.includes(type)) setType(props.accepts[0] ?? '');
  }, [props.accepts.join(',')]);
  const send = async (e: Event): Promise<void> => {
    e.preventDefault();
    let data: Record<string, unknown> = {};
    if (payload.trim() !== '') {
      try {
        const parsed: unknown = JSON.parse(payload);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
        data = parsed as Record<string, unknown>;
      } catch {
        setStatus({ ok: false, text: 'The payload must be a JSON object, e.g. {"reason": "late"}' });
        return;
      }
    }
    try {
      await api.act(props.workflowId, 'signal', { ...data, type });
      setStatus({ ok: true, text: `Sent ${type}` });
      setPayload('');
      props.onSent();
    } catch (err) {
      setStatus({ ok: false, text: (err as Error).message });
    }
  };
  return html`<section class="panel">
    <div class="panel-title">Send a signal</div>
    ${
      props.accepts.length === 0
        ? html`<div class="empty small">The current state accepts no signal.</div>`
        : html`<form class="signal-form" onSubmit=${send}>
          <label>Event
            <select name="type" value=${type} onChange=${(e: Event) => setType((e.target as HTMLSelectElement).value)}>
              ${props.accepts.map((a) => html`<option value=${a}>${a}</option>`)}
            </select></label>
          <label>Data (JSON, optional)
            <textarea name="payload" rows="2" placeholder='{"reason": "…"}' value=${payload}
              onInput=${(e: Event) => setPayload((e.target as HTMLTextAreaElement).value)} /></label>
          <button class="primary" type="submit">Send ${type}</button>
        </form>`
    }
    ${status ? html`<div class=${status.ok ? 'ok-text' : 'error-text'}>${status.text}</div>` : null}
  </section>`;
}

function Actions(props: { workflowId: string; onDone: () => void }): VNode {
  const act = async (op: 'cancel' | 'terminate'): Promise<void> => {
    const reason = prompt(`${op === 'cancel' ? 'Cancel' : 'Terminate'} ${props.workflowId}? Reason (optional):`, '');
    if (reason === null) return;
    try {
      await api.act(props.workflowId, op, reason === '' ? {} : { reason });
      props.onDone();
    } catch (e) {
      alert((e as Error).message);
    }
  };
  return html`<div class="actions">
    <button onClick=${() => act('cancel')}>Cancel</button>
    <button class="danger" onClick=${() => act('terminate')}>Terminate</button>
  </div>`;
}

function Waiting(props: { view: RunView }): VNode {
  const q = props.view.query;
  if (!q) return html``;
  const retryAt = (seq: number): number | undefined =>
    q.pendingTimers.find((t) => t.sendId === `squall.activity.${seq}.retry`)?.fireAt;
  const timers = q.pendingTimers.filter((t) => !t.sendId?.startsWith('squall.'));
  const rows: VNode[] = [
    ...q.pendingActivities.map((a) => {
      const next = retryAt(a.activitySeq);
      return html`<li><span class="tag activity">activity</span><b>${a.activity}</b>
        <span class="muted">attempt ${a.attempt ?? 1}${a.retrying && next ? `, next retry ${relative(next)}` : ''}</span></li>`;
    }),
    ...timers.map(
      (t) =>
        html`<li><span class="tag timer">timer</span><b title=${t.sendId}>${timerName(t.sendId, t.timerSeq)}</b><span class="muted">due ${when(t.fireAt)} (${relative(t.fireAt)})</span></li>`,
    ),
    ...(q.pendingCallbacks ?? []).map(
      (c) =>
        html`<li><span class="tag callback">callback</span><b>${c.invokeId}</b><span class="muted mono" title=${c.token}>${c.fireAt ? `times out ${relative(c.fireAt)}` : 'no timeout'}</span></li>`,
    ),
    ...(q.pendingChildren ?? []).map(
      (c) =>
        html`<li><span class="tag child">child</span><a href=${runHref(c.childWorkflowId)} onClick=${link(runHref(c.childWorkflowId))}>${c.childWorkflowId}</a><span class="muted">${c.workflowType}</span></li>`,
    ),
  ];
  return html`<section class="panel">
    <div class="panel-title">Waiting on</div>
    ${rows.length === 0 ? html`<div class="empty small">Nothing but a signal.</div>` : html`<ul class="waiting">${rows}</ul>`}
    ${q.mailbox && q.mailbox.length > 0 ? html`<div class="muted small">Mailbox: ${q.mailbox.join(', ')}</div>` : null}
  </section>`;
}

function Outcome(props: { view: RunView }): VNode {
  const s = props.view.summary;
  return html`<section class="panel">
    <div class="panel-title">Outcome</div>
    ${s.error ? html`<div class="error-text">${s.error.code}: ${s.error.message}</div>` : null}
    ${s.output !== undefined ? html`<pre class="json">${JSON.stringify(s.output, null, 2)}</pre>` : null}
  </section>`;
}

/** The history, newest commit first; a click outlines the state the commit moved to. */
function Timeline(props: {
  commits: Commit[];
  path?: RunPath;
  focus?: number;
  onFocus: (seq: number | undefined) => void;
}): VNode {
  const names = useMemo(() => {
    const activities = new Map<number, string>();
    for (const c of props.commits) {
      for (const e of c.events)
        if (e.type === 'ActivityScheduled') activities.set(e.activitySeq as number, String(e.activity));
    }
    return activities;
  }, [props.commits]);
  const stateAt = new Map((props.path?.steps ?? []).map((s) => [s.seq, s.value]));
  return html`<ol class="timeline">
    ${[...props.commits].reverse().map((c) => {
      const [input, ...rest] = c.events;
      const value = stateAt.get(c.seq);
      return html`<li class=${`commit${props.focus === c.seq ? ' focused' : ''}`} key=${c.seq} data-seq=${c.seq}
          onClick=${() => props.onFocus(props.focus === c.seq ? undefined : c.seq)}>
        <div class="commit-head"><span class="seq">#${c.seq}</span><span class="input">${input ? describe(input, names) : '—'}</span>
          <span class="time">${when(c.at)}</span></div>
        ${value !== undefined ? html`<div class="moved">→ <span class="state-chip">${stateText(value)}</span></div>` : null}
        ${rest.length > 0 ? html`<div class="outcomes">${rest.map((e) => html`<span class="chip">${describe(e, names)}</span>`)}</div>` : null}
      </li>`;
    })}
  </ol>`;
}

function describe(e: HistoryEventView, names: Map<number, string>): string {
  const act = (): string => names.get(e.activitySeq as number) ?? `#${String(e.activitySeq)}`;
  switch (e.type) {
    case 'RunStarted':
      return `Started ${String(e.workflowType)} v${String(e.version)}`;
    case 'RunBranched': {
      const o = e.origin as { kind?: string; workflowId?: string; atSeq?: number } | undefined;
      return `Live again: ${String(o?.kind)} of ${String(o?.workflowId)} at commit ${String(o?.atSeq)}`;
    }
    case 'SignalReceived':
      return `Signal ${(e.signal as { type?: string } | undefined)?.type ?? ''}${e.ignored ? ` (${String(e.ignored)})` : ''}`;
    case 'ActivityScheduled':
      return `Scheduled ${String(e.activity)}`;
    case 'ActivityCompleted':
      return `Completed ${act()}`;
    case 'ActivityFailed':
      return `Failed ${act()}${e.retryAfterMs !== undefined ? `, retry in ${Math.round(Number(e.retryAfterMs) / 100) / 10}s` : ''}`;
    case 'ActivityStarted':
      return `Started ${act()} (attempt ${String(e.attempt)})`;
    case 'TimerScheduled':
      return `Timer ${timerName(e.sendId as string | undefined, e.timerSeq as number)} due ${when(e.fireAt as number)}`;
    case 'TimerFired':
      return `Timer #${String(e.timerSeq)} fired`;
    case 'ChildStarted':
      return `Child ${String(e.childWorkflowId ?? e.workflowType)}`;
    case 'CancelRequested':
    case 'TerminateRequested':
      return `${e.type === 'CancelRequested' ? 'Cancel' : 'Terminate'} requested${e.reason ? `: ${String(e.reason)}` : ''}`;
    case 'RunCompleted':
      return 'Completed';
    case 'RunFailed':
      return `Failed: ${(e.error as { message?: string } | undefined)?.message ?? ''}`;
    default:
      return e.type.replace(/([a-z])([A-Z])/g, '$1 $2');
  }
}
