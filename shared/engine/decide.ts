/**
 * decide(): the pure core. One input plus the run's state in, the events to append, the new state
 * and the commands to publish out. No clock but `input.at`, no randomness, no I/O; replaying a
 * run's inputs through it rebuilds the same state and the same commands.
 */
import { type AnyMachineSnapshot, initialTransition } from 'xstate';
import { InvalidInputError } from '../errors.js';
import type { HistoryEvent, SignalEvent } from '../history/events.js';
import { actorResult } from './action-target.js';
import type { applyActions } from './actions.js';
import {
  activityCompleted,
  activityTimerFired,
  attemptFailed,
  attemptHeartbeat,
  attemptStarted,
  isCurrentAttempt,
} from './attempts.js';
import { callbackTimerFired, pendingCallback, settleCallback } from './callback.js';
import { type DecisionScope, withDecisionScope } from './decision-context.js';
import type { WorkflowDefinition } from './definition.js';
import {
  accepts,
  advance,
  closeRun,
  type Draft,
  finish,
  ignore,
  newDraft,
  openDraft,
  pendingBySeq,
  record,
  settle,
  step,
} from './draft.js';
import { CANCEL_EVENT_TYPE, inputEvent, validateDecisionInput } from './input.js';
import { sideEffectRecorder } from './side-effects.js';
import { CURRENT_ENGINE, type Decision, type DecisionInput, type RunState } from './types.js';

/** Options of decide(). */
export interface DecideOptions {
  /**
   * The recorded commit when replaying it: side effects take their values from its
   * SideEffectRecorded events instead of running. Undefined when deciding live.
   */
  recorded?: readonly HistoryEvent[];
}

/**
 * Folds one input into a run. `state` is undefined exactly for `start`. A closed run takes no
 * input: the result is `{ events: [], commands: [], state }` and nothing is to be appended.
 * Throws InvalidInputError for a malformed input; never throws for what the machine does.
 * While it runs, `now()` answers `input.at` and `sideEffect()` records into this decision.
 */
export function decide(
  definition: WorkflowDefinition,
  state: RunState | undefined,
  input: DecisionInput,
  opts: DecideOptions = {},
): Decision {
  validateDecisionInput(input);
  const scope: DecisionScope = { at: input.at };
  const bind = (d: Draft): Draft => {
    scope.sideEffect = sideEffectRecorder(d, opts.recorded);
    return d;
  };
  return withDecisionScope(scope, () => decideInScope(definition, state, input, bind));
}

function decideInScope(
  definition: WorkflowDefinition,
  state: RunState | undefined,
  input: DecisionInput,
  bind: (d: Draft) => Draft,
): Decision {
  if (input.kind === 'start') {
    if (state !== undefined) {
      throw new InvalidInputError(`run ${state.runId} already exists; start opens a new run only`, {
        details: { runId: state.runId, workflowId: state.workflowId },
      });
    }
    return start(definition, input, bind);
  }
  if (state === undefined) {
    throw new InvalidInputError(`a ${input.kind} input needs the run's state; only start opens a run`);
  }
  if (state.workflowType !== definition.name || state.version !== definition.version) {
    throw new InvalidInputError(
      `run ${state.runId} is ${state.workflowType} v${state.version}, not ${definition.name} v${definition.version}`,
      { details: { runId: state.runId } },
    );
  }
  if (state.status !== 'running') return { events: [], commands: [], state };
  const inputId = outsideInputId(input);
  // The same outside message again (its router died before acking it): taken already.
  if (inputId !== undefined && state.recentInputs?.includes(inputId)) return { events: [], commands: [], state };

  const d = bind(openDraft(definition, state, input.at));
  if (inputId !== undefined) d.state.recentInputs = [...(d.state.recentInputs ?? []), inputId].slice(-RECENT_INPUTS);
  switch (input.kind) {
    case 'activityStarted':
    case 'activityHeartbeat': {
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
      d.events.unshift(inputEvent(input, definition.name, definition.version));
      break;
    }
    case 'activityCompleted':
    case 'activityFailed': {
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
      break;
    }
    case 'timerFired': {
      const timer = Object.values(d.state.timers).find((t) => t.timerSeq === input.timerSeq);
      if (timer) {
        record(d, input);
        delete d.state.timers[timer.sendId];
        step(d, timer.event ?? { type: timer.sendId });
        break;
      }
      const timedOut = callbackTimerFired(d, input.timerSeq);
      if (timedOut) {
        d.events.unshift(inputEvent(input, definition.name, definition.version));
        step(d, timedOut);
        break;
      }
      const fired = activityTimerFired(d, input.timerSeq);
      if (!fired) return ignore(d, input, 'stale');
      d.events.unshift(inputEvent(input, definition.name, definition.version));
      if (fired.event) step(d, fired.event);
      break;
    }
    case 'childCompleted':
    case 'childFailed': {
      const child = Object.values(d.state.children).find((c) => c.childSeq === input.childSeq);
      if (!child) return ignore(d, input, 'stale');
      record(d, input);
      delete d.state.children[child.invokeId];
      const id = child.invokeId;
      step(d, actorResult(id, input.kind === 'childCompleted' ? { output: input.output } : { error: input.error }));
      break;
    }
    case 'callbackCompleted':
    case 'callbackFailed': {
      const cb = pendingCallback(d.state, input.callbackSeq);
      if (!cb) return ignore(d, input, 'stale');
      record(d, input);
      step(
        d,
        settleCallback(d, cb, input.kind === 'callbackCompleted' ? { output: input.output } : { error: input.error }),
      );
      break;
    }
    case 'signal': {
      const accepted = accepts(d, input.event);
      if (accepted === 'failed') break;
      if (!accepted) {
        if (!definition.deferred.includes(input.event.type)) return ignore(d, input, 'unhandled');
        d.events.push(inputEvent(input, definition.name, definition.version, { deferred: true }));
        d.state.mailbox.push(input.event);
        break;
      }
      record(d, input);
      step(d, input.event);
      break;
    }
    case 'cancel': {
      record(d, input);
      const event: SignalEvent =
        input.reason === undefined ? { type: CANCEL_EVENT_TYPE } : { type: CANCEL_EVENT_TYPE, reason: input.reason };
      const handled = accepts(d, event);
      if (handled === 'failed') break;
      if (handled) step(d, event);
      else closeRun(d, 'cancelled', input.reason);
      break;
    }
    case 'terminate':
      record(d, input);
      closeRun(d, 'terminated', input.reason);
      break;
  }
  settle(d);
  return finish(d);
}

function start(
  definition: WorkflowDefinition,
  input: Extract<DecisionInput, { kind: 'start' }>,
  bind: (d: Draft) => Draft,
): Decision {
  const state: RunState = {
    workflowId: input.workflowId,
    runId: input.runId,
    workflowType: definition.name,
    version: definition.version,
    status: 'running',
    snapshot: undefined,
    lastSeq: 1,
    nextSeq: 1,
    activities: {},
    timers: {},
    children: {},
    mailbox: [],
    startedAt: input.at,
    updatedAt: input.at,
  };
  if (input.parent) state.parent = { ...input.parent };
  if (input.continuedFrom !== undefined) state.continuedFrom = input.continuedFrom;
  if (input.memo !== undefined) state.memo = input.memo;
  if (input.searchAttributes !== undefined) state.searchAttributes = { ...input.searchAttributes };
  const engine = input.engine ?? CURRENT_ENGINE;
  if (engine !== 1) state.engine = engine;
  const d: Draft = bind(newDraft(definition, input.at, state));
  record(d, input);
  let next: AnyMachineSnapshot;
  let actions: Parameters<typeof applyActions>[1];
  try {
    [next, actions] = initialTransition(definition.machine, input.input);
  } catch (err) {
    closeRun(d, 'failed', err);
    return finish(d);
  }
  advance(d, next, actions);
  settle(d);
  if (input.signal) deliverStartSignal(d, input.signal);
  return finish(d);
}

/**
 * Signal-with-start: the signal is folded in the start's own decision, right after the machine
 * settled in its initial state, and recorded as a SignalReceived after the start's outcome. One
 * commit holds both, so a start is never seen without its signal.
 */
function deliverStartSignal(d: Draft, signal: SignalEvent): void {
  const { at } = d;
  if (d.state.status !== 'running') {
    d.events.push({ type: 'SignalReceived', at, signal, ignored: 'closed' });
    return;
  }
  const accepted = accepts(d, signal);
  if (accepted === 'failed') return;
  if (!accepted) {
    if (!d.definition.deferred.includes(signal.type)) {
      d.events.push({ type: 'SignalReceived', at, signal, ignored: 'unhandled' });
      return;
    }
    d.events.push({ type: 'SignalReceived', at, signal, deferred: true });
    d.state.mailbox.push(signal);
    return;
  }
  d.events.push({ type: 'SignalReceived', at, signal });
  step(d, signal);
  settle(d);
}

/** How many outside input ids a run remembers to recognise redeliveries (see RunState.recentInputs). */
export const RECENT_INPUTS = 64;

function outsideInputId(input: DecisionInput): string | undefined {
  return input.kind === 'signal' || input.kind === 'cancel' || input.kind === 'terminate' ? input.inputId : undefined;
}
