/**
 * The console against a real engine: nats-server and FerretDB from the harness, router, executor
 * and timer as separate processes, the console in this process. The API is driven over HTTP, the
 * app in real Chromium (Debian's, through playwright-core; nothing downloads a browser).
 * Screenshots go to test-artifacts/console/.
 */
import { mkdir } from 'node:fs/promises';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ConsoleHandle, startConsole } from '../../../services/console/index.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { SAMPLE, type ServiceEnv, startService } from '../../e2e/processes.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';

const ARTIFACTS = 'test-artifacts/console';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Waiting runs must not time out during the test. */
const LONG = { approvalTimeoutMs: 3_600_000 };

let env: ServiceEnv;
let client: SquallClient;
let ui: ConsoleHandle;

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await startService('router', ['router', '--workflows', SAMPLE.workflows], env);
  await Promise.all([
    startService('executor', ['executor', '--activities', SAMPLE.activities], env),
    startService('timer', ['timer'], env),
  ]);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  ui = await startConsole({ port: 0, connection: { servers: env.natsUrl, prefix: env.prefix } });
  await mkdir(ARTIFACTS, { recursive: true });
  return async () => {
    await ui.close();
    await client.close();
  };
});

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${ui.url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function post(
  path: string,
  body: unknown,
  raw?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${ui.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Starts an order and waits until it waits for approval. */
async function waitingOrder(workflowId: string, attrs: Record<string, string | number> = {}): Promise<void> {
  await client.start('order', { orderId: workflowId, amount: 1200, ...LONG }, { workflowId, searchAttributes: attrs });
  await waitFor(
    `${workflowId} to wait for approval`,
    async () => (await client.query(workflowId)).accepts.includes('approve'),
    {
      timeoutMs: 30_000,
    },
  );
}

function runs(body: Record<string, unknown>): { workflowId: string; status: string }[] {
  return body.runs as { workflowId: string; status: string }[];
}

describe('console API', () => {
  it('serves the routers’ definition graphs', async () => {
    const { status, body } = await get('/api/definitions');
    expect(status).toBe(200);
    const order = (
      body.definitions as { workflowType: string; root: { children: { key: string; accepts: string[] }[] } }[]
    )[0];
    expect(order?.workflowType).toBe('order');
    expect(order?.root.children.find((c) => c.key === 'awaitingApproval')?.accepts).toEqual(['approve', 'reject']);
  });

  it('lists runs by status and search attribute, page by page', async () => {
    await Promise.all([1, 2, 3].map((i) => waitingOrder(`list-${i}`, { region: 'eu', n: i })));
    await waitingOrder('list-4', { region: 'us' });
    const where = encodeURIComponent(JSON.stringify({ region: 'eu' }));
    await waitFor(
      'the eu runs in the list',
      async () => runs((await get(`/api/runs?where=${where}`)).body).length === 3,
      {
        timeoutMs: 15_000,
      },
    );
    const first = await get(`/api/runs?where=${where}&status=running&limit=2`);
    expect(first.status).toBe(200);
    expect(runs(first.body)).toHaveLength(2);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await get(
      `/api/runs?where=${where}&status=running&limit=2&cursor=${encodeURIComponent(String(first.body.nextCursor))}`,
    );
    const ids = [...runs(first.body), ...runs(second.body)].map((r) => r.workflowId).sort();
    expect(ids).toEqual(['list-1', 'list-2', 'list-3']);
    expect(runs((await get('/api/runs?type=order&status=completed')).body)).toEqual([]);
  });

  it('answers a run view: summary, query, history, path and graph', async () => {
    await waitingOrder('view-1');
    const { status, body } = await get('/api/runs/view-1');
    expect(status).toBe(200);
    expect(body.summary).toMatchObject({ workflowId: 'view-1', status: 'running', workflowType: 'order' });
    expect(body.query).toMatchObject({ value: 'awaitingApproval', accepts: ['approve', 'reject'] });
    const commits = body.commits as { seq: number }[];
    const steps = (body.path as { steps: { seq: number; value: unknown }[] }).steps;
    expect(steps.map((s) => s.seq)).toEqual(commits.map((c) => c.seq));
    expect(steps[0]?.value).toBe('charging');
    expect(steps.at(-1)?.value).toBe('awaitingApproval');
    expect(body.definition).toMatchObject({ workflowType: 'order', version: 1 });
  });

  it('signals, cancels and terminates from POSTs', async () => {
    await waitingOrder('act-1');
    expect((await post('/api/runs/act-1/signal', { type: 'reject', reason: 'no stock' })).status).toBe(202);
    await waitFor('act-1 to close', async () => (await client.describe('act-1')).status === 'completed', {
      timeoutMs: 15_000,
    });
    await waitingOrder('act-2');
    expect((await post('/api/runs/act-2/terminate', { reason: 'test' })).status).toBe(202);
    await waitFor('act-2 terminated', async () => (await client.describe('act-2')).status === 'terminated', {
      timeoutMs: 15_000,
    });
  });

  it('bulk terminates exactly the running runs a preview listed, once', async () => {
    await Promise.all([1, 2, 3].map((i) => waitingOrder(`bulk-${i}`, { batch: 'b1' })));
    const where = encodeURIComponent(JSON.stringify({ batch: 'b1' }));
    await waitFor(
      'the batch in the list',
      async () => runs((await get(`/api/runs?where=${where}`)).body).length === 3,
      {
        timeoutMs: 15_000,
      },
    );
    const preview = await post(`/api/bulk/preview?where=${where}`, {});
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ count: 3, capped: false });
    expect((preview.body.sample as string[]).sort()).toEqual(['bulk-1', 'bulk-2', 'bulk-3']);
    const done = await post('/api/bulk/terminate', { token: preview.body.token, reason: 'cleanup' });
    expect(done).toMatchObject({ status: 200, body: { terminated: 3, failed: [] } });
    for (const id of ['bulk-1', 'bulk-2', 'bulk-3']) {
      await waitFor(`${id} terminated`, async () => (await client.describe(id)).status === 'terminated', {
        timeoutMs: 15_000,
      });
    }
    const again = await post('/api/bulk/terminate', { token: preview.body.token });
    expect(again.status).toBe(404);
    expect((again.body.error as { message: string }).message).toMatch(/no such preview/);
  });

  it('answers bad input with a clear error body', async () => {
    const cases: [string, number, string, RegExp][] = [
      ['/api/runs/no-such-run', 404, 'NOT_FOUND', /no-such-run|not found|no run/i],
      ['/api/runs?status=sleeping', 400, 'INVALID_INPUT', /status must be one of running, completed/],
      ['/api/runs?limit=0', 400, 'INVALID_INPUT', /limit must be an integer from 1 to 500, got "0"/],
      ['/api/runs?where=region', 400, 'INVALID_INPUT', /where must be a JSON object/],
      ['/api/runs?where=%7B%22a%22%3A%5B1%5D%7D', 400, 'INVALID_INPUT', /where/],
      ['/api/runs?from=yesterday', 400, 'INVALID_INPUT', /from must be an ISO date/],
      ['/api/runs?colour=red', 400, 'INVALID_INPUT', /unknown filter "colour"/],
      ['/api/runs?type=a.b', 400, 'INVALID_INPUT', /workflowType/],
      ['/api/nothing', 404, 'NOT_FOUND', /no API \/api\/nothing/],
    ];
    for (const [path, status, code, message] of cases) {
      const r = await get(path);
      expect([path, r.status, (r.body.error as { code: string }).code], path).toEqual([path, status, code]);
      expect((r.body.error as { message: string }).message, path).toMatch(message);
    }
    const badJson = await post('/api/runs/x/signal', undefined, '{"type":');
    expect([badJson.status, badJson.body.error]).toEqual([
      400,
      { code: 'INVALID_INPUT', message: 'request body is not valid JSON' },
    ]);
    const noType = await post('/api/runs/x/signal', { data: 1 });
    expect([noType.status, (noType.body.error as { message: string }).message]).toEqual([
      400,
      'signal: the body needs a non-empty string "type"',
    ]);
    const unknownRun = await post('/api/runs/no-such-run/signal', { type: 'approve' });
    expect(unknownRun.status).toBe(404);
    const bulkClosed = await post('/api/bulk/preview?status=completed', {});
    expect([bulkClosed.status, (bulkClosed.body.error as { message: string }).message]).toEqual([
      400,
      'bulk terminate takes running runs only; the filter asks for completed',
    ]);
    const put = await fetch(`${ui.url}/api/runs`, { method: 'PUT' });
    expect(put.status).toBe(405);
  });
});

describe('console in Chromium', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    return () => browser.close();
  });
  /** Errors the app threw or logged: none is expected. */
  const pageErrors: string[] = [];
  afterEach(() => {
    expect(pageErrors).toEqual([]);
  });

  it('shows the runs list with statuses', async () => {
    await waitingOrder('shop-1001', { region: 'eu' });
    await page.goto(`${ui.url}/`);
    await page.locator('table.runs tr.row').first().waitFor({ timeout: 20_000 });
    await waitFor('several rows', async () => (await page.locator('table.runs tr.row').count()) >= 5, {
      timeoutMs: 15_000,
    });
    expect(await page.locator('table.runs .status-running').count()).toBeGreaterThan(0);
    expect(await page.locator('table.runs .status-terminated').count()).toBeGreaterThan(0);
    await page.screenshot({ path: `${ARTIFACTS}/runs-list.png`, fullPage: true });
  });

  it('terminates the running runs a filter matches, after a confirmation naming them', async () => {
    await Promise.all(['bulk-ui-1', 'bulk-ui-2'].map((id) => waitingOrder(id, { batch: 'ui' })));
    await waitingOrder('bulk-ui-other', { batch: 'other' });
    // The list shows a run once its summary lands (within the router's summary delay).
    const where = encodeURIComponent(JSON.stringify({ batch: 'ui' }));
    await waitFor(
      'the two runs in the list',
      async () => runs((await get(`/api/runs?where=${where}`)).body).length === 2,
      {
        timeoutMs: 15_000,
      },
    );
    await page.goto(`${ui.url}/`);
    await page.fill('.filters input[name="attrs"]', 'batch=ui');
    await page.getByRole('button', { name: 'Apply' }).click();
    await waitFor('the two runs listed', async () => (await page.locator('table.runs tr.row').count()) === 2, {
      timeoutMs: 15_000,
    });
    await page.getByRole('button', { name: 'Terminate matching…' }).click();
    const dialog = page.getByRole('dialog', { name: 'confirm bulk terminate' });
    await dialog.getByText('Terminate 2 running runs?').waitFor({ timeout: 10_000 });
    expect((await dialog.locator('.sample li').allTextContents()).sort()).toEqual(['bulk-ui-1', 'bulk-ui-2']);
    await page.screenshot({ path: `${ARTIFACTS}/bulk-terminate-confirm.png` });
    await dialog.getByRole('button', { name: 'Terminate 2' }).click();
    await page.getByText('Terminated 2 run(s).').waitFor({ timeout: 15_000 });
    for (const id of ['bulk-ui-1', 'bulk-ui-2']) {
      await waitFor(`${id} terminated`, async () => (await client.describe(id)).status === 'terminated', {
        timeoutMs: 15_000,
      });
    }
    expect((await client.describe('bulk-ui-other')).status).toBe('running');
  });

  it('follows a run live: waiting, a signal from the form, the next state, the signal in the history', async () => {
    await waitingOrder('order-live');
    await page.goto(`${ui.url}/runs/order-live`);
    const current = page.getByTestId('current-state');
    await expect.poll(() => current.textContent(), { timeout: 20_000 }).toBe('awaitingApproval');
    await page.locator('g.state.active[data-state="awaitingApproval"]').waitFor({ timeout: 20_000 });
    await page.locator('.live-dot.live').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${ARTIFACTS}/run-waiting.png`, fullPage: true });
    // Marks this document: a reload would lose it.
    await page.evaluate(() => Object.assign(globalThis, { consoleMark: 'same page' }));

    await page.selectOption('.signal-form select[name="type"]', 'approve');
    await page.getByRole('button', { name: 'Send approve' }).click();

    await expect.poll(() => current.textContent(), { timeout: 30_000 }).toBe('done');
    await page.locator('g.state.ended[data-state="done"]').waitFor({ timeout: 10_000 });
    await page.locator('.timeline', { hasText: 'Signal approve' }).waitFor({ timeout: 10_000 });
    await page.locator('.run-head .status-completed').waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { consoleMark?: string }).consoleMark)).toBe(
      'same page',
    );
    // The path it took is drawn over the chart: done: chargeCard, approve, each region's
    // done: sendEmail / done: shipOrder (the second one passing through its final state in the
    // commit that completed the parallel state), and the parallel state's done.
    expect(await page.locator('g.edge.taken').count()).toBe(5);
    await page.screenshot({ path: `${ARTIFACTS}/run-completed.png`, fullPage: true });
  });
});
