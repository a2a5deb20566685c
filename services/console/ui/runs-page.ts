/**
 * The runs list: filters (status, type, search attributes, start time) kept in the URL, pages
 * over any number of runs by cursor, and bulk terminate of the running runs a filter matches,
 * after a confirmation that names how many and which.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type BulkPreview, type ListPage, navigate, stateText, when } from './api.js';
import { runHref } from './run-page.js';
import { Status } from './status.js';

const STATUSES = ['running', 'completed', 'failed', 'cancelled', 'terminated', 'continued'];
const PAGE = 50;

/** `region=eu, priority=2, vip=true` → `{"region":"eu","priority":2,"vip":true}`; throws on a bad pair. */
export function whereFromText(text: string): string | undefined {
  const pairs = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (pairs.length === 0) return undefined;
  const out: Record<string, string | number | boolean> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new Error(`search attribute ${JSON.stringify(pair)} is not key=value`);
    const key = pair.slice(0, i).trim();
    const raw = pair.slice(i + 1).trim();
    out[key] =
      raw === 'true'
        ? true
        : raw === 'false'
          ? false
          : /^-?\d+(\.\d+)?$/.test(raw)
            ? Number(raw)
            : raw.replace(/^"(.*)"$/, '$1');
  }
  return JSON.stringify(out);
}

function filterParams(search: string): URLSearchParams {
  const q = new URLSearchParams(search);
  const out = new URLSearchParams();
  for (const k of ['status', 'type', 'where', 'from', 'to']) {
    const v = q.get(k);
    if (v) out.set(k, v);
  }
  return out;
}

export function RunsPage(props: { search: string }): VNode {
  const filters = filterParams(props.search);
  const [types, setTypes] = useState<string[]>([]);
  const [page, setPage] = useState<ListPage | undefined>(undefined);
  const [cursors, setCursors] = useState<string[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  const [confirm, setConfirm] = useState<BulkPreview | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const key = filters.toString();
  const cursor = cursors.at(-1);

  useEffect(() => {
    api.definitions().then(
      (d) => setTypes([...new Set(d.definitions.map((g) => g.workflowType))].sort()),
      () => setTypes([]),
    );
  }, []);
  useEffect(() => setCursors([]), [key]);
  useEffect(() => {
    const q = new URLSearchParams(filters);
    q.set('limit', String(PAGE));
    if (cursor) q.set('cursor', cursor);
    setPage(undefined);
    api.list(q).then(
      (p) => {
        setPage(p);
        setError(undefined);
      },
      (e: Error) => setError(e.message),
    );
  }, [key, cursor]);

  const apply = (e: Event): void => {
    e.preventDefault();
    const form = new FormData(e.target as HTMLFormElement);
    const q = new URLSearchParams();
    for (const k of ['status', 'type']) {
      const v = String(form.get(k) ?? '');
      if (v) q.set(k, v);
    }
    try {
      const where = whereFromText(String(form.get('attrs') ?? ''));
      if (where) q.set('where', where);
    } catch (err) {
      setError((err as Error).message);
      return;
    }
    for (const k of ['from', 'to']) {
      const v = String(form.get(k) ?? '');
      if (v) q.set(k, new Date(v).toISOString());
    }
    navigate(`/${q.toString() ? `?${q}` : ''}`);
  };

  const preview = async (): Promise<void> => {
    try {
      setConfirm(await api.bulkPreview(filters));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const terminate = async (): Promise<void> => {
    if (!confirm) return;
    try {
      const r = await api.bulkTerminate(confirm.token, 'bulk terminate from the console');
      setNotice(`Terminated ${r.terminated} run(s)${r.failed.length ? `, ${r.failed.length} failed` : ''}.`);
      setConfirm(undefined);
      setCursors([...cursors]);
    } catch (e) {
      setError((e as Error).message);
      setConfirm(undefined);
    }
  };

  const whereText = (() => {
    const w = filters.get('where');
    if (!w) return '';
    try {
      return Object.entries(JSON.parse(w) as Record<string, unknown>)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ');
    } catch {
      return '';
    }
  })();
  // A datetime-local input holds local time (apply() reads it back as local time).
  const local = (iso: string | null): string => {
    if (!iso) return '';
    const d = new Date(iso);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  };

  return html`<main class="page">
    <header class="page-head"><h1>Runs</h1>
      <button class="danger ghost" onClick=${preview} title="terminate every running run this filter matches">Terminate matching…</button>
    </header>
    <form class="filters" onSubmit=${apply} key=${key}>
      <label>Status<select name="status" value=${filters.get('status') ?? ''}>
        <option value="">any</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>Type<select name="type" value=${filters.get('type') ?? ''}>
        <option value="">any</option>${types.map((t) => html`<option value=${t}>${t}</option>`)}</select></label>
      <label class="grow">Search attributes<input name="attrs" placeholder="region=eu, priority=2" value=${whereText} /></label>
      <label>Started from<input type="datetime-local" name="from" value=${local(filters.get('from'))} /></label>
      <label>to<input type="datetime-local" name="to" value=${local(filters.get('to'))} /></label>
      <button class="primary" type="submit">Apply</button>
    </form>
    ${error ? html`<div class="error-box">${error}</div>` : null}
    ${notice ? html`<div class="note">${notice}</div>` : null}
    <div class="panel table-panel">
      <table class="runs">
        <thead><tr><th>Workflow id</th><th>Type</th><th>Status</th><th>State · attributes</th><th>Started</th><th>Updated</th></tr></thead>
        <tbody>
          ${
            page === undefined
              ? html`<tr><td colspan="6" class="empty">Loading…</td></tr>`
              : page.runs.length === 0
                ? html`<tr><td colspan="6" class="empty">No runs match.</td></tr>`
                : page.runs.map(
                    (
                      r,
                    ) => html`<tr key=${r.runId} onClick=${() => navigate(runHref(r.workflowId, r.runId))} class="row">
                    <td><a href=${runHref(r.workflowId, r.runId)} onClick=${(e: MouseEvent) => {
                      e.preventDefault();
                      navigate(runHref(r.workflowId, r.runId));
                    }}>${r.workflowId}</a></td>
                    <td>${r.workflowType}<span class="muted"> v${r.version ?? '?'}</span></td>
                    <td><${Status} status=${r.status} /></td>
                    <td>${(r.stateValue ?? r.value) !== undefined ? html`<span class="mono state-cell">${stateText(r.stateValue ?? r.value)}</span> ` : null}${Object.entries(
                      r.searchAttributes ?? {},
                    ).map(([k, v]) => html`<span class="attr">${k}=${String(v)}</span>`)}</td>
                    <td>${when(r.startedAt)}</td>
                    <td>${when(r.closedAt ?? r.updatedAt)}</td>
                  </tr>`,
                  )
          }
        </tbody>
      </table>
      <div class="pager">
        <span class="muted">Page ${cursors.length + 1}${page ? ` · ${page.runs.length} runs` : ''}</span>
        <button disabled=${cursors.length === 0} onClick=${() => setCursors(cursors.slice(0, -1))}>← Previous</button>
        <button disabled=${!page?.nextCursor} onClick=${() => page?.nextCursor && setCursors([...cursors, page.nextCursor])}>Next →</button>
      </div>
    </div>
    ${
      confirm
        ? html`<div class="modal-backdrop"><div class="modal" role="dialog" aria-label="confirm bulk terminate">
          <h2>Terminate ${confirm.count} running run${confirm.count === 1 ? '' : 's'}?</h2>
          <p>Each run ends at once: its machine is not consulted, pending activities and timers are cancelled.${confirm.capped ? ' Only the first 10,000 are taken.' : ''}</p>
          ${confirm.sample.length > 0 ? html`<ul class="sample">${confirm.sample.map((id) => html`<li class="mono">${id}</li>`)}${confirm.count > confirm.sample.length ? html`<li class="muted">… and ${confirm.count - confirm.sample.length} more</li>` : null}</ul>` : null}
          <div class="modal-actions">
            <button onClick=${() => setConfirm(undefined)}>Keep them</button>
            <button class="danger" disabled=${confirm.count === 0} onClick=${terminate}>Terminate ${confirm.count}</button>
          </div></div></div>`
        : null
    }
  </main>`;
}
