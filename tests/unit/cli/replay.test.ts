/**
 * `squall replay` with file input: recorded histories replayed under unchanged and changed
 * definitions, several runs per file, and every kind of bad argument (exit code 2).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Commit } from '../../../shared/history/events.js';
import { createTestRun, parseHistoryText } from '../../../shared/testing/index.js';
import { greetV1 } from '../../fixtures/versioning/machines.js';
import { runCli } from '../../harness/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'squall-replay-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MODULES = {
  order: 'examples/order/workflows.ts',
  changedOrder: 'tests/fixtures/replay/changed-order.ts',
  greetV1: 'tests/fixtures/versioning/v1.ts',
  greetV1Changed: 'tests/fixtures/versioning/v1-changed.ts',
  greetV2: 'tests/fixtures/versioning/v2.ts',
};

/** A history file as `squall history <id>` prints it: one `{ seq, at, events }` line per commit. */
function historyLines(commits: readonly Commit[]): string {
  return commits.map((c) => JSON.stringify({ seq: c.seq, at: c.events[0]?.at, events: c.events })).join('\n');
}

async function greetHistory(workflowId: string): Promise<Commit[]> {
  const run = await createTestRun(greetV1, { workflowId, start: Date.UTC(2026, 0, 1) });
  await run.signal({ type: 'finish' });
  expect(run.status).toBe('completed');
  return [...run.history];
}

describe('squall replay --history <file>', () => {
  it('passes a recorded fixture under the unchanged definition', async () => {
    const r = await runCli(['replay', '--workflows', MODULES.order, '--history', 'tests/fixtures/order-approved.json']);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.lines).toEqual([
      {
        ok: true,
        workflowId: 'order-1',
        runId: 'order-1-run-1',
        workflowType: 'order',
        version: 1,
        commits: expect.any(Number),
        status: 'completed',
        lastSeq: expect.any(Number),
        output: expect.objectContaining({ status: 'fulfilled' }),
      },
    ]);
  });

  it('fails the same fixture under an incompatible change, naming the event (exit 1)', async () => {
    const r = await runCli([
      'replay',
      '--workflows',
      MODULES.changedOrder,
      '--history',
      'tests/fixtures/order-approved.json',
    ]);
    expect(r.code).toBe(1);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatchObject({
      ok: false,
      workflowId: 'order-1',
      error: {
        code: 'NONDETERMINISM',
        message: expect.stringMatching(
          /replaying commit 1 under order v1 diverged at event \d+: expected .*chargeCard/,
        ),
        details: { seq: 1, runId: 'order-1-run-1' },
      },
    });
  });

  it("reads 'squall history' output, one line per run checked, several runs in one file", async () => {
    const file = path.join(dir, 'greet.jsonl');
    writeFileSync(file, `${historyLines(await greetHistory('g-1'))}\n${historyLines(await greetHistory('g-2'))}\n`);
    const ok = await runCli(['replay', '--workflows', MODULES.greetV1, '--history', file]);
    expect(ok.code).toBe(0);
    expect(ok.lines.map((l) => [l.workflowId, l.ok, l.status])).toEqual([
      ['g-1', true, 'completed'],
      ['g-2', true, 'completed'],
    ]);

    const changed = await runCli(['replay', '--workflows', MODULES.greetV1Changed, '--history', file]);
    expect(changed.code).toBe(1);
    expect(changed.lines.map((l) => [l.workflowId, l.ok, (l.error as { code: string }).code])).toEqual([
      ['g-1', false, 'NONDETERMINISM'],
      ['g-2', false, 'NONDETERMINISM'],
    ]);
    expect(changed.lines[0]).toMatchObject({
      error: { message: expect.stringContaining('got {"type":"TimerScheduled"') },
    });

    // Only v2 registered: the v1 history has no definition to replay under.
    const missing = await runCli(['replay', '--workflows', MODULES.greetV2, '--history', file]);
    expect(missing.code).toBe(1);
    expect(missing.lines[0]).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND', message: 'workflow greet has no version 1 (registered: 2)' },
    });
  });

  it('exits 2 on bad arguments: missing flags, a missing or malformed file, a missing module', async () => {
    const notJson = path.join(dir, 'bad.jsonl');
    writeFileSync(notJson, '{"seq":1,"events":[{"type":"RunStarted"}]}\nnot json\n');
    const noEvents = path.join(dir, 'no-events.json');
    writeFileSync(noEvents, '[{"seq":1,"events":[]}]');
    const cases: [string[], RegExp][] = [
      [['replay', '--history', 'x'], /--workflows <module> is required/],
      [['replay', '--workflows', MODULES.greetV1], /--history <file\|workflowId> is required/],
      [['replay', '--workflows', MODULES.greetV1, '--history', 'nope/missing.jsonl'], /does not exist/],
      [['replay', '--workflows', MODULES.greetV1, '--history', notJson], /line 2 is not JSON/],
      [['replay', '--workflows', MODULES.greetV1, '--history', noEvents], /events must be a non-empty array/],
      [['replay', '--workflows', 'no/such/module.ts', '--history', noEvents], /workflow module not found/],
      [
        ['replay', '--workflows', MODULES.greetV1, '--history', 'tests/fixtures/fanout.json', '--run', 'r1'],
        /--run applies to a workflowId/,
      ],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.lines).toEqual([]);
      expect((JSON.parse(r.err[0] as string) as { error: { message: string } }).error.message).toMatch(message);
    }
  });
});

describe('parseHistoryText', () => {
  it('splits JSON lines into runs at each seq 1 and fills ids from RunStarted', async () => {
    const a = await greetHistory('a');
    const b = await greetHistory('b');
    const runs = parseHistoryText(`${historyLines(a)}\n\n${historyLines(b)}`);
    expect(runs).toEqual([a, b]);
  });

  it('takes a JSON array of commits and a { commits } fixture object', async () => {
    const a = await greetHistory('a');
    expect(parseHistoryText(JSON.stringify(a))).toEqual([a]);
    expect(parseHistoryText(JSON.stringify({ workflowType: 'greet', commits: a }, null, 2))).toEqual([a]);
  });
});
