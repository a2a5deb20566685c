/**
 * The storage contract of schedules. A schedule's spec (written by users, through create and
 * update) and its state (written by timer services as ticks pass) are two documents, so neither
 * kind of writer can undo the other's write on a server whose updates rewrite whole documents.
 */
import type { ScheduleSpec } from './spec.js';

/** A run a schedule started (or a tick it passed over), newest last in ScheduleState.recent. */
export interface ScheduleRunRef {
  tick: number;
  action: 'started' | 'skipped' | 'buffered' | 'triggered' | 'backfilled';
  workflowId?: string;
  at: number;
}

/** What timer services keep of a schedule's progress. */
export interface ScheduleState {
  /** Nominal time of the newest tick handled (started, skipped, buffered or missed). */
  lastTick?: number;
  /** The newest run the schedule started, and when. */
  lastWorkflowId?: string;
  lastStartedAt?: number;
  /** bufferOne: the tick waiting for the open run to close. */
  buffered?: number;
  /** The last ScheduleState.RECENT ticks acted on. */
  recent: ScheduleRunRef[];
  /** Ticks older than the catch-up window when they were looked at. */
  missed: number;
  /** Ticks skipped by the overlap policy. */
  skipped: number;
}

/** A schedule as stored. */
export interface ScheduleRecord {
  id: string;
  spec: ScheduleSpec;
  createdAt: number;
  updatedAt: number;
  state: ScheduleState;
}

/** How many recent ticks a schedule's state keeps. */
export const RECENT_TICKS = 10;

/** An empty state: what a new schedule starts from. */
export function newScheduleState(): ScheduleState {
  return { recent: [], missed: 0, skipped: 0 };
}

/** Schedule operations of a Store. */
export interface ScheduleStore {
  /** Stores a new schedule; ConflictError (not retryable) when the id is taken. */
  create(id: string, spec: ScheduleSpec, now: number): Promise<void>;
  /** Replaces a schedule's spec (its state is kept); NotFoundError when there is none. */
  updateSpec(id: string, spec: ScheduleSpec, now: number): Promise<void>;
  get(id: string): Promise<ScheduleRecord | undefined>;
  /** One page, by id. */
  list(page?: { cursor?: string; limit?: number }): Promise<{ items: ScheduleRecord[]; nextCursor?: string }>;
  /** Deletes a schedule and its state; false when there was none. */
  delete(id: string): Promise<boolean>;
  /** Writes a schedule's state (timer services only). */
  saveState(id: string, state: ScheduleState): Promise<void>;
}
