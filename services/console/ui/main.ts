/** The console app: a top bar and the page the URL names (`/` runs, `/runs/<workflowId>` a run). */
import { html, render } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { navigate } from './api.js';
import { RunPage } from './run-page.js';
import { RunsPage } from './runs-page.js';

function useLocation(): { path: string; search: string } {
  const read = () => ({ path: location.pathname, search: location.search });
  const [loc, setLoc] = useState(read);
  useEffect(() => {
    const on = (): void => setLoc(read());
    addEventListener('popstate', on);
    return () => removeEventListener('popstate', on);
  }, []);
  return loc;
}

function App(): VNode {
  const { path, search } = useLocation();
  const run = /^\/runs\/([^/]+)$/.exec(path);
  const runId = new URLSearchParams(search).get('runId') ?? undefined;
  const page = run
    ? html`<${RunPage} key=${`${run[1]}/${runId ?? ''}`} workflowId=${decodeURIComponent(run[1] ?? '')} runId=${runId} />`
    : html`<${RunsPage} search=${search} />`;
  return html`<div class="shell">
    <nav class="topbar">
      <a class="brand" href="/" onClick=${(e: MouseEvent) => {
        e.preventDefault();
        navigate('/');
      }}><span class="logo">≋</span> Squall</a>
      <span class="topbar-sub">console</span>
    </nav>
    ${page}
  </div>`;
}

const root = document.getElementById('app');
if (root) render(html`<${App} />`, root);
