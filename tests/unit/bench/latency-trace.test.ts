/** `latency --trace`: the timeline of a run's path from recorded marks, and the scenario's flags. */
import { describe, expect, it } from 'vitest';
import { num } from '../../../bench/lib/context.js';
import { type Mark, pathTimeline, RUN_DONE_MARK, RUN_START_MARK } from '../../../bench/lib/trace.js';
import { latencyWorkload, startProfile } from '../../../bench/scenarios/runs.js';

/** One run's marks at `t0` plus the given offsets, in order. */
function run(t0: number, offsets: [string, number][]): Mark[] {
  return [{ at: t0, label: RUN_START_MARK }, ...offsets.map(([label, d]) => ({ at: t0 + d, label }))];
}

describe('pathTimeline', () => {
  it('puts each mark at its median time from the start and gives the median gap from the mark before', () => {
    const marks = [
      ...run(0, [
        ['router: input taken (start)', 1],
        ['router: store.appendCommits sent', 2],
        ['router: store.appendCommits done', 4],
        [RUN_DONE_MARK, 5],
      ]),
      ...run(100, [
        ['router: input taken (start)', 1],
        ['router: store.appendCommits sent', 3],
        ['router: store.appendCommits done', 6],
        [RUN_DONE_MARK, 8],
      ]),
      ...run(200, [
        ['router: input taken (start)', 2],
        ['router: store.appendCommits sent', 3],
        ['router: store.appendCommits done', 5],
        [RUN_DONE_MARK, 6],
      ]),
    ];
    expect(pathTimeline(marks)).toEqual([
      { mark: RUN_START_MARK, runs: 3, atMs: 0, sincePrevMs: 0 },
      { mark: 'router: input taken (start)', runs: 3, atMs: 1, sincePrevMs: 1 },
      { mark: 'router: store.appendCommits sent', runs: 3, atMs: 3, sincePrevMs: 1 },
      { mark: 'router: store.appendCommits done', runs: 3, atMs: 5, sincePrevMs: 2 },
      { mark: RUN_DONE_MARK, runs: 3, atMs: 6, sincePrevMs: 1 },
    ]);
  });

  it('numbers repeated marks within a run, and drops what comes after the done mark', () => {
    const marks = [
      ...run(0, [
        ['router: input taken (event)', 1],
        ['router: input taken (event)', 3],
        [RUN_DONE_MARK, 4],
        ['router: publish done acked', 4.5], // the previous run's tail, before the next start
      ]),
      ...run(10, [
        ['router: input taken (event)', 1],
        ['router: input taken (event)', 3],
        [RUN_DONE_MARK, 4],
      ]),
    ];
    expect(pathTimeline(marks).map((m) => m.mark)).toEqual([
      RUN_START_MARK,
      'router: input taken (event)',
      'router: input taken (event) #2',
      RUN_DONE_MARK,
    ]);
  });

  it('leaves out a mark seen in fewer than half of the runs, and marks before the first start', () => {
    const marks = [
      { at: -5, label: 'router: store.getRun sent' },
      ...run(0, [
        ['router: store.saveRuns sent', 1],
        [RUN_DONE_MARK, 2],
      ]),
      ...run(10, [[RUN_DONE_MARK, 2]]),
      ...run(20, [[RUN_DONE_MARK, 2]]),
    ];
    expect(pathTimeline(marks).map((m) => m.mark)).toEqual([RUN_START_MARK, RUN_DONE_MARK]);
    expect(pathTimeline([])).toEqual([]);
  });
});

describe('latencyWorkload', () => {
  it('runs noop3 on two executors by default, and inline3 with none unless --executors says', () => {
    expect(latencyWorkload({})).toMatchObject({
      workflow: 'noop3',
      wait: 'subscription',
      topo: { executors: 2, routers: 1 },
    });
    expect(latencyWorkload({ wait: 'result' })).toMatchObject({ wait: 'result' });
    expect(latencyWorkload({ workflow: 'inline3' })).toMatchObject({ workflow: 'inline3', topo: { executors: 0 } });
    expect(latencyWorkload({ workflow: 'inline3', executors: '1' })).toMatchObject({ topo: { executors: 1 } });
  });

  it('refuses a workflow or a wait it does not know, naming the ones it does', () => {
    expect(() => latencyWorkload({ workflow: 'noop4' })).toThrow(/--workflow must be one of noop3, inline3, got noop4/);
    expect(() => latencyWorkload({ workflow: true })).toThrow(/--workflow must be one of noop3, inline3, got true/);
    expect(() => latencyWorkload({ wait: 'poll' })).toThrow(/--wait must be one of subscription, result, got poll/);
  });

  it('profiles only when --profile names a directory, and says so when it names none', async () => {
    expect(await startProfile({})).toBeUndefined();
    await expect(startProfile({ profile: true })).rejects.toThrow(/--profile needs a directory/);
  });

  it('refuses a --repeat that is not a count', () => {
    expect(num({ repeat: '3' }, 'repeat', 1)).toBe(3);
    expect(() => num({ repeat: 'twice' }, 'repeat', 1)).toThrow(/--repeat must be a non-negative number, got twice/);
  });
});
