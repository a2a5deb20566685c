/**
 * `squall history --from <seq> --limit N` through a real router and store: the range asked for,
 * across history pages and across router requests (at most 1,000 commits each), and nothing more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRouter } from '../../../services/router/router.js';
import { silentLogger } from '../../../shared/log.js';
import { runCli as runCliIn } from '../../harness/cli.js';
import { mongoUrl, natsUrl } from '../../harness/index.js';
import { freshStore, newRunId, sampleCommit, sampleState, type TestStore } from '../store/helpers.js';

const COMMITS = 1_100;
const runId = newRunId();
const workflowId = `wf-${runId}`;
const stops: (() => Promise<void>)[] = [];
let t: TestStore;
let env: Record<string, string>;

beforeAll(async () => {
  t = await freshStore();
  await t.store.claimWorkflowId(workflowId, runId, 'returnExisting');
  // A closed run written straight to the store: the router only reads it, so no workflow is needed.
  const commits = Array.from({ length: COMMITS }, (_, i) => sampleCommit(runId, i + 1));
  for (let i = 0; i < commits.length; i += 500) await t.store.appendCommits(commits.slice(i, i + 500));
  await t.store.saveRun(sampleState(runId, { status: 'completed', lastSeq: COMMITS, closedAt: 1_700_000_001_000 }));
  const router = await startRouter({
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    dbName: t.dbName,
    prefix: t.prefix,
    log: silentLogger,
    workflows: [],
  });
  stops.push(() => router.stop());
  env = { NATS_URL: natsUrl(), MONGO_URL: mongoUrl(), SQUALL_PREFIX: t.prefix, SQUALL_DB: t.dbName };
});
afterAll(async () => {
  for (const stop of stops) await stop();
  await t?.drop();
});

const seqs = (lines: Record<string, unknown>[]): unknown[] => lines.map((l) => l.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('squall history paging', () => {
  it('prints the commits from --from, at most --limit of them, across pages and requests', async () => {
    const few = await runCliIn(['history', workflowId, '--from', '300', '--limit', '5'], env);
    expect(few.err).toEqual([]);
    expect(seqs(few.lines)).toEqual(range(300, 304));

    const many = await runCliIn(['history', workflowId, '--run', runId, '--from', '2', '--limit', '1050'], env);
    expect(seqs(many.lines)).toEqual(range(2, 1051));

    const tail = await runCliIn(['history', workflowId, '--from', String(COMMITS - 2)], env);
    expect(seqs(tail.lines)).toEqual(range(COMMITS - 2, COMMITS));

    const all = await runCliIn(['history', workflowId], env);
    expect(seqs(all.lines)).toEqual(range(1, COMMITS));

    const past = await runCliIn(['history', workflowId, '--from', String(COMMITS + 1)], env);
    expect(past).toEqual({ code: 0, out: [], err: [] });
  });

  it('refuses a --limit or --from that is not a positive integer, naming the flag', async () => {
    for (const [flag, value] of [
      ['--limit', '0'],
      ['--from', '-3'],
      ['--from', 'x'],
    ] as const) {
      const bad = await runCliIn(['history', workflowId, flag, value], env);
      expect(bad.code).toBe(2);
      expect(bad.err.join('\n')).toContain(flag);
    }
  });
});
