/**
 * Shared by the activity-semantics e2e tests: services over the activities fixtures, a scratch
 * dir where the activities write what they did, and readers for histories and those notes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SquallClient } from '../../shared/client/index.js';
import type { HistoryEvent } from '../../shared/history/events.js';
import { trackForFile } from '../harness/resources.js';

/** Repo-relative modules of the activity fixtures. */
export const ACTIVITY_FIXTURES = {
  workflows: 'tests/fixtures/activities/workflows.ts',
  activities: 'tests/fixtures/activities/activities.ts',
} as const;

/**
 * A fresh dir the activities write their notes to; set in the env the services inherit, and
 * removed after the test file.
 */
export function activityNotesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'squall-activity-notes-'));
  process.env.SQUALL_TEST_ACTIVITY_DIR = dir;
  trackForFile(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One line an activity wrote. */
export interface Note {
  kind: 'start' | 'aborted' | 'end';
  activity: string;
  attempt: number;
  at: number;
  pid: number;
  lastHeartbeat?: unknown;
}

/** The notes activities wrote for `workflowId`, oldest first. */
export function notesOf(dir: string, workflowId: string): Note[] {
  let text = '';
  try {
    text = readFileSync(join(dir, `${workflowId}.jsonl`), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Note);
}

/** Every event of a run's history, following pages. */
export async function eventsOf(client: SquallClient, workflowId: string): Promise<HistoryEvent[]> {
  const out: HistoryEvent[] = [];
  let fromSeq: number | undefined = 1;
  while (fromSeq !== undefined) {
    const page = await client.history(workflowId, { fromSeq });
    for (const c of page.commits) out.push(...c.events);
    fromSeq = page.nextSeq;
  }
  return out;
}

/** Events of one type. */
export function ofType<T extends HistoryEvent['type']>(
  events: HistoryEvent[],
  type: T,
): Extract<HistoryEvent, { type: T }>[] {
  return events.filter((e): e is Extract<HistoryEvent, { type: T }> => e.type === type);
}
