/**
 * `squall ui`: an HTTP server (node:http, no framework) for the console's single-page app and its
 * JSON API, backed by the Squall client over NATS. Binds 127.0.0.1 unless told otherwise: the API
 * signals and terminates runs, and has no authentication of its own.
 *
 *   GET  /, /runs/...                      the app (index.html; the app routes on the path)
 *   GET  /assets/app.js, /assets/app.css   the bundle (bundle.ts)
 *   GET  /api/runs?status&type&where&from&to&cursor&limit   one page of runs
 *   GET  /api/definitions                  the routers' definition graphs
 *   GET  /api/runs/:workflowId?runId=      a run's view (summary, query, history, path, graph)
 *   GET  /api/runs/:workflowId/live?runId=&after=   server-sent events: `moved` { lastSeq, closed }
 *   POST /api/runs/:workflowId/signal|cancel|terminate   JSON body
 *   POST /api/bulk/preview?<filter>        running runs the filter matches, with a token
 *   POST /api/bulk/terminate               { token, reason? }: terminates the previewed runs
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ClientOptions, connect, type SquallClient } from '../../shared/client/index.js';
import { InvalidInputError, NotFoundError, SquallError, toSquallError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { ConsoleApi, parseListFilter } from './api.js';
import { appBundle } from './bundle.js';
import { followRun } from './live.js';

/** Options of startConsole. */
export interface ConsoleOptions {
  /** @default 4800 (0 picks a free port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** A connected client (kept open on close); otherwise one is connected with `connection`. */
  client?: SquallClient;
  connection?: ClientOptions;
  log?: Logger;
}

/** A running console. */
export interface ConsoleHandle {
  /** `http://host:port` */
  readonly url: string;
  /** Resolves once close() is done. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** The default port of `squall ui`. */
export const DEFAULT_CONSOLE_PORT = 4800;

/** Largest request body the API reads. */
const MAX_BODY_BYTES = 256 * 1024;

/** Starts the console; resolves once it listens (the app is bundled before that, so it is ready). */
export async function startConsole(opts: ConsoleOptions = {}): Promise<ConsoleHandle> {
  const log = opts.log ?? createLogger({ fields: { service: 'console' } });
  await appBundle();
  const client = opts.client ?? (await connect(opts.connection ?? {}));
  const api = new ConsoleApi(client);
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    handle(api, req, res, log, open).catch((err: unknown) => sendError(res, err, log));
  });
  try {
    await listen(server, opts.port ?? DEFAULT_CONSOLE_PORT, opts.host ?? '127.0.0.1');
  } catch (err) {
    if (!opts.client) await client.close();
    throw err;
  }
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  log.info('console listening', { url });
  let closing: Promise<void> | undefined;
  let markClosed = (): void => {};
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });
  return {
    url,
    closed,
    close() {
      closing ??= (async () => {
        for (const res of open) res.end();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        if (!opts.client) await client.close();
        markClosed();
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        err.code === 'EADDRINUSE'
          ? new InvalidInputError(`console: port ${port} on ${host} is in use; pick another with --port`, {
              details: { port, host },
            })
          : err,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

const INDEX_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Squall console</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/app.css"></head>
<body><div id="app"></div><script type="module" src="/assets/app.js"></script></body></html>`;

async function handle(
  api: ConsoleApi,
  req: IncomingMessage,
  res: ServerResponse,
  log: Logger,
  open: Set<ServerResponse>,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://console');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (!path.startsWith('/api/')) {
    if (method !== 'GET' && method !== 'HEAD') throw new MethodError(method, path);
    if (path === '/assets/app.js') return send(res, 200, 'text/javascript; charset=utf-8', (await appBundle()).js);
    if (path === '/assets/app.css') return send(res, 200, 'text/css; charset=utf-8', (await appBundle()).css);
    if (path === '/' || path === '/runs' || path.startsWith('/runs/'))
      return send(res, 200, 'text/html; charset=utf-8', INDEX_HTML);
    throw new NotFoundError(`no page ${path}`);
  }
  const parts = path.slice('/api/'.length).split('/').map(decodeURIComponent);
  const q = url.searchParams;
  const runId = q.get('runId') || undefined;
  if (method === 'GET') {
    if (parts.length === 1 && parts[0] === 'runs') return json(res, 200, await api.list(parseListFilter(q)));
    if (parts.length === 1 && parts[0] === 'definitions')
      return json(res, 200, { definitions: await api.definitionGraphs() });
    if (parts.length === 2 && parts[0] === 'runs') return json(res, 200, await api.runView(parts[1] ?? '', runId));
    if (parts.length === 3 && parts[0] === 'runs' && parts[2] === 'live') {
      return live(api, parts[1] ?? '', runId, q.get('after'), req, res, log, open);
    }
  }
  if (method === 'POST') {
    if (parts.length === 3 && parts[0] === 'runs') {
      const [, workflowId = '', op] = parts;
      const body = await readJson(req);
      if (op === 'signal') return json(res, 202, await api.signal(workflowId, body));
      if (op === 'cancel') return json(res, 202, await api.cancel(workflowId, body));
      if (op === 'terminate') return json(res, 202, await api.terminate(workflowId, body));
    }
    if (parts.length === 2 && parts[0] === 'bulk' && parts[1] === 'preview') {
      return json(res, 200, await api.bulkPreview(parseListFilter(q)));
    }
    if (parts.length === 2 && parts[0] === 'bulk' && parts[1] === 'terminate') {
      return json(res, 200, await api.bulkTerminate(await readJson(req)));
    }
  }
  const known = ['runs', 'definitions', 'bulk'].includes(parts[0] ?? '');
  if (known && (method === 'GET' || method === 'POST')) throw new NotFoundError(`no API ${method} ${path}`);
  throw known ? new MethodError(method, path) : new NotFoundError(`no API ${path}`);
}

/** Server-sent events for one run: `moved` each time it commits, until it closes or the page goes. */
async function live(
  api: ConsoleApi,
  workflowId: string,
  runId: string | undefined,
  after: string | null,
  req: IncomingMessage,
  res: ServerResponse,
  log: Logger,
  open: Set<ServerResponse>,
): Promise<void> {
  const summary = await api.client.describe(workflowId, runId === undefined ? {} : { runId });
  const from = after === null || after === '' ? (summary.lastSeq ?? 0) : Number(after);
  if (!Number.isSafeInteger(from) || from < 0) {
    throw new InvalidInputError(`after must be a commit seq (a non-negative integer), got ${JSON.stringify(after)}`);
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
  });
  res.write(`retry: 2000\n\n`);
  open.add(res);
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  keepAlive.unref();
  const follower = followRun(
    api.client,
    workflowId,
    summary.runId,
    from,
    (m) => res.write(`event: moved\ndata: ${JSON.stringify(m)}\n\n`),
    log,
  );
  const end = (): void => {
    clearInterval(keepAlive);
    follower.stop();
    open.delete(res);
  };
  req.on('close', end);
  res.on('close', end);
}

class MethodError extends SquallError {
  constructor(method: string, path: string) {
    super('INVALID_INPUT', `method ${method} is not allowed on ${path}`, { details: { status: 405 } });
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new InvalidInputError(`request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidInputError('request body is not valid JSON');
  }
}

/** HTTP status of an error: its code's, 405 for a method not allowed. */
export function statusOf(err: SquallError): number {
  if (err instanceof MethodError) return 405;
  switch (err.code) {
    case 'INVALID_INPUT':
    case 'PAYLOAD_TOO_LARGE':
      return 400;
    case 'NOT_FOUND':
      return 404;
    case 'ALREADY_STARTED':
    case 'CONFLICT':
    case 'CALLBACK_CLOSED':
      return 409;
    case 'UNAVAILABLE':
    case 'TIMEOUT':
      return 503;
    default:
      return 500;
  }
}

function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  const e = toSquallError(err);
  const status = statusOf(e);
  if (status >= 500) log.warn('console request failed', { err });
  if (res.headersSent) {
    res.end();
    return;
  }
  json(res, status, { error: { code: e.code, message: e.message } });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}
