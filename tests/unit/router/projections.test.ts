/**
 * Summary repairs run off the summary writer's path: a slow repair of one run (a busy run's
 * history reread) never holds back other runs' summaries, and asks for a run already being
 * repaired coalesce into one more repair. Over the memory store, with repairRun held on demand.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RunProjections } from '../../../services/router/projections.js';
import type { RunState } from '../../../shared/engine/types.js';
import { silentLogger } from '../../../shared/log.js';
import { createMemoryStore, type Store, type StoredCommit } from '../../../shared/store/index.js';

function state(runId: string, over: Partial<RunState> = {}): RunState {
  return {
    workflowId: `wf-${runId}`,
    runId,
    workflowType: 'steps',
    version: 1,
    status: 'running',
    snapshot: { status: 'active', value: 'first', context: {} },
    lastSeq: 2,
    nextSeq: 1,
    activities: {},
    timers: {},
    children: {},
    mailbox: [],
    startedAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...over,
  };
}

const commitOf = (s: RunState): StoredCommit => ({
  runId: s.runId,
  workflowId: s.workflowId,
  seq: s.lastSeq,
  at: s.updatedAt,
  events: [],
  commands: [],
});

/** A store that reports `busy` as maybe behind on each write of it, and holds its repairs until released. */
function slowRepairs() {
  const real = createMemoryStore();
  const repairs = { started: 0, release: () => {} };
  const gate = new Promise<void>((resolve) => {
    repairs.release = resolve;
  });
  const store: Store = {
    ...real,
    saveRuns: async (states) => {
      await real.saveRuns(states);
      return { maybeBehind: states.some((s) => s.runId === 'busy') ? ['busy'] : [] };
    },
    repairRun: async (runId, rebuild) => {
      repairs.started++;
      await gate;
      return real.repairRun(runId, rebuild);
    },
  };
  return { store, real, repairs };
}

describe('summary repairs', () => {
  it('run after the write, so other runs’ summaries land while one is slow', async () => {
    const { store, real, repairs } = slowRepairs();
    const projections = new RunProjections({
      store,
      log: silentLogger,
      definition: () => expect.fail('no replay needed: the runs have no history'),
      summaryDelayMs: 0,
    });
    const busy = state('busy', { status: 'completed', lastSeq: 3 });
    await projections.record(commitOf(busy), busy);
    expect(repairs.started).toBe(1); // started after the write, and held
    const other = state('other', { status: 'completed', lastSeq: 3 });
    await projections.record(commitOf(other), other);
    expect(await real.getRun('other')).toMatchObject({ status: 'completed', lastSeq: 3 });
    expect(repairs.started).toBe(1); // still held
    repairs.release();
    await projections.idle();
  });

  it('coalesce: asks while a run is being repaired make one more repair, not one each', async () => {
    const { store, repairs } = slowRepairs();
    const projections = new RunProjections({ store, log: silentLogger, definition: () => expect.fail('no replay') });
    projections.healSummaries({ maybeBehind: ['busy'] });
    expect(repairs.started).toBe(1);
    for (let i = 0; i < 5; i++) projections.healSummaries({ maybeBehind: ['busy'] });
    repairs.release();
    await projections.idle();
    expect(repairs.started).toBe(2);
  });
});

describe('delayed summaries of open runs', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Projections over a memory store that records each summary it is asked to write. */
  function recording() {
    const real = createMemoryStore();
    const written: RunState[] = [];
    const store: Store = {
      ...real,
      saveRuns: async (states) => {
        written.push(...states);
        return real.saveRuns(states);
      },
    };
    const projections = new RunProjections({
      store,
      log: silentLogger,
      definition: () => expect.fail('no replay'),
      summaryDelayMs: 1000,
    });
    return { projections, written };
  }

  const pendingActivity: RunState['activities'] = {
    a: { activitySeq: 1, activity: 'step', invokeId: 'a', input: 1, attempt: 1, scheduledAt: 0 },
  };

  it('write a waiting run (no activity pending, no new state) after one delay', async () => {
    const { projections, written } = recording();
    const s = state('idle');
    await projections.record(commitOf(s), s);
    await vi.advanceTimersByTimeAsync(999);
    expect(written).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(written.map((w) => w.runId)).toEqual(['idle']);
  });

  it('wait up to 4 more delays for a busy run, then write its newest state', async () => {
    const { projections, written } = recording();
    const s = state('busy', { activities: pendingActivity });
    await projections.record(commitOf(s), s);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(written).toEqual([]);
    const later = state('busy', { activities: pendingActivity, lastSeq: 3 });
    await projections.record(commitOf(later), later);
    await vi.advanceTimersByTimeAsync(1);
    expect(written.map((w) => [w.runId, w.lastSeq])).toEqual([['busy', 3]]);
  });

  it('write only the closing summary of a busy run that closes within them', async () => {
    const { projections, written } = recording();
    const s = state('quick', { activities: pendingActivity });
    await projections.record(commitOf(s), s);
    await vi.advanceTimersByTimeAsync(2_500);
    const moved = state('quick', { lastSeq: 3 }); // a new state, no activity pending: moved
    await projections.record(commitOf(moved), moved);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(written).toEqual([]);
    const closed = state('quick', { status: 'completed', lastSeq: 4 });
    await projections.record(commitOf(closed), closed);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(written.map((w) => [w.runId, w.status])).toEqual([['quick', 'completed']]);
  });
});
