/**
 * Run timeouts (Temporal's names): `runTimeoutMs` bounds one run, `executionTimeoutMs` the whole
 * chain of runs a workflowId goes through by continue-as-new (its deadline travels to each next
 * run). Given on start, recorded in RunStarted, enforced by one durable engine timer due at the
 * earlier of the two; when it fires the run fails with a TimeoutError naming which one passed.
 * `retentionMs` rides along: how long the closed run's history is kept (the store's sweeper).
 * Pure, like the rest of the engine.
 */
import { InvalidInputError, TimeoutError } from '../errors.js';
import type { Millis } from '../history/events.js';
import type { ActionTarget } from './action-target.js';
import type { Command, RunState } from './types.js';

/** The timing options of a start, as clients give them and the start message carries them. */
export interface RunTimingOptions {
  /** Longest one run may stay open; every continue-as-new run gets the same. @default none */
  runTimeoutMs?: number;
  /** Longest the workflowId's chain of runs (across continue-as-new) may stay open. @default none */
  executionTimeoutMs?: number;
  /** How long the run's history is kept once it closed. @default the router's `retentionMs` */
  retentionMs?: number;
}

/** Which deadline a run timeout timer stands for. */
export type RunTimeoutType = 'run' | 'execution';

/** The `sendId` recorded on a run timeout's TimerScheduled. */
export const RUN_TIMEOUT_SEND_ID = 'squall.run.timeout';

/** Largest timeout or retention accepted: 100 years, so a deadline stays a safe millisecond time. */
const MAX_MS = 100 * 365 * 24 * 3600 * 1000;

/**
 * Throws InvalidInputError naming the field when a timing option is not a positive integer of
 * milliseconds; returns the options that are set. `where` names the caller (`start`, `client.start`).
 */
export function validateRunTiming(o: Record<string, unknown>, where: string): RunTimingOptions {
  const out: RunTimingOptions = {};
  for (const k of ['runTimeoutMs', 'executionTimeoutMs', 'retentionMs'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_MS) {
      throw new InvalidInputError(
        `${where}.${k} must be a whole number of milliseconds from 1 to ${MAX_MS}, got ${JSON.stringify(v)}`,
      );
    }
    out[k] = v;
  }
  return out;
}

/** What a run records of its timing at start (RunStarted, RunState): the chain's deadline is absolute. */
export interface RunTiming {
  runTimeoutMs?: number;
  executionDeadline?: Millis;
  retentionMs?: number;
}

/**
 * The timing a run starts with: `executionTimeoutMs` becomes a deadline counted from `at`, unless
 * the run continues a chain that already has one (`executionDeadline`).
 */
export function startTiming(
  at: Millis,
  given: RunTimingOptions & { executionDeadline?: Millis | undefined },
): RunTiming {
  const t: RunTiming = {};
  if (given.runTimeoutMs !== undefined) t.runTimeoutMs = given.runTimeoutMs;
  const deadline =
    given.executionDeadline ?? (given.executionTimeoutMs === undefined ? undefined : at + given.executionTimeoutMs);
  if (deadline !== undefined) t.executionDeadline = deadline;
  if (given.retentionMs !== undefined) t.retentionMs = given.retentionMs;
  return t;
}

/** Arms the run's timeout timer, due at the earlier of its deadlines; nothing when it has none. */
export function armRunTimeout(t: ActionTarget): void {
  const { state } = t;
  const runDue = state.runTimeoutMs === undefined ? undefined : state.startedAt + state.runTimeoutMs;
  const execDue = state.executionDeadline;
  if (runDue === undefined && execDue === undefined) return;
  const timeoutType: RunTimeoutType =
    execDue !== undefined && (runDue === undefined || execDue < runDue) ? 'execution' : 'run';
  const fireAt = (timeoutType === 'execution' ? execDue : runDue) as Millis;
  const timerSeq = state.nextSeq++;
  state.runTimeout = { timerSeq, fireAt, timeoutType };
  t.events.push({
    type: 'TimerScheduled',
    at: t.at,
    timerSeq,
    sendId: RUN_TIMEOUT_SEND_ID,
    delayMs: Math.max(0, fireAt - t.at),
    fireAt,
  });
  t.commands.push({ kind: 'scheduleTimer', timerSeq, fireAt });
}

/** Cancels the run's timeout timer (the run closes otherwise). */
export function disarmRunTimeout(t: ActionTarget): void {
  const timer = t.state.runTimeout;
  if (!timer) return;
  delete t.state.runTimeout;
  t.events.push({ type: 'TimerCancelled', at: t.at, timerSeq: timer.timerSeq });
  t.commands.push({ kind: 'cancelTimer', timerSeq: timer.timerSeq });
}

/**
 * When `timerSeq` is the run's timeout timer: consumes it and returns the error the run fails
 * with (TIMEOUT, not retryable, `details.timeoutType`). Undefined for any other timer.
 */
export function runTimeoutFired(state: RunState, timerSeq: number): TimeoutError | undefined {
  const timer = state.runTimeout;
  if (!timer || timer.timerSeq !== timerSeq) return undefined;
  delete state.runTimeout;
  const what =
    timer.timeoutType === 'run'
      ? `its run timeout (${state.runTimeoutMs} ms from its start)`
      : 'its execution timeout (counted across continue-as-new from the first run)';
  const err = new TimeoutError(`run ${state.workflowId} timed out: ${what} passed`, {
    retryable: false,
    details: { timeoutType: timer.timeoutType, deadline: timer.fireAt },
  });
  delete err.stack; // made here, not thrown: a stack would only point at the engine
  return err;
}

/** The timing a continue-as-new hands to the next run: the same run timeout, deadline and retention. */
export function continuedTiming(state: RunState): Pick<Extract<Command, { kind: 'continueAsNew' }>, keyof RunTiming> {
  const out: RunTiming = {};
  if (state.runTimeoutMs !== undefined) out.runTimeoutMs = state.runTimeoutMs;
  if (state.executionDeadline !== undefined) out.executionDeadline = state.executionDeadline;
  if (state.retentionMs !== undefined) out.retentionMs = state.retentionMs;
  return out;
}
