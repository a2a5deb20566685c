/**
 * The life of one scheduled activity under its policy: attempts, retries on durable engine
 * timers, the four timeouts, heartbeats and cancellation. Pure: every function writes events,
 * commands and state to a decision in progress, with `target.at` as the only clock. Runs recorded
 * before policies (no `policy` on the pending activity) keep their one-attempt semantics.
 */
import type { ErrorInfo } from '../errors.js';
import { DEFAULT_PRIORITY } from '../flow/priority.js';
import type {
  ActivityPolicy,
  ActivityTimeoutType,
  ActivityTimerPurpose,
  Millis,
  SignalEvent,
} from '../history/events.js';
import { type ActionTarget, actorResult } from './action-target.js';
import type { Command, PendingActivity } from './types.js';

/** Every engine timer purpose, in the order they are cancelled. */
const PURPOSES: readonly ActivityTimerPurpose[] = [
  'scheduleToStart',
  'startToClose',
  'heartbeat',
  'retry',
  'scheduleToClose',
];
/** Timers that belong to one attempt. */
const ATTEMPT_TIMERS: readonly ActivityTimerPurpose[] = ['scheduleToStart', 'startToClose', 'heartbeat'];

/** The `sendId` recorded on an engine timer of an activity. */
export function activityTimerId(activitySeq: number, purpose: ActivityTimerPurpose): string {
  return `squall.activity.${activitySeq}.${purpose}`;
}

/** Delay before attempt `failed + 1` under `policy` (no jitter: it must replay identically). */
export function retryDelay(policy: ActivityPolicy['retry'], failedAttempt: number): number {
  const raw = policy.initialIntervalMs * policy.backoffCoefficient ** Math.max(0, failedAttempt - 1);
  return Math.min(raw, policy.maximumIntervalMs);
}

/** True when `error` may be retried under `policy`: not flagged non-retryable, name and code not listed. */
export function isRetryableActivityError(policy: ActivityPolicy['retry'], error: ErrorInfo): boolean {
  if (error.retryable === false) return false;
  const listed = policy.nonRetryableErrorTypes;
  return !listed.includes(error.name) && !(error.code !== undefined && listed.includes(error.code));
}

/** Starts attempt `attempt` of `a`: publishes its task and arms its timeouts. */
export function dispatchAttempt(t: ActionTarget, a: PendingActivity, attempt: number): void {
  const policy = a.policy;
  if (policy) {
    a.attempt = attempt;
    a.attemptScheduledAt = t.at;
    delete a.startedAt;
    delete a.lastHeartbeatAt;
    if (attempt === 1 && policy.scheduleToCloseTimeoutMs !== undefined) {
      armTimer(t, a, 'scheduleToClose', a.scheduledAt + policy.scheduleToCloseTimeoutMs, attempt);
    }
    if (policy.inline) {
      // The router runs it as soon as this decision is folded: started now. Its startToClose
      // timer is elided when the step ends in the same chain, and runs it again otherwise.
      markStarted(t, a);
    } else if (policy.scheduleToStartTimeoutMs !== undefined) {
      armTimer(t, a, 'scheduleToStart', t.at + policy.scheduleToStartTimeoutMs, attempt);
    }
  }
  const cmd: Extract<Command, { kind: 'scheduleActivity' }> = {
    kind: 'scheduleActivity',
    activitySeq: a.activitySeq,
    activity: a.activity,
    invokeId: a.invokeId,
  };
  if (a.input !== undefined) cmd.input = a.input;
  if (policy) {
    cmd.attempt = attempt;
    if (policy.inline) cmd.inline = true;
    else if (reportsStart(policy)) cmd.reportStart = true;
    if (policy.atMostOnce) cmd.atMostOnce = true;
    if (policy.startToCloseTimeoutMs !== undefined) cmd.startToCloseTimeoutMs = policy.startToCloseTimeoutMs;
    if (policy.heartbeatTimeoutMs !== undefined) cmd.heartbeatTimeoutMs = policy.heartbeatTimeoutMs;
    if (a.heartbeat !== undefined) cmd.lastHeartbeat = a.heartbeat;
  }
  const priority = policy?.priority ?? t.state.priority;
  if (priority !== undefined && priority !== DEFAULT_PRIORITY) cmd.priority = priority;
  t.commands.push(cmd);
}

/**
 * True when the executor must report an attempt's start: a timeout counts from it, or ends at it,
 * or the attempt runs at most once (the recorded start is what stops a second run).
 */
export function reportsStart(p: ActivityPolicy): boolean {
  return (
    p.atMostOnce === true ||
    p.scheduleToStartTimeoutMs !== undefined ||
    p.startToCloseTimeoutMs !== undefined ||
    p.heartbeatTimeoutMs !== undefined
  );
}

/** Is `attempt` the one `a` is running now (not waiting for a retry)? Legacy activities have one attempt. */
export function isCurrentAttempt(a: PendingActivity, attempt: number | undefined): boolean {
  if (!a.policy) return true;
  if (a.timers?.retry) return false;
  return attempt === undefined || attempt === a.attempt;
}

/** An executor began the current attempt: its start-bound timeouts start counting. False when stale. */
export function attemptStarted(t: ActionTarget, a: PendingActivity, attempt: number): boolean {
  if (!a.policy || !isCurrentAttempt(a, attempt) || a.startedAt !== undefined) return false;
  markStarted(t, a);
  return true;
}

function markStarted(t: ActionTarget, a: PendingActivity): void {
  const policy = a.policy as ActivityPolicy;
  const attempt = a.attempt ?? 1;
  a.startedAt = t.at;
  a.lastHeartbeatAt = t.at;
  disarm(t, a, ['scheduleToStart']);
  if (policy.startToCloseTimeoutMs !== undefined) {
    armTimer(t, a, 'startToClose', t.at + policy.startToCloseTimeoutMs, attempt);
  }
  if (policy.heartbeatTimeoutMs !== undefined) armTimer(t, a, 'heartbeat', t.at + policy.heartbeatTimeoutMs, attempt);
}

/**
 * The current attempt heartbeated: its heartbeat timeout restarts (lazily: the armed timer re-arms
 * itself when it fires) and `details`, if any, become the checkpoint. False when stale.
 */
export function attemptHeartbeat(t: ActionTarget, a: PendingActivity, attempt: number, details: unknown): boolean {
  if (!a.policy || !isCurrentAttempt(a, attempt)) return false;
  if (details !== undefined) a.heartbeat = details;
  if (a.startedAt === undefined) markStarted(t, a);
  else a.lastHeartbeatAt = t.at;
  return true;
}

/**
 * The current attempt failed with `error`. Retries after the policy's (or the activity's
 * `retryAfterMs`) delay on a durable timer, or gives up: then the activity is consumed and the
 * returned event (`xstate.error.actor.<id>`, with `attempts`) is for the machine.
 */
export function attemptFailed(
  t: ActionTarget,
  a: PendingActivity,
  error: ErrorInfo,
  retryAfterMs?: number,
): SignalEvent | undefined {
  disarm(t, a, ATTEMPT_TIMERS);
  const policy = a.policy;
  const attempt = a.attempt ?? 1;
  if (!policy) return consume(t, a, { error });
  const retry = policy.retry;
  const exhausted = retry.maximumAttempts > 0 && attempt >= retry.maximumAttempts;
  const delayMs = retryAfterMs ?? retryDelay(retry, attempt);
  const deadline = a.timers?.scheduleToClose?.fireAt;
  const tooLate = deadline !== undefined && t.at + delayMs >= deadline;
  if (exhausted || tooLate || !isRetryableActivityError(retry, error)) {
    return consume(t, a, { error: { ...error, attempts: attempt } });
  }
  armTimer(t, a, 'retry', t.at + delayMs, attempt + 1);
  return undefined;
}

/** The activity succeeded: it is consumed, its timers cancelled; returns the machine's done event. */
export function activityCompleted(t: ActionTarget, a: PendingActivity, output: unknown): SignalEvent {
  return consume(t, a, { output });
}

/**
 * An engine timer of some activity fired. Returns undefined when `timerSeq` is none of them;
 * otherwise what the machine must receive (if anything) after the retry, timeout or re-arm.
 */
export function activityTimerFired(t: ActionTarget, timerSeq: number): { event?: SignalEvent } | undefined {
  for (const a of Object.values(t.state.activities)) {
    const purpose = PURPOSES.find((p) => a.timers?.[p]?.timerSeq === timerSeq);
    if (!purpose) continue;
    const timers = { ...a.timers };
    delete timers[purpose];
    a.timers = timers;
    const policy = a.policy as ActivityPolicy;
    const attempt = a.attempt ?? 1;
    switch (purpose) {
      case 'retry':
        dispatchAttempt(t, a, attempt + 1);
        return {};
      case 'heartbeat': {
        const due = (a.lastHeartbeatAt ?? t.at) + (policy.heartbeatTimeoutMs ?? 0);
        if (due > t.at) {
          armTimer(t, a, 'heartbeat', due, attempt);
          return {};
        }
        return { event: timedOut(t, a, 'heartbeat') };
      }
      default:
        return { event: timedOut(t, a, purpose) };
    }
  }
  return undefined;
}

function timedOut(t: ActionTarget, a: PendingActivity, type: ActivityTimeoutType): SignalEvent | undefined {
  const attempt = a.attempt ?? 1;
  const policy = a.policy as ActivityPolicy;
  const limit = policy[`${type}TimeoutMs`];
  const error: ErrorInfo = {
    name: 'TimeoutError',
    message: `activity ${a.activity} (seq ${a.activitySeq}) attempt ${attempt}: ${type} timeout of ${limit} ms`,
    code: 'TIMEOUT',
    retryable: type !== 'scheduleToClose',
    details:
      a.heartbeat === undefined
        ? { timeoutType: type, attempt }
        : { timeoutType: type, attempt, lastHeartbeat: a.heartbeat },
  };
  t.events.push({ type: 'ActivityTimedOut', at: t.at, activitySeq: a.activitySeq, attempt, timeoutType: type, error });
  const whole = type === 'scheduleToClose';
  // Tell the executor still running it (if any) to stop: the attempt's result no longer counts.
  t.commands.push(
    whole
      ? { kind: 'cancelActivity', activitySeq: a.activitySeq, activity: a.activity, reason: 'timedOut' }
      : { kind: 'cancelActivity', activitySeq: a.activitySeq, activity: a.activity, attempt, reason: 'timedOut' },
  );
  if (whole) return consume(t, a, { error: { ...error, attempts: attempt } });
  return attemptFailed(t, a, error);
}

/** The machine no longer wants `a` (it left the state, or the run closed): recorded, timers cancelled, executors told. */
export function cancelPendingActivity(t: ActionTarget, a: PendingActivity, reason: string): void {
  delete t.state.activities[a.invokeId];
  t.events.push({ type: 'ActivityCancelled', at: t.at, activitySeq: a.activitySeq });
  disarm(t, a, PURPOSES);
  t.commands.push({ kind: 'cancelActivity', activitySeq: a.activitySeq, activity: a.activity, reason });
}

function consume(t: ActionTarget, a: PendingActivity, result: { output: unknown } | { error: unknown }): SignalEvent {
  disarm(t, a, PURPOSES);
  delete t.state.activities[a.invokeId];
  return actorResult(a.invokeId, result);
}

function armTimer(t: ActionTarget, a: PendingActivity, purpose: ActivityTimerPurpose, fireAt: Millis, attempt: number) {
  const timerSeq = t.state.nextSeq++;
  a.timers = { ...a.timers, [purpose]: { timerSeq, fireAt } };
  t.events.push({
    type: 'TimerScheduled',
    at: t.at,
    timerSeq,
    sendId: activityTimerId(a.activitySeq, purpose),
    delayMs: Math.max(0, fireAt - t.at),
    fireAt,
    activitySeq: a.activitySeq,
    purpose,
    attempt,
  });
  t.commands.push({ kind: 'scheduleTimer', timerSeq, fireAt });
}

function disarm(t: ActionTarget, a: PendingActivity, purposes: readonly ActivityTimerPurpose[]): void {
  if (!a.timers) return;
  const timers = { ...a.timers };
  for (const p of purposes) {
    const timer = timers[p];
    if (!timer) continue;
    delete timers[p];
    t.events.push({ type: 'TimerCancelled', at: t.at, timerSeq: timer.timerSeq });
    t.commands.push({ kind: 'cancelTimer', timerSeq: timer.timerSeq });
  }
  if (Object.keys(timers).length === 0) delete a.timers;
  else a.timers = timers;
}

/**
 * Why a decision gave an activity up: its last allowed attempt failed, it timed out (scheduleToClose,
 * or an attempt's timeout with no retry left in time), or the error may not be retried (or its
 * retry would come after the scheduleToClose deadline).
 */
export type GiveUpReason = 'attemptsExhausted' | 'timedOut' | 'notRetryable';

/** An activity a decision gave up on: its error went to the machine, no attempt follows. */
export interface GivenUpActivity {
  activity: string;
  activitySeq: number;
  reason: GiveUpReason;
}

/**
 * The activities pending in `before` that a decision's `events` failed or timed out and that are
 * no longer pending in `after`: given up on (a completion or a cancel is not). For metrics: reads
 * the decision, changes nothing.
 */
export function activitiesGivenUp(
  before: { activities: Record<string, PendingActivity> },
  events: readonly { type: string; activitySeq?: number; timeoutType?: string }[],
  after: { activities: Record<string, PendingActivity> },
): GivenUpActivity[] {
  const pendingAfter = new Set(Object.values(after.activities).map((a) => a.activitySeq));
  const out: GivenUpActivity[] = [];
  for (const a of Object.values(before.activities)) {
    if (pendingAfter.has(a.activitySeq)) continue;
    const own = events.filter((e) => e.activitySeq === a.activitySeq);
    const last = own.findLast((e) => e.type === 'ActivityFailed' || e.type === 'ActivityTimedOut');
    if (!last || own.some((e) => e.type === 'ActivityCompleted' || e.type === 'ActivityCancelled')) continue;
    const max = a.policy?.retry.maximumAttempts ?? 1;
    const exhausted = max > 0 && (a.attempt ?? 1) >= max;
    const wholeTimedOut = last.type === 'ActivityTimedOut' && last.timeoutType === 'scheduleToClose';
    const reason: GiveUpReason =
      !wholeTimedOut && exhausted
        ? 'attemptsExhausted'
        : last.type === 'ActivityTimedOut'
          ? 'timedOut'
          : 'notRetryable';
    out.push({ activity: a.activity, activitySeq: a.activitySeq, reason });
  }
  return out;
}
