/**
 * How each kind of input of an open run folds into its draft: which pending activity, timer,
 * child or callback it settles, whether it is stale, and which event the machine then takes.
 * decide() checks the run and the input first; everything here runs inside its decision scope.
 */
import type { SignalEvent } from '../history/events.js';
import {
  activityCompleted,
  activityTimerFired,
  attemptFailed,
  attemptHeartbeat,
  attemptStarted,
  isCurrentAttempt,
} from './attempts.js';
import { foldBranched } from './branch-fold.js';
import { callbackTimerFired, heartbeatCallback, pendingCallback, settleCallback } from './callback.js';
import { foldChildResult } from './child-result.js';
import {
  accepts,
  closeRun,
  type Draft,
  finish,
  firesInOrder,
  ignore,
  pendingBySeq,
  record,
  settle,
  step,
} from './draft.js';
import { foldMessage, takeSignal } from './fold-message.js';
import { CANCEL_EVENT_TYPE, inputEvent } from './input.js';
import { runTimeoutFired } from './run-timeouts.js';
import type { Decision, DecisionInput, PendingTimer } from './types.js';
import { isUserEvent } from './wait-for-event.js';

/** Every input but `start`: those that need the run's state. */
export type RunInput = Exclude<DecisionInput, { kind: 'start' }>;
type InputOf<K extends RunInput['kind']> = Extract<RunInput, { kind: K }>;

/**
 * Folds `input` into draft `d` of an open run and closes the decision: a stale or unhandled input
 * is recorded as ignored; otherwise the machine takes its event and settles.
 */
export function foldRunInput(d: Draft, input: RunInput): Decision {
  switch (input.kind) {
    case 'activityStarted':
    case 'activityHeartbeat':
      return foldAttemptProgress(d, input);
    case 'activityCompleted':
    case 'activityFailed':
      return foldActivityResult(d, input);
    case 'timerFired':
      return foldTimerFired(d, input);
    case 'childCompleted':
    case 'childFailed':
      return foldChildResult(d, input);
    case 'callbackCompleted':
    case 'callbackFailed':
      return foldCallbackResult(d, input);
    case 'callbackHeartbeat':
      return foldCallbackHeartbeat(d, input);
    case 'signal':
      return foldSignal(d, input);
    case 'cancel':
      return foldCancel(d, input);
    case 'branched':
      return foldBranched(d, input);
    case 'terminate':
      record(d, input);
      closeRun(d, 'terminated', input.reason);
      return settled(d);
  }
}

/** Lets the machine run what it has left (eventless transitions, mailbox) and closes the decision. */
function settled(d: Draft): Decision {
  settle(d);
  return finish(d);
}

/** Records `input` ahead of the events its own fold already wrote (timers armed, attempts counted). */
function recordFirst(d: Draft, input: RunInput): void {
  d.events.unshift(inputEvent(input, d.definition.name, d.definition.version));
}

function foldAttemptProgress(d: Draft, input: InputOf<'activityStarted' | 'activityHeartbeat'>): Decision {
  const pending = pendingBySeq(d, input.activitySeq);
  const live =
    pending !== undefined &&
    (input.kind === 'activityStarted'
      ? attemptStarted(d, pending, input.attempt)
      : attemptHeartbeat(d, pending, input.attempt, input.details));
  if (!live) {
    // An executor still working on an attempt that is over missed its cancel notice: repeat it.
    if (!pending) {
      d.commands.push({ kind: 'cancelActivity', activitySeq: input.activitySeq, reason: 'stale' });
    } else if (pending.policy) {
      d.commands.push({
        kind: 'cancelActivity',
        activitySeq: input.activitySeq,
        activity: pending.activity,
        attempt: input.attempt,
        reason: 'stale',
      });
    }
    return ignore(d, input, 'stale');
  }
  // Record the input first: attemptStarted already wrote the timers it armed.
  recordFirst(d, input);
  return settled(d);
}

function foldActivityResult(d: Draft, input: InputOf<'activityCompleted' | 'activityFailed'>): Decision {
  const pending = pendingBySeq(d, input.activitySeq);
  if (!pending || !isCurrentAttempt(pending, input.attempt)) return ignore(d, input, 'stale');
  record(d, input);
  // The result is consumed before the machine moves, so the stopChild that leaving the
  // invoking state produces finds nothing pending and cancels nothing.
  let event: SignalEvent | undefined;
  if (input.kind === 'activityCompleted') {
    event = activityCompleted(d, pending, input.output);
  } else {
    if (input.heartbeat !== undefined && pending.policy) pending.heartbeat = input.heartbeat;
    event = attemptFailed(d, pending, input.error, input.retryAfterMs);
  }
  if (event) step(d, event);
  return settled(d);
}

/** A timer is the machine's own, a callback's timeout, or an activity's retry or timeout timer. */
function foldTimerFired(d: Draft, input: InputOf<'timerFired'>): Decision {
  const runTimeout = runTimeoutFired(d.state, input.timerSeq);
  if (runTimeout) {
    record(d, input);
    closeRun(d, 'failed', runTimeout);
    return settled(d);
  }
  const live = liveTimer(d, input.timerSeq);
  if (live) {
    record(d, input);
    if (firesInOrder(d)) fireEarlierTimers(d, live[1]);
    // An earlier timer's transition may have cancelled this one: then, in order, it never fired.
    const still = liveTimer(d, input.timerSeq);
    if (still && d.state.status === 'running') fireTimer(d, still);
    return settled(d);
  }
  const timedOut = callbackTimerFired(d, input.timerSeq);
  if (timedOut) {
    recordFirst(d, input);
    step(d, timedOut);
    return settled(d);
  }
  const fired = activityTimerFired(d, input.timerSeq);
  if (!fired) return ignore(d, input, 'stale');
  recordFirst(d, input);
  if (fired.event) step(d, fired.event);
  return settled(d);
}

/** The machine's live timer of `timerSeq` and its key in RunState.timers. */
function liveTimer(d: Draft, timerSeq: number): [string, PendingTimer] | undefined {
  return Object.entries(d.state.timers).find(([, t]) => t.timerSeq === timerSeq);
}

/** Timers fire by due time, then schedule order (timerSeq grows with every commit and action). */
function firesBefore(a: PendingTimer, b: PendingTimer): boolean {
  return a.fireAt < b.fireAt || (a.fireAt === b.fireAt && a.timerSeq < b.timerSeq);
}

function fireTimer(d: Draft, [key, timer]: [string, PendingTimer]): void {
  delete d.state.timers[key];
  step(d, timer.event ?? { type: timer.sendId });
  settle(d);
}

/**
 * Fires, in order, every live timer of the machine due before `timer` (see firesBefore) that has
 * not fired yet: firings of one instant can reach the router reversed (two timer instances, a
 * lease that ran out), and XState fires them in order. Each is recorded as a TimerFired of this
 * commit; its own firing, when it comes, is stale.
 */
function fireEarlierTimers(d: Draft, timer: PendingTimer): void {
  while (d.state.status === 'running') {
    let first: [string, PendingTimer] | undefined;
    for (const entry of Object.entries(d.state.timers)) {
      if (firesBefore(entry[1], timer) && (!first || firesBefore(entry[1], first[1]))) first = entry;
    }
    if (!first) return;
    d.events.push({ type: 'TimerFired', at: d.at, timerSeq: first[1].timerSeq });
    fireTimer(d, first);
  }
}

function foldCallbackResult(d: Draft, input: InputOf<'callbackCompleted' | 'callbackFailed'>): Decision {
  const cb = pendingCallback(d.state, input.callbackSeq);
  if (!cb) return ignore(d, input, 'stale');
  record(d, input);
  step(
    d,
    settleCallback(d, cb, input.kind === 'callbackCompleted' ? { output: input.output } : { error: input.error }),
  );
  return settled(d);
}

/** A heartbeat re-arms a pending callback's heartbeat window; the machine sees nothing of it. */
function foldCallbackHeartbeat(d: Draft, input: InputOf<'callbackHeartbeat'>): Decision {
  const cb = pendingCallback(d.state, input.callbackSeq);
  if (!cb) return ignore(d, input, 'stale');
  record(d, input);
  heartbeatCallback(d, cb);
  return settled(d);
}

/**
 * A signal the current state cannot take waits in the mailbox when its type is deferred. Any other
 * one is recorded as unhandled yet still given to the machine: XState (since 4.20.2) re-checks
 * eventless transitions after every event, taken or not, and their guards may read the event or
 * context changed since they last ran. A message from another run is a signal with `from`, taken
 * in its sender's order (fold-message.ts).
 */
function foldSignal(d: Draft, input: InputOf<'signal'>): Decision {
  if (input.from) return foldMessage(d, { ...input, from: input.from });
  // A user event for a wait the run has left (its index entry was behind) is stale, not unhandled.
  if (isUserEvent(input.event) && accepts(d, input.event) === false) return ignore(d, input, 'stale');
  takeSignal(d, input);
  return settled(d);
}

/** A machine that handles the cancel event decides what cancelling means; otherwise the run closes. */
function foldCancel(d: Draft, input: InputOf<'cancel'>): Decision {
  record(d, input);
  const event: SignalEvent =
    input.reason === undefined ? { type: CANCEL_EVENT_TYPE } : { type: CANCEL_EVENT_TYPE, reason: input.reason };
  const handled = accepts(d, event);
  if (handled === 'failed') return settled(d);
  if (handled) step(d, event);
  else closeRun(d, 'cancelled', input.reason);
  return settled(d);
}
