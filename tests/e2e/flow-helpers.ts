/**
 * Shared by the flow-control e2e tests: the fixtures, a scratch dir the activities note their
 * starts and ends in, and the measures taken from those notes (most running at once, start rate).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackForFile } from '../harness/resources.js';

/** Repo-relative modules of the flow fixtures. */
export const FLOW_FIXTURES = {
  workflows: 'tests/fixtures/flow/workflows.ts',
  activities: 'tests/fixtures/flow/activities.ts',
} as const;

/** One line a flow activity wrote. */
export interface FlowNote {
  kind: 'start' | 'end';
  key: string;
  workflowId: string;
  at: number;
  pid: number;
}

/** A fresh notes dir, set in the env the services inherit; removed after the test file. */
export function flowNotesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'squall-flow-notes-'));
  process.env.SQUALL_TEST_FLOW_DIR = dir;
  trackForFile(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The notes of one activity, in the order written. */
export function flowNotes(dir: string, activity: string): FlowNote[] {
  let text = '';
  try {
    text = readFileSync(join(dir, `${activity}.jsonl`), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as FlowNote);
}

/**
 * Most activities of `key` running at once, from their start and end times (an end at the same
 * millisecond as a start counts first: the slot was freed before it was taken).
 */
export function maxRunningAtOnce(notes: FlowNote[], key: string): number {
  const points = notes
    .filter((n) => n.key === key)
    .map((n) => ({ at: n.at, delta: n.kind === 'start' ? 1 : -1 }))
    .sort((a, b) => a.at - b.at || a.delta - b.delta);
  let now = 0;
  let max = 0;
  for (const p of points) {
    now += p.delta;
    max = Math.max(max, now);
  }
  return max;
}

/** Starts per second over the span from the first start to the last. */
export function observedStartRate(notes: FlowNote[]): number {
  const starts = notes.filter((n) => n.kind === 'start').map((n) => n.at);
  const span = Math.max(...starts) - Math.min(...starts);
  return ((starts.length - 1) * 1000) / span;
}
