/**
 * Fills a namespace for the `scale` scenario with runs cloned from one real run. The template is
 * a `hold` run started through the engine (a RunStarted commit, a summary, a pending timer a day
 * out); each clone is that run with its runId and workflowId replaced, written through the
 * store's own API in batches (appendCommits; saveRuns; claimWorkflowId; scheduleTimers). Cloning keeps every document byte-for-byte what the
 * engine writes, at bulk speed: running 100,000 real workflows would take this machine ~20 min.
 */
import type { Collection } from 'mongodb';
import { setup } from 'xstate';
import { forEachLimited } from '../../shared/concurrency.js';
import { defineWorkflow } from '../../shared/engine/index.js';
import type { RunState } from '../../shared/engine/types.js';
import { type CommitDoc, toCommitDoc } from '../../shared/store/documents.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';

/** Waits for a `poke` signal (then done) or a day (then expired): an open run with a pending timer. */
export const hold = defineWorkflow({
  name: 'hold',
  version: 1,
  machine: setup({}).createMachine({
    id: 'hold',
    initial: 'waiting',
    states: {
      waiting: { after: { 86400000: 'expired' }, on: { poke: 'done' } },
      done: { type: 'final' },
      expired: { type: 'final' },
    },
  }),
});

/** What a clone is made of: the template run's history, summary and timers. */
export interface Template {
  runId: string;
  workflowId: string;
  commits: StoredCommit[];
  state: RunState;
  timers: { timerSeq: number; fireAt: number }[];
}

/** One cloned run's ids. */
export interface Clone {
  runId: string;
  workflowId: string;
}

const BATCH = 1000;
const CLAIM_CONCURRENCY = 16;

/** Reads what the engine stored for a template run once its summary is there. */
export async function readTemplate(store: Store, runId: string, workflowId: string): Promise<Template | undefined> {
  const run = await store.getRun(runId);
  if (run?.status !== 'running') return undefined;
  const commits: StoredCommit[] = [];
  for await (const c of store.loadHistory(runId)) commits.push(c);
  const timers = commits.flatMap((c) =>
    c.commands.flatMap((cmd) => (cmd.kind === 'scheduleTimer' ? [{ timerSeq: cmd.timerSeq, fireAt: cmd.fireAt }] : [])),
  );
  return { runId, workflowId, commits, state: run.state, timers };
}

/** `value` with every occurrence of the template's ids in its strings replaced by the clone's. */
export function rewriteIds<T>(value: T, from: Clone, to: Clone): T {
  const swap = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replaceAll(from.runId, to.runId).replaceAll(from.workflowId, to.workflowId);
    if (Array.isArray(v)) return v.map(swap);
    if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, swap(x)]));
    }
    return v;
  };
  return swap(value) as T;
}

/**
 * Writes `clones` of the template, BATCH runs at a time; resolves with the seconds it took.
 * `summary` reshapes clone `i`'s summary (start time, status, search attributes, …) before it is
 * written: a list over the clones then has something to sort and filter (its history stays the
 * template's).
 */
export async function fillClones(
  store: Store,
  t: Template,
  clones: readonly Clone[],
  summary: (state: RunState, i: number) => RunState = (state) => state,
): Promise<number> {
  const t0 = performance.now();
  // As a store filled by routers: the versions registry holds the template's version, and the
  // once-only read of a pre-registry store's open runs was made while it was empty.
  await store.openRunVersions();
  await store.registerVersions([{ workflowType: t.state.workflowType, version: t.state.version }]);
  for (let i = 0; i < clones.length; i += BATCH) {
    const batch = clones.slice(i, i + BATCH);
    const commits = batch.flatMap((c) => rewriteIds(t.commits, t, c));
    await store.appendCommits(commits);
    await store.saveRuns(batch.map((c, j) => summary(rewriteIds(t.state, t, c), i + j)));
    await forEachLimited(batch, CLAIM_CONCURRENCY, async (c) => {
      await store.claimWorkflowId(c.workflowId, c.runId, 'returnExisting');
    });
    await store.scheduleTimers(
      batch.flatMap((c) => t.timers.map((tm) => ({ runId: c.runId, workflowId: c.workflowId, ...tm }))),
    );
  }
  return (performance.now() - t0) / 1000;
}

/**
 * Writes one run of `n` commits: the template's first commit, then a signal per commit. Closed
 * unless `open` (then it waits as the template does, and takes signals like any open run, its
 * summary up to date with its history). With `unpaged`, its commits are inserted straight into
 * that collection without their page key, as written before page keys existed (history then reads
 * them by one range query: the cost this scenario compares against).
 */
export async function fillLongRun(
  store: Store,
  t: Template,
  c: Clone,
  n: number,
  opts: { unpaged?: Collection<CommitDoc>; open?: boolean } = {},
): Promise<void> {
  const { unpaged } = opts;
  const [first] = rewriteIds(t.commits, t, c);
  if (!first) throw new Error('the template run has no commit');
  for (let from = 1; from <= n; from += BATCH) {
    const commits: StoredCommit[] = [];
    for (let seq = from; seq < from + BATCH && seq <= n; seq++) {
      const at = first.at + seq;
      commits.push(
        seq === 1
          ? first
          : { ...c, seq, at, events: [{ type: 'SignalReceived', at, signal: { type: 'tick', n: seq } }], commands: [] },
      );
    }
    if (unpaged) {
      await unpaged.insertMany(commits.map(withoutPageKey));
    } else {
      await store.appendCommits(commits);
    }
  }
  const state = rewriteIds(t.state, t, c);
  await store.saveRun(
    opts.open
      ? { ...state, lastSeq: n, nextSeq: n + 1 }
      : { ...state, status: 'completed', lastSeq: n, nextSeq: n + 1, closedAt: first.at + n },
  );
  await store.claimWorkflowId(c.workflowId, c.runId, 'returnExisting');
}

function withoutPageKey(c: StoredCommit): CommitDoc {
  const { runPage: _, ...doc } = toCommitDoc(c, Number.POSITIVE_INFINITY);
  return doc;
}
