/**
 * The console's JSON API over the Squall client: runs list with filters and paging, one run's view
 * (summary, query, history, path, definition graph), signal/cancel/terminate, and bulk terminate
 * of a filtered set in two steps (preview, then confirm the very runs the preview listed).
 * Every bad request is a typed error; http.ts maps codes to statuses.
 */
import { randomBytes } from 'node:crypto';
import type { HistoryCommit, ListFilter, QueryResult, RunSummary, SquallClient } from '../../shared/client/index.js';
import { call } from '../../shared/client/wire.js';
import { validateSearchAttributes } from '../../shared/engine/search-attributes.js';
import { InvalidInputError, NotFoundError, SquallError } from '../../shared/errors.js';
import type { RunStatus, SearchAttributes } from '../../shared/history/events.js';
import { validateToken } from '../../shared/names.js';
import type { DefinitionGraph, RunPath } from './wire.js';

/** Run statuses a filter may name. */
export const RUN_STATUSES: readonly RunStatus[] = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'continued',
];

/** Most runs one list page returns. */
export const MAX_PAGE = 500;
/** Most runs one bulk terminate takes. */
export const MAX_BULK = 10_000;
/** How long a bulk preview can be confirmed. */
const BULK_TTL_MS = 5 * 60_000;
/** Most commits a run view carries (the timeline of longer runs starts at its newest commits). */
const MAX_VIEW_COMMITS = 5_000;
/** How long the routers' definitions are kept before being asked again. */
const DEFINITIONS_TTL_MS = 10_000;

/** Everything the run page draws, read in one go. */
export interface RunView {
  summary: RunSummary;
  query?: QueryResult;
  commits: HistoryCommit[];
  /** True when older commits were left out (more than MAX_VIEW_COMMITS). */
  truncated: boolean;
  path?: RunPath;
  definition?: DefinitionGraph;
  /** Why `path` or `definition` is missing (no router serves the definition, …). */
  notes: string[];
}

/** A bulk terminate preview: the running runs the filter matched, to confirm with `token`. */
export interface BulkPreview {
  token: string;
  count: number;
  /** The first workflowIds, for the confirmation dialog. */
  sample: string[];
  /** True when the filter matched more than MAX_BULK running runs (only MAX_BULK are taken). */
  capped: boolean;
}

/** Reads a list filter from URL search params; InvalidInputError naming the bad parameter. */
export function parseListFilter(q: URLSearchParams): ListFilter {
  const known = new Set(['status', 'type', 'where', 'from', 'to', 'cursor', 'limit']);
  for (const key of q.keys()) {
    if (!known.has(key)) {
      throw new InvalidInputError(`unknown filter ${JSON.stringify(key)}; known: ${[...known].join(', ')}`, {
        details: { parameter: key },
      });
    }
  }
  const f: ListFilter = {};
  const status = q.get('status') || undefined;
  if (status !== undefined) {
    if (!(RUN_STATUSES as readonly string[]).includes(status)) {
      throw new InvalidInputError(`status must be one of ${RUN_STATUSES.join(', ')}, got ${JSON.stringify(status)}`, {
        details: { parameter: 'status' },
      });
    }
    f.status = status as RunStatus;
  }
  const type = q.get('type') || undefined;
  if (type !== undefined) f.workflowType = validateToken('workflowType', type);
  const where = q.get('where') || undefined;
  if (where !== undefined) f.where = parseWhere(where);
  const from = q.get('from') || undefined;
  if (from !== undefined) f.startedFrom = parseTime('from', from);
  const to = q.get('to') || undefined;
  if (to !== undefined) f.startedTo = parseTime('to', to);
  const cursor = q.get('cursor') || undefined;
  if (cursor !== undefined) f.cursor = cursor;
  const limit = q.get('limit') || undefined;
  f.limit = limit === undefined ? 50 : parseLimit(limit);
  return f;
}

/** `where` is a JSON object of search attributes: `{"region":"eu","priority":2}`. */
function parseWhere(raw: string): SearchAttributes {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new InvalidInputError(`where must be a JSON object of search attributes, got ${JSON.stringify(raw)}`, {
      details: { parameter: 'where' },
    });
  }
  validateSearchAttributes(value, 'where');
  return value as SearchAttributes;
}

/** A time: milliseconds since the epoch, or an ISO 8601 date. */
function parseTime(name: string, raw: string): number {
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isSafeInteger(ms)) {
    throw new InvalidInputError(
      `${name} must be an ISO date or milliseconds since the epoch, got ${JSON.stringify(raw)}`,
      {
        details: { parameter: name },
      },
    );
  }
  return ms;
}

function parseLimit(raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_PAGE) {
    throw new InvalidInputError(`limit must be an integer from 1 to ${MAX_PAGE}, got ${JSON.stringify(raw)}`, {
      details: { parameter: 'limit' },
    });
  }
  return n;
}

/** Reads a JSON request body's object; InvalidInputError when it is not one. */
export function expectObject(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError(`${what}: the body must be a JSON object`);
  }
  return body as Record<string, unknown>;
}

function optionalReason(body: Record<string, unknown>, what: string): string | undefined {
  const r = body.reason;
  if (r === undefined || r === '') return undefined;
  if (typeof r !== 'string') throw new InvalidInputError(`${what}: reason must be a string`);
  return r;
}

/** The console's operations, over one client. */
export class ConsoleApi {
  private definitions: { at: number; graphs: Promise<DefinitionGraph[]> } | undefined;
  private readonly previews = new Map<string, { ids: string[]; expires: number }>();

  constructor(
    readonly client: SquallClient,
    private readonly requestTimeoutMs = 5_000,
  ) {}

  list(filter: ListFilter) {
    return this.client.list(filter);
  }

  /** The graphs every router serves (cached briefly; routers answer in a queue group). */
  async definitionGraphs(): Promise<DefinitionGraph[]> {
    const now = Date.now();
    if (!this.definitions || now - this.definitions.at > DEFINITIONS_TTL_MS) {
      const graphs = this.ask({}).then((r) => (r as { definitions: DefinitionGraph[] }).definitions);
      this.definitions = { at: now, graphs };
      graphs.catch(() => {
        this.definitions = undefined;
      });
    }
    return this.definitions.graphs;
  }

  private ask(body: unknown): Promise<unknown> {
    return call(this.client.nc, this.client.subjects.definitions(), body, {
      timeoutMs: this.requestTimeoutMs,
      attempts: 2,
    });
  }

  /** Summary, current state, history, path and definition of a run (the latest of workflowId unless runId). */
  async runView(workflowId: string, runId?: string): Promise<RunView> {
    validateToken('workflowId', workflowId);
    if (runId !== undefined) validateToken('runId', runId);
    const summary = await this.client.describe(workflowId, runId === undefined ? {} : { runId });
    const notes: string[] = [];
    const [query, history, path, definitions] = await Promise.all([
      this.client.query(workflowId).then(
        (q) => (q.runId === summary.runId ? q : undefined),
        () => undefined,
      ),
      this.commits(workflowId, summary.runId),
      (this.ask({ runId: summary.runId }) as Promise<RunPath>).catch((e: unknown) => {
        notes.push(`no path: ${(e as Error).message}`);
        return undefined;
      }),
      this.definitionGraphs().catch((e: unknown) => {
        notes.push(`no definitions: ${(e as Error).message}`);
        return [] as DefinitionGraph[];
      }),
    ]);
    const definition = definitions.find(
      (d) => d.workflowType === summary.workflowType && d.version === summary.version,
    );
    if (!definition && definitions.length > 0) {
      notes.push(`no router serves ${summary.workflowType} version ${summary.version ?? '?'}`);
    }
    return {
      summary,
      ...(query ? { query } : {}),
      commits: history.commits,
      truncated: history.truncated,
      ...(path ? { path } : {}),
      ...(definition ? { definition } : {}),
      notes,
    };
  }

  /** Every commit of a run, oldest first (the newest MAX_VIEW_COMMITS of a longer one). */
  async commits(
    workflowId: string,
    runId: string,
    fromSeq = 1,
  ): Promise<{ commits: HistoryCommit[]; truncated: boolean }> {
    const commits: HistoryCommit[] = [];
    let next: number | undefined = fromSeq;
    while (next !== undefined) {
      const page = await this.client.history(workflowId, { runId, fromSeq: next, limit: 1000 });
      commits.push(...page.commits);
      next = page.nextSeq;
    }
    const truncated = commits.length > MAX_VIEW_COMMITS;
    return { commits: truncated ? commits.slice(-MAX_VIEW_COMMITS) : commits, truncated };
  }

  signal(workflowId: string, body: unknown) {
    const event = expectObject(body, 'signal');
    if (typeof event.type !== 'string' || event.type === '') {
      throw new InvalidInputError('signal: the body needs a non-empty string "type"');
    }
    return this.client.signal(validateToken('workflowId', workflowId), event as { type: string });
  }

  cancel(workflowId: string, body: unknown) {
    return this.client.cancel(
      validateToken('workflowId', workflowId),
      optionalReason(expectObject(body, 'cancel'), 'cancel'),
    );
  }

  terminate(workflowId: string, body: unknown) {
    const reason = optionalReason(expectObject(body, 'terminate'), 'terminate');
    return this.client.terminate(validateToken('workflowId', workflowId), reason);
  }

  /** Lists the running runs `filter` matches (its status must be absent or `running`). */
  async bulkPreview(filter: ListFilter): Promise<BulkPreview> {
    if (filter.status !== undefined && filter.status !== 'running') {
      throw new InvalidInputError(`bulk terminate takes running runs only; the filter asks for ${filter.status}`, {
        details: { parameter: 'status' },
      });
    }
    const ids: string[] = [];
    let cursor: string | undefined;
    let capped = false;
    do {
      const page = await this.client.list({
        ...filter,
        status: 'running',
        limit: MAX_PAGE,
        ...(cursor ? { cursor } : {}),
      });
      for (const r of page.runs) {
        if (ids.length >= MAX_BULK) {
          capped = true;
          break;
        }
        ids.push(r.workflowId);
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined && !capped);
    const now = Date.now();
    for (const [k, v] of this.previews) if (v.expires < now) this.previews.delete(k);
    const token = randomBytes(12).toString('hex');
    this.previews.set(token, { ids, expires: now + BULK_TTL_MS });
    return { token, count: ids.length, sample: ids.slice(0, 20), capped };
  }

  /** Terminates the runs a preview listed; its token works once. */
  async bulkTerminate(body: unknown): Promise<{ terminated: number; failed: { workflowId: string; error: string }[] }> {
    const b = expectObject(body, 'bulk terminate');
    if (typeof b.token !== 'string')
      throw new InvalidInputError('bulk terminate: "token" (from the preview) is required');
    const preview = this.previews.get(b.token);
    if (!preview || preview.expires < Date.now()) {
      throw new NotFoundError('bulk terminate: no such preview, or it expired; preview the filter again');
    }
    this.previews.delete(b.token);
    const reason = optionalReason(b, 'bulk terminate') ?? 'bulk terminate from the console';
    const failed: { workflowId: string; error: string }[] = [];
    let terminated = 0;
    const queue = [...preview.ids];
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        try {
          await this.client.terminate(id, reason);
          terminated++;
        } catch (e) {
          // A run that closed since the preview is not a failure of the bulk operation.
          if (e instanceof SquallError && e.code === 'NOT_FOUND') continue;
          failed.push({ workflowId: id, error: (e as Error).message });
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    return { terminated, failed };
  }
}
