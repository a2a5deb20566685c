import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseListFilter } from '../../../services/console/api.js';
import { statusOf } from '../../../services/console/server.js';
import { runPath } from '../../../services/router/definitions-feed.js';
import { WorkflowRegistry } from '../../../shared/engine/index.js';
import {
  ConflictError,
  InvalidInputError,
  NotFoundError,
  SquallError,
  UnavailableError,
} from '../../../shared/errors.js';
import type { Commit } from '../../../shared/history/events.js';
import { createMemoryStore } from '../../../shared/store/memory-store.js';
import { orderWorkflow } from '../../fixtures/workflows.js';

const filter = (q: string) => parseListFilter(new URLSearchParams(q));
const refusal = (q: string): string => {
  try {
    filter(q);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as Error).message;
  }
  throw new Error(`expected ${q} to be refused`);
};

describe('the console list filter', () => {
  it('reads status, type, search attributes, times, cursor and limit', () => {
    expect(filter('')).toEqual({ limit: 50 });
    expect(
      filter(
        `status=running&type=order&where=${encodeURIComponent('{"region":"eu","n":2,"vip":true}')}&from=2026-01-01T00:00:00Z&to=1767225600000&cursor=abc&limit=500`,
      ),
    ).toEqual({
      status: 'running',
      workflowType: 'order',
      where: { region: 'eu', n: 2, vip: true },
      startedFrom: Date.parse('2026-01-01T00:00:00Z'),
      startedTo: 1_767_225_600_000,
      cursor: 'abc',
      limit: 500,
    });
    expect(filter('status=&type=')).toEqual({ limit: 50 });
  });

  it('refuses each bad parameter by name', () => {
    expect(refusal('status=sleeping')).toBe(
      'status must be one of running, completed, failed, cancelled, terminated, continued, got "sleeping"',
    );
    expect(refusal('limit=0')).toBe('limit must be an integer from 1 to 500, got "0"');
    expect(refusal('limit=501')).toMatch(/from 1 to 500/);
    expect(refusal('limit=2.5')).toMatch(/from 1 to 500/);
    expect(refusal('where=region%3Deu')).toMatch(/^where must be a JSON object of search attributes/);
    expect(refusal(`where=${encodeURIComponent('{"tags":["a"]}')}`)).toMatch(/where/);
    expect(refusal('from=last%20week')).toMatch(/^from must be an ISO date or milliseconds/);
    expect(refusal('type=a*b')).toMatch(/workflowType/);
    expect(refusal('colour=red')).toMatch(/^unknown filter "colour"; known: status, type, where/);
  });
});

describe('HTTP status of an error', () => {
  it('follows the error code', () => {
    expect(statusOf(new InvalidInputError('x'))).toBe(400);
    expect(statusOf(new NotFoundError('x'))).toBe(404);
    expect(statusOf(new ConflictError('x'))).toBe(409);
    expect(statusOf(new UnavailableError('x'))).toBe(503);
    expect(statusOf(new SquallError('INTERNAL', 'x'))).toBe(500);
  });
});

describe('runPath', () => {
  it('folds a recorded history into the state after each commit', async () => {
    const fixture = JSON.parse(readFileSync('tests/fixtures/order-approved.json', 'utf8')) as { commits: Commit[] };
    const store = createMemoryStore();
    await store.appendCommits(fixture.commits.map((c) => ({ ...c, at: c.events[0]?.at ?? 0, commands: [] })));
    const runId = fixture.commits[0]?.runId ?? '';
    const path = await runPath(store, new WorkflowRegistry([orderWorkflow]), runId);
    expect(path).toMatchObject({ workflowType: 'order', version: 1 });
    expect(path.steps.map((s) => s.seq)).toEqual(fixture.commits.map((c) => c.seq));
    expect(path.steps[0]?.value).toBe('charging');
    expect(path.steps.map((s) => s.value)).toContain('awaitingApproval');
    expect(path.steps.at(-1)).toMatchObject({ value: 'done', status: 'completed' });
  });

  it('is NotFoundError for a run without history', async () => {
    await expect(runPath(createMemoryStore(), new WorkflowRegistry([orderWorkflow]), 'nope')).rejects.toThrow(
      NotFoundError,
    );
  });
});
