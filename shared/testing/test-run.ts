/**
 * An in-memory run for workflow authors' tests: every input goes through the real decide(), with
 * stubbed activities and a virtual clock. No NATS, no MongoDB, no real time.
 */

import { attemptFailure, nonRetryable } from '../engine/activity.js';
import { activityTimerId, reportsStart } from '../engine/attempts.js';
import { decide } from '../engine/decide.js';
import type { WorkflowDefinition } from '../engine/definition.js';
import { replayCommits } from '../engine/replay.js';
import { runTags } from '../engine/run-tags.js';
import type {
  Command,
  Decision,
  DecisionInput,
  PendingActivity,
  PendingChild,
  PendingTimer,
  RunState,
} from '../engine/types.js';
import type { ErrorInfo } from '../errors.js';
import type { Commit, Millis, RunStatus, SearchAttributes, SignalEvent } from '../history/events.js';

/**
 * What an activity returns in a test: a value; an Error, which fails the activity for good (as
 * `nonRetryable`); or a function of the input, the attempt number (from 1) and the last heartbeat
 * details, called per attempt (it may be async; throwing or returning an Error fails that attempt,
 * which is retried under the activity's policy, on virtual time).
 */
export type ActivityStub = unknown;

/** Options of createTestRun. */
export interface TestRunOptions {
  /** Stubs by activity name. An activity without a stub stays pending until complete()/fail(). @default {} */
  activities?: Record<string, ActivityStub>;
  /** The run's input. */
  input?: unknown;
  /** @default 'test-workflow' */
  workflowId?: string;
  /** @default `${workflowId}-run-1` */
  runId?: string;
  /** Virtual time of the start. @default 0 */
  start?: Millis;
  /** Deliver stubbed activity results after every input (in schedule order). @default true */
  autoRun?: boolean;
  /**
   * Stubs of child workflows by workflow type, like activity stubs: a value is the child's
   * output, an Error (or a function that throws or returns one) fails it. A child without a stub
   * stays open until completeChild()/failChild(). @default {}
   */
  children?: Record<string, ActivityStub>;
  /** Signal-with-start: an event delivered in the start's own decision. */
  signal?: SignalEvent;
  /** Memo of the run (see StartOptions.memo). */
  memo?: Record<string, unknown>;
  /** Search attributes at start (see StartOptions.searchAttributes). */
  searchAttributes?: SearchAttributes;
}

/** A run driven by a test. Every method folds inputs through decide() and records the commits. */
export interface TestRun {
  readonly definition: WorkflowDefinition;
  /** Every commit so far, as the router would have stored them. */
  readonly history: readonly Commit[];
  readonly state: RunState;
  readonly status: RunStatus;
  /** The machine's output once completed. */
  readonly output: unknown;
  /** The failure once failed. */
  readonly error: ErrorInfo | undefined;
  /** Current state value (`'waiting'`, `{ fulfilling: { ... } }`). */
  readonly value: unknown;
  readonly context: unknown;
  /** Sorted tags of the active state nodes; once closed, those of the state the run ended in (as XState keeps them). */
  readonly tags: string[];
  /** Virtual time now. */
  readonly now: Millis;
  /** Every command decisions produced, in order. */
  readonly commands: readonly Command[];
  /** Events the machine emitted (`emit`), in order. */
  readonly emitted: readonly SignalEvent[];
  /** Activities scheduled and not yet finished, in schedule order (also those waiting for a retry). */
  pendingActivities(): PendingActivity[];
  /** Live timers, earliest first: the machine's, and activity retry and timeout timers. */
  pendingTimers(): PendingTimer[];
  /** Sends a signal now. */
  signal(event: SignalEvent): Promise<Decision>;
  /** Asks the run to cancel now. */
  cancel(reason?: string): Promise<Decision>;
  /** Terminates the run now (its machine is not consulted). */
  terminate(reason?: string): Promise<Decision>;
  /** Open child runs, oldest first. */
  pendingChildren(): PendingChild[];
  /** Completes an open child, named by workflow type (oldest open) or childSeq. */
  completeChild(child: string | number, output?: unknown): Promise<Decision>;
  /** Fails an open child (as a failed child run would), named by workflow type or childSeq. */
  failChild(child: string | number, error: unknown): Promise<Decision>;
  /** Completes a pending activity, named by activity name (oldest pending) or activitySeq. */
  complete(activity: string | number, output?: unknown): Promise<Decision>;
  /**
   * Fails the current attempt of a pending activity, named by activity name (oldest pending) or
   * activitySeq; its policy decides whether it is retried (`nonRetryable(err)` never is).
   */
  fail(activity: string | number, error: unknown): Promise<Decision>;
  /** Reports a heartbeat of the current attempt, with details for the next attempt. */
  heartbeat(activity: string | number, details?: unknown): Promise<Decision>;
  /** Delivers every stubbed activity result, in schedule order, until none is left. */
  runUntilIdle(): Promise<void>;
  /** Moves the clock to `ms`, firing every timer due on the way (in order). */
  advanceTo(ms: Millis): Promise<void>;
  /** Moves the clock forward by `ms`. */
  advanceBy(ms: number): Promise<void>;
  /** Jumps to the next live timer and fires it; false when there is none. */
  skipToNextTimer(): Promise<boolean>;
  /** Runs activities and timers until the run closes or nothing is left to do. */
  runToEnd(): Promise<void>;
  /** Folds any input (at defaults to now), for tests that need exact control. */
  apply(input: DecisionInput): Decision;
  /** Replays this run's history under its definition; throws NondeterminismError on divergence. */
  replay(): RunState;
}

const MAX_STEPS = 10_000;

/** Starts a run of `definition` in memory and (by default) runs its stubbed activities. */
export async function createTestRun(definition: WorkflowDefinition, opts: TestRunOptions = {}): Promise<TestRun> {
  const stubs = opts.activities ?? {};
  const childStubs = opts.children ?? {};
  const autoRun = opts.autoRun ?? true;
  const workflowId = opts.workflowId ?? 'test-workflow';
  const runId = opts.runId ?? `${workflowId}-run-1`;
  const history: Commit[] = [];
  const commands: Command[] = [];
  const emitted: SignalEvent[] = [];
  let now = opts.start ?? 0;
  let state: RunState | undefined;

  const apply = (input: DecisionInput): Decision => {
    const decision = decide(definition, state, input);
    if (decision.events.length > 0) {
      history.push({ runId, workflowId, seq: decision.state.lastSeq, events: decision.events });
    }
    for (const c of decision.commands) {
      commands.push(c);
      if (c.kind === 'emit') emitted.push(c.event);
    }
    state = decision.state;
    return decision;
  };
  const current = (): RunState => state as RunState;
  const settle = async <T>(value: T): Promise<T> => {
    if (autoRun) await run.runUntilIdle();
    return value;
  };
  const running = (): PendingActivity[] => run.pendingActivities().filter((a) => !a.timers?.retry);
  const findActivity = (which: string | number): PendingActivity => {
    const found = running().find((a) => (typeof which === 'number' ? a.activitySeq : a.activity) === which);
    if (!found) {
      const pending = run
        .pendingActivities()
        .map((a) => `${a.activity}#${a.activitySeq}${a.timers?.retry ? ' (waiting to retry)' : ''}`);
      throw new Error(`no pending activity ${String(which)} (pending: ${pending.join(', ') || 'none'})`);
    }
    return found;
  };
  /** Reports the attempt's start first when its policy has a start-bound timeout, as an executor would. */
  const started = (a: PendingActivity): void => {
    if (a.policy && reportsStart(a.policy) && a.startedAt === undefined) {
      apply({ kind: 'activityStarted', at: now, activitySeq: a.activitySeq, attempt: a.attempt ?? 1 });
    }
  };
  const deliver = (
    a: PendingActivity,
    result: { output: unknown } | { error: ErrorInfo; retryAfterMs?: number },
  ): Decision => {
    started(a);
    const attempt = a.attempt ?? 1;
    if (!('error' in result)) {
      return apply({ kind: 'activityCompleted', at: now, activitySeq: a.activitySeq, output: result.output, attempt });
    }
    const input: DecisionInput = {
      kind: 'activityFailed',
      at: now,
      activitySeq: a.activitySeq,
      error: result.error,
      attempt,
    };
    if (result.retryAfterMs !== undefined) input.retryAfterMs = result.retryAfterMs;
    return apply(input);
  };
  const findChild = (which: string | number): PendingChild => {
    const found = run
      .pendingChildren()
      .find((c) => (typeof which === 'number' ? c.childSeq : c.workflowType) === which);
    if (!found) {
      const open = run.pendingChildren().map((c) => `${c.workflowType}#${c.childSeq}`);
      throw new Error(`no open child ${String(which)} (open: ${open.join(', ') || 'none'})`);
    }
    return found;
  };
  const childInput = (c: PendingChild): unknown => {
    for (const commit of history) {
      for (const e of commit.events) if (e.type === 'ChildStarted' && e.childSeq === c.childSeq) return e.input;
    }
    return undefined;
  };
  const deliverChild = (c: PendingChild, result: { output: unknown } | { error: ErrorInfo }): Decision =>
    apply(
      'error' in result
        ? { kind: 'childFailed', at: now, childSeq: c.childSeq, error: result.error }
        : { kind: 'childCompleted', at: now, childSeq: c.childSeq, output: result.output },
    );
  const fireNext = (limit: Millis): boolean => {
    const next = run.pendingTimers()[0];
    if (!next || next.fireAt > limit || current().status !== 'running') return false;
    now = Math.max(now, next.fireAt);
    apply({ kind: 'timerFired', at: now, timerSeq: next.timerSeq });
    return true;
  };

  const run: TestRun = {
    definition,
    history,
    commands,
    emitted,
    get state() {
      return current();
    },
    get status() {
      return current().status;
    },
    get output() {
      return current().output;
    },
    get error() {
      return current().error;
    },
    get value() {
      return (current().snapshot as { value?: unknown } | undefined)?.value;
    },
    get context() {
      return (current().snapshot as { context?: unknown } | undefined)?.context;
    },
    get tags() {
      return runTags(definition, current());
    },
    get now() {
      return now;
    },
    pendingActivities: () => Object.values(current().activities).sort((a, b) => a.activitySeq - b.activitySeq),
    pendingTimers: () => {
      const engine: PendingTimer[] = Object.values(current().activities).flatMap((a) =>
        Object.entries(a.timers ?? {}).map(([purpose, t]) => ({
          timerSeq: t.timerSeq,
          fireAt: t.fireAt,
          sendId: activityTimerId(a.activitySeq, purpose as 'retry'),
        })),
      );
      const callbacks: PendingTimer[] = Object.values(current().callbacks ?? {}).flatMap((c) =>
        c.timerSeq === undefined || c.fireAt === undefined
          ? []
          : [{ timerSeq: c.timerSeq, fireAt: c.fireAt, sendId: `squall.callback.${c.callbackSeq}.timeout` }],
      );
      return [...Object.values(current().timers), ...engine, ...callbacks].sort(
        (a, b) => a.fireAt - b.fireAt || a.timerSeq - b.timerSeq,
      );
    },
    signal: (event) => settle(apply({ kind: 'signal', at: now, event })),
    cancel: (reason) =>
      settle(apply(reason === undefined ? { kind: 'cancel', at: now } : { kind: 'cancel', at: now, reason })),
    terminate: (reason) =>
      settle(apply(reason === undefined ? { kind: 'terminate', at: now } : { kind: 'terminate', at: now, reason })),
    pendingChildren: () => Object.values(current().children).sort((a, b) => a.childSeq - b.childSeq),
    completeChild: async (which, output) => settle(deliverChild(findChild(which), { output })),
    failChild: async (which, error) => settle(deliverChild(findChild(which), attemptFailure(error))),
    complete: async (which, output) => {
      const a = findActivity(which);
      return settle(deliver(a, { output }));
    },
    fail: async (which, error) => {
      const a = findActivity(which);
      return settle(deliver(a, attemptFailure(error)));
    },
    heartbeat: async (which, details) => {
      const a = findActivity(which);
      const input: DecisionInput = {
        kind: 'activityHeartbeat',
        at: now,
        activitySeq: a.activitySeq,
        attempt: a.attempt ?? 1,
      };
      if (details !== undefined) input.details = details;
      return settle(apply(input));
    },
    async runUntilIdle() {
      for (let steps = 0; current().status === 'running'; steps++) {
        if (steps >= MAX_STEPS) throw new Error(`test run still scheduling activities after ${MAX_STEPS} results`);
        const next = running().find((a) => Object.hasOwn(stubs, a.activity));
        if (next) {
          deliver(next, await callStub(stubs[next.activity], next.input, next.attempt ?? 1, next.heartbeat));
          continue;
        }
        const child = run.pendingChildren().find((c) => Object.hasOwn(childStubs, c.workflowType));
        if (child) {
          const result = await callStub(childStubs[child.workflowType], childInput(child), 1, undefined);
          deliverChild(child, 'error' in result ? { error: result.error } : result);
          continue;
        }
        // A stubbed activity waiting for its retry: run the attempt once nothing else is due before it.
        const timer = run.pendingTimers()[0];
        const retrying = run
          .pendingActivities()
          .find((a) => a.timers?.retry?.timerSeq === timer?.timerSeq && Object.hasOwn(stubs, a.activity));
        if (!timer || !retrying) return;
        fireNext(timer.fireAt);
      }
    },
    async advanceTo(ms) {
      if (!Number.isFinite(ms) || ms < now) throw new Error(`cannot move the clock from ${now} back to ${ms}`);
      for (let steps = 0; fireNext(ms); steps++) {
        if (steps >= MAX_STEPS) throw new Error(`more than ${MAX_STEPS} timers fired before ${ms}`);
        if (autoRun) await run.runUntilIdle();
      }
      now = ms;
    },
    advanceBy: (ms) => run.advanceTo(now + ms),
    async skipToNextTimer() {
      if (!fireNext(Number.POSITIVE_INFINITY)) return false;
      if (autoRun) await run.runUntilIdle();
      return true;
    },
    async runToEnd() {
      await run.runUntilIdle();
      for (let steps = 0; current().status === 'running'; steps++) {
        if (steps >= MAX_STEPS) throw new Error(`test run still running after ${MAX_STEPS} timers`);
        if (!(await run.skipToNextTimer())) return;
      }
    },
    apply,
    replay: () => replayCommits(definition, history),
  };

  const startInput: DecisionInput = { kind: 'start', at: now, workflowId, runId };
  if (opts.input !== undefined) startInput.input = opts.input;
  if (opts.signal !== undefined) startInput.signal = opts.signal;
  if (opts.memo !== undefined) startInput.memo = opts.memo;
  if (opts.searchAttributes !== undefined) startInput.searchAttributes = opts.searchAttributes;
  apply(startInput);
  return settle(run);
}

/**
 * Replays recorded commits (e.g. a fixture file's `commits`) under `definition`, as CI should for
 * every stored history. Returns the rebuilt state; throws NondeterminismError on divergence.
 */
export function replayHistory(
  definition: WorkflowDefinition,
  history: readonly Commit[] | { commits: Commit[] },
): RunState {
  return replayCommits(definition, 'commits' in history ? history.commits : history);
}

async function callStub(
  stub: ActivityStub,
  input: unknown,
  attempt: number,
  lastHeartbeat: unknown,
): Promise<{ output: unknown } | { error: ErrorInfo; retryAfterMs?: number }> {
  if (stub instanceof Error) return attemptFailure(nonRetryable(stub));
  try {
    const value =
      typeof stub === 'function'
        ? await (stub as (i: unknown, a: number, h: unknown) => unknown)(input, attempt, lastHeartbeat)
        : stub;
    if (value instanceof Error) return attemptFailure(value);
    return { output: value };
  } catch (err) {
    return attemptFailure(err);
  }
}
