/**
 * decide(): the pure core. One input plus the run's state in, the events to append, the new state
 * and the commands to publish out. No clock but `input.at`, no randomness, no I/O; replaying a
 * run's inputs through it rebuilds the same state and the same commands.
 */
import {
  type AnyActorScope,
  type AnyMachineSnapshot,
  createActor,
  type EventObject,
  type ExecutableActionObject,
  initialTransition,
} from 'xstate';
import { CorruptHistoryError, InvalidInputError, toErrorInfo } from '../errors.js';
import type { HistoryEvent, IgnoredReason, SignalEvent } from '../history/events.js';
import { type ActionTarget, applyActions } from './actions.js';
import {
  activityCompleted,
  activityTimerFired,
  actorResult,
  attemptFailed,
  attemptHeartbeat,
  attemptStarted,
  cancelPendingActivity,
  isCurrentAttempt,
} from './attempts.js';
import type { WorkflowDefinition } from './definition.js';
import { CANCEL_EVENT_TYPE, inputEvent, validateDecisionInput } from './input.js';
import { type Command, CURRENT_ENGINE, type Decision, type DecisionInput, type RunState } from './types.js';

/** A decision in progress: a private working copy of the state plus what it produced so far. */
interface Draft extends ActionTarget {
  readonly definition: WorkflowDefinition;
  /** The machine snapshot as of the last successful step; undefined only if start failed. */
  live: AnyMachineSnapshot | undefined;
  /** Inert actor scope transitions run in; `actions` collects what they ask for, unexecuted. */
  scope: AnyActorScope | undefined;
  actions: ExecutableActionObject[];
}

/**
 * Folds one input into a run. `state` is undefined exactly for `start`. A closed run takes no
 * input: the result is `{ events: [], commands: [], state }` and nothing is to be appended.
 * Throws InvalidInputError for a malformed input; never throws for what the machine does.
 */
export function decide(definition: WorkflowDefinition, state: RunState | undefined, input: DecisionInput): Decision {
  validateDecisionInput(input);
  if (input.kind === 'start') {
    if (state !== undefined) {
      throw new InvalidInputError(`run ${state.runId} already exists; start opens a new run only`, {
        details: { runId: state.runId, workflowId: state.workflowId },
      });
    }
    return start(definition, input);
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

  const d = openDraft(definition, state, input.at);
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
  }
  settle(d);
  return finish(d);
}

function start(definition: WorkflowDefinition, input: Extract<DecisionInput, { kind: 'start' }>): Decision {
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
  const engine = input.engine ?? CURRENT_ENGINE;
  if (engine !== 1) state.engine = engine;
  const d: Draft = {
    definition,
    at: input.at,
    state,
    events: [],
    commands: [],
    selfEvents: [],
    live: undefined,
    scope: undefined,
    actions: [],
  };
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
  return finish(d);
}

function pendingBySeq(d: Draft, activitySeq: number) {
  return Object.values(d.state.activities).find((a) => a.activitySeq === activitySeq);
}

function openDraft(definition: WorkflowDefinition, state: RunState, at: number): Draft {
  const copy: RunState = {
    ...state,
    lastSeq: state.lastSeq + 1,
    updatedAt: at,
    // Pending activities are updated in place by this decision: copy them, never the caller's.
    activities: Object.fromEntries(
      Object.entries(state.activities).map(([id, a]) => [id, a.timers ? { ...a, timers: { ...a.timers } } : { ...a }]),
    ),
    timers: { ...state.timers },
    children: { ...state.children },
    mailbox: [...state.mailbox],
  };
  const d: Draft = {
    definition,
    at,
    state: copy,
    events: [],
    commands: [],
    selfEvents: [],
    live: undefined,
    scope: undefined,
    actions: [],
  };
  restore(d, state);
  return d;
}

/**
 * Rebuilds the live snapshot from its persisted form and an inert scope to transition in.
 * `machine.resolveState()` is not enough: it drops the invoked children (so `stopChild` loses its
 * target) and cannot revive history states. Creating (never starting) an actor from the snapshot
 * runs XState's own `restoreSnapshot`. XState's `transition()` would build a fresh actor, and
 * with it the machine's initial state, on every call; one scope per decision avoids that.
 */
function restore(d: Draft, state: RunState): void {
  try {
    const actor = createActor(d.definition.machine, { snapshot: state.snapshot as never });
    d.live = actor.getSnapshot() as AnyMachineSnapshot;
    d.scope = {
      self: actor,
      id: '',
      sessionId: '',
      logger: () => {},
      defer: () => {},
      emit: () => {},
      system: actor.system,
      stopChild: () => {},
      actionExecutor: (action) => {
        d.actions.push(action);
      },
    };
  } catch (err) {
    throw new CorruptHistoryError(
      `run ${state.runId}: its snapshot does not fit ${d.definition.name} v${d.definition.version}; rebuild it from history`,
      { cause: err, details: { runId: state.runId } },
    );
  }
}

/** Records the input event of this decision (first event of the commit). */
function record(d: Draft, input: DecisionInput): void {
  d.events.push(inputEvent(input, d.definition.name, d.definition.version));
}

/** A no-op decision: the input is recorded with why it changed nothing. */
function ignore(d: Draft, input: DecisionInput, ignored: IgnoredReason): Decision {
  d.events.push(inputEvent(input, d.definition.name, d.definition.version, { ignored }));
  return finish(d);
}

/** Does the current state take `event`? 'failed' when asking threw (a guard threw) and the run failed. */
function accepts(d: Draft, event: EventObject): boolean | 'failed' {
  try {
    return d.live?.can(event) ?? false;
  } catch (err) {
    closeRun(d, 'failed', err);
    return 'failed';
  }
}

/** Feeds one event to the machine and maps what it did. */
function step(d: Draft, event: EventObject): void {
  if (d.state.status !== 'running' || !d.live || !d.scope) return;
  let next: AnyMachineSnapshot;
  d.actions = [];
  try {
    next = d.definition.machine.transition(d.live, event, d.scope) as AnyMachineSnapshot;
  } catch (err) {
    closeRun(d, 'failed', err);
    return;
  }
  advance(d, next, d.actions);
}

function advance(d: Draft, next: AnyMachineSnapshot, actions: Parameters<typeof applyActions>[1]): void {
  if (next.status === 'error') {
    closeRun(d, 'failed', next.error);
    return;
  }
  try {
    applyActions(d.definition, actions, d);
  } catch (err) {
    closeRun(d, 'failed', err);
    return;
  }
  d.live = next;
  if (next.status === 'done') closeRun(d, 'completed', next.output);
}

/** After a step: feed the machine's own sends, then every mailbox event the new state accepts, oldest first. */
function settle(d: Draft): void {
  while (d.state.status === 'running') {
    const own = d.selfEvents.shift();
    if (own) {
      step(d, own);
      continue;
    }
    let index = -1;
    for (let i = 0; i < d.state.mailbox.length; i++) {
      const accepted = accepts(d, d.state.mailbox[i] as SignalEvent);
      if (accepted === 'failed') return;
      if (accepted) {
        index = i;
        break;
      }
    }
    if (index < 0) return;
    const [event] = d.state.mailbox.splice(index, 1);
    step(d, event as SignalEvent);
  }
}

/**
 * Ends the run: cancels every pending activity and timer (scheduling order), then records the
 * end. `detail` is the output (completed), the thrown value (failed) or the reason (cancelled).
 */
function closeRun(d: Draft, status: 'completed' | 'failed' | 'cancelled', detail: unknown): void {
  const { state, at } = d;
  for (const a of Object.values(state.activities).sort((x, y) => x.activitySeq - y.activitySeq)) {
    cancelPendingActivity(d, a, 'runClosed');
  }
  for (const t of Object.values(state.timers).sort((x, y) => x.timerSeq - y.timerSeq)) {
    d.events.push({ type: 'TimerCancelled', at, timerSeq: t.timerSeq });
    d.commands.push({ kind: 'cancelTimer', timerSeq: t.timerSeq });
  }
  state.activities = {};
  state.timers = {};
  state.status = status;
  state.closedAt = at;
  d.selfEvents.length = 0;
  let event: HistoryEvent;
  let command: Command;
  if (status === 'completed') {
    event = detail === undefined ? { type: 'RunCompleted', at } : { type: 'RunCompleted', at, output: detail };
    command = detail === undefined ? { kind: 'runClosed', status } : { kind: 'runClosed', status, output: detail };
    if (detail !== undefined) state.output = detail;
  } else if (status === 'failed') {
    const error = toErrorInfo(detail);
    state.error = error;
    event = { type: 'RunFailed', at, error };
    command = { kind: 'runClosed', status, error };
  } else {
    const reason = typeof detail === 'string' ? detail : undefined;
    event = reason === undefined ? { type: 'RunCancelled', at } : { type: 'RunCancelled', at, reason };
    command = { kind: 'runClosed', status };
  }
  d.events.push(event);
  d.commands.push(command);
}

function finish(d: Draft): Decision {
  if (d.live) d.state.snapshot = d.definition.machine.getPersistedSnapshot(d.live);
  return { events: d.events, commands: d.commands, state: d.state };
}
