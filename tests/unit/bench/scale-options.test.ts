/** The `scale` bench scenario's flags: defaults, overrides, and clear refusals of what would not measure. */
import { describe, expect, it } from 'vitest';
import { scaleOptions } from '../../../bench/scenarios/scale.js';
import { rewriteIds } from '../../../bench/scenarios/scale-fill.js';

describe('scale scenario options', () => {
  it('defaults to 100,000 runs against 100, and takes --runs and the rest as positive integers', () => {
    expect(scaleOptions({})).toEqual({
      runs: 100_000,
      small: 100,
      signals: 100,
      noop3: 100,
      idleSeconds: 10,
      historyCommits: 20_000,
      busySignals: 1_000,
    });
    expect(scaleOptions({ runs: '20000', 'idle-s': '5', 'history-commits': '5000' })).toMatchObject({
      runs: 20_000,
      idleSeconds: 5,
      historyCommits: 5000,
    });
  });

  it('refuses unknown flags, non-integers, and sizes that would not compare', () => {
    expect(() => scaleOptions({ rnus: '10' })).toThrow(/unknown flag --rnus; known: --runs/);
    expect(() => scaleOptions({ runs: true })).toThrow(/--runs must be a positive integer, got true/);
    expect(() => scaleOptions({ runs: '1.5' })).toThrow(/--runs must be a positive integer, got 1.5/);
    expect(() => scaleOptions({ signals: '0' })).toThrow(/--signals must be a positive integer, got 0/);
    expect(() => scaleOptions({ runs: '50' })).toThrow(/--runs \(50\) must be at least --small \(100\)/);
    expect(() => scaleOptions({ signals: '200' })).toThrow(/--signals \(200\) must be at most --small \(100\)/);
    expect(() => scaleOptions({ 'history-commits': '100' })).toThrow(/--history-commits must be at least 3000/);
  });
});

describe('scale scenario clones', () => {
  it("replaces the template's runId and workflowId in every string, leaving the rest as it was", () => {
    const from = { runId: 'r-1', workflowId: 'w-1' };
    const to = { runId: 'r-1-c7', workflowId: 'scale-7' };
    const commit = {
      runId: 'r-1',
      seq: 1,
      events: [{ type: 'RunStarted', runId: 'r-1', workflowId: 'w-1', input: null, at: 5 }],
      commands: [{ kind: 'scheduleTimer', timerSeq: 1, fireAt: 9, note: 'timer of r-1 for w-1' }],
    };
    expect(rewriteIds(commit, from, to)).toEqual({
      runId: 'r-1-c7',
      seq: 1,
      events: [{ type: 'RunStarted', runId: 'r-1-c7', workflowId: 'scale-7', input: null, at: 5 }],
      commands: [{ kind: 'scheduleTimer', timerSeq: 1, fireAt: 9, note: 'timer of r-1-c7 for scale-7' }],
    });
  });
});
