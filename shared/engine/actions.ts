/**
 * The one place where XState actions become Squall history events and commands. decide() runs
 * the machine with XState's pure `transition()`, which returns actions instead of executing them;
 * this module honours each one durably or refuses it clearly.
 *
 * | XState action                   | history event      | command          |
 * | ------------------------------- | ------------------ | ---------------- |
 * | `xstate.spawnChild` (invoke)    | ActivityScheduled  | scheduleActivity |
 * | `xstate.stopChild` (pending)    | ActivityCancelled  | cancelActivity   |
 *
 * An activity's retries and timeouts (engine timers, see attempts.ts) are armed and cancelled
 * with it: `TimerScheduled` / `TimerCancelled` carrying its `activitySeq` and a `purpose`.
 *
 * | `xstate.raise` with a delay     | TimerScheduled     | scheduleTimer    |
 * | `xstate.sendTo` self, delayed   | TimerScheduled     | scheduleTimer    |
 * | `xstate.cancel` (live timer)    | TimerCancelled     | cancelTimer      |
 * | `xstate.emit`                   | EventEmitted       | emit             |
 */
import type { AnyStateMachine, ExecutableActionObject } from 'xstate';
import { ConfigError } from '../errors.js';
import type { ActivityScheduledEvent, HistoryEvent, Millis, SignalEvent } from '../history/events.js';
import { cancelPendingActivity, dispatchAttempt } from './attempts.js';
import type { WorkflowDefinition } from './definition.js';
import type { Command, PendingActivity, PendingTimer, RunState } from './types.js';

/** The part of a decision in progress that actions write to. Owned by one decide() call. */
export interface ActionTarget {
  /** Time of the decision's input: the only clock. */
  readonly at: Millis;
  /** Working copy of the run state; its maps are owned by this decision and may be mutated. */
  readonly state: RunState;
  readonly events: HistoryEvent[];
  readonly commands: Command[];
  /** Events the machine sent to itself without a delay; decide() feeds them after this step. */
  readonly selfEvents: SignalEvent[];
}

/** Built-in actions XState resolves itself during transition(); nothing is left to do for them. */
const RESOLVED_BY_XSTATE: ReadonlySet<string> = new Set([
  'xstate.assign',
  'xstate.log',
  'xstate.enqueueActions',
  'xstate.choose',
  'xstate.pure',
]);

/**
 * Maps one transition's actions, in order, onto `target`. Custom (named or inline) actions are
 * executed, as an XState actor would; they must be pure, and one that throws fails the run.
 * Throws ConfigError for an action Squall cannot honour durably.
 */
export function applyActions(
  definition: WorkflowDefinition,
  actions: readonly ExecutableActionObject[],
  target: ActionTarget,
): void {
  for (const action of actions) applyAction(definition, definition.machine, action, target);
}

function applyAction(
  definition: WorkflowDefinition,
  machine: AnyStateMachine,
  action: ExecutableActionObject,
  target: ActionTarget,
): void {
  const params = (action.params ?? {}) as Record<string, unknown>;
  switch (action.type) {
    case 'xstate.spawnChild':
      scheduleActivity(definition, params, target);
      return;
    case 'xstate.stopChild':
      cancelActivity(actorId(action.params), target);
      return;
    case 'xstate.raise': {
      // A raise without a delay is an internal event XState already processed in the macrostep.
      if (typeof params.delay === 'number') scheduleTimer(params.event, params.delay, params.id, target);
      return;
    }
    case 'xstate.sendTo': {
      const to = params.to as { logic?: unknown; id?: unknown } | undefined;
      if (to?.logic !== machine) {
        throw new ConfigError(
          `workflow ${definition.name}: sendTo ${describeActor(to)} is not supported; activities take their input when invoked, and only the workflow itself can be sent events`,
          { details: { workflowType: definition.name, action: action.type } },
        );
      }
      if (typeof params.delay === 'number') scheduleTimer(params.event, params.delay, params.id, target);
      else target.selfEvents.push(asEvent(params.event, definition.name, 'sendTo'));
      return;
    }
    case 'xstate.cancel':
      cancelTimer(params.sendId, target);
      return;
    case 'xstate.emit': {
      const event = asEvent(params.event, definition.name, 'emit');
      target.events.push({ type: 'EventEmitted', at: target.at, event });
      target.commands.push({ kind: 'emit', event });
      return;
    }
    default:
      if (RESOLVED_BY_XSTATE.has(action.type)) return;
      if (action.type.startsWith('xstate.')) {
        throw new ConfigError(
          `workflow ${definition.name}: XState action ${action.type} has side effects Squall cannot honour durably`,
          { details: { workflowType: definition.name, action: action.type } },
        );
      }
      // A custom action: pure transition() leaves it to the caller, as an interpreted actor would run it.
      action.exec?.(action.info, action.params);
  }
}

function scheduleActivity(definition: WorkflowDefinition, params: Record<string, unknown>, target: ActionTarget): void {
  const { src, id } = params;
  if (typeof src !== 'string' || typeof id !== 'string') {
    throw new ConfigError(`workflow ${definition.name}: only activities named by a string src can be invoked`, {
      details: { workflowType: definition.name },
    });
  }
  if (definition.isWorkflowSrc(src)) {
    throw new ConfigError(`workflow ${definition.name}: invoking workflow ${src} as a child run is not supported yet`, {
      details: { workflowType: definition.name, src },
    });
  }
  const { state } = target;
  if (state.activities[id]) {
    throw new ConfigError(
      `workflow ${definition.name}: two running activities share the invoke id ${JSON.stringify(id)}; give each invoke its own id`,
      { details: { workflowType: definition.name, invokeId: id } },
    );
  }
  const activitySeq = state.nextSeq++;
  const pending: PendingActivity = { activitySeq, activity: src, invokeId: id, scheduledAt: target.at };
  if (params.input !== undefined) pending.input = params.input;
  // Runs recorded before policies (engine 1) keep one attempt and no timeouts, as they ran.
  if ((state.engine ?? 1) >= 2) pending.policy = definition.policyFor(src, id);
  state.activities[id] = pending;
  const scheduled: ActivityScheduledEvent = {
    type: 'ActivityScheduled',
    at: target.at,
    activitySeq,
    activity: src,
    invokeId: id,
  };
  if (params.input !== undefined) scheduled.input = params.input;
  if (pending.policy) scheduled.policy = pending.policy;
  target.events.push(scheduled);
  dispatchAttempt(target, pending, 1);
}

/** Cancels the activity of invoke `id` if it is still pending (a consumed result is not). */
function cancelActivity(id: string | undefined, target: ActionTarget): void {
  if (id === undefined) return;
  const pending = target.state.activities[id];
  if (!pending) return;
  cancelPendingActivity(target, pending, 'cancelled');
}

function scheduleTimer(rawEvent: unknown, delay: number, rawId: unknown, target: ActionTarget): void {
  const { state } = target;
  if (!Number.isFinite(delay)) {
    throw new ConfigError(`workflow ${state.workflowType}: a delayed event has a non-finite delay (${delay})`, {
      details: { workflowType: state.workflowType },
    });
  }
  const event = asEvent(rawEvent, state.workflowType, 'delayed event');
  const timerSeq = state.nextSeq++;
  const sendId = typeof rawId === 'string' ? rawId : `squall.timer.${timerSeq}`;
  // Scheduling an id that is already live replaces it, so the earlier timer can never fire.
  cancelTimer(sendId, target);
  const delayMs = Math.max(0, delay);
  const fireAt = target.at + delayMs;
  const timer: PendingTimer = { timerSeq, sendId, fireAt, event };
  state.timers[sendId] = timer;
  target.events.push({ type: 'TimerScheduled', at: target.at, timerSeq, sendId, delayMs, fireAt });
  target.commands.push({ kind: 'scheduleTimer', timerSeq, fireAt });
}

/** Cancels the live timer of `sendId`; a cancel for a timer that already fired is ignored. */
function cancelTimer(sendId: unknown, target: ActionTarget): void {
  if (typeof sendId !== 'string') return;
  const timer = target.state.timers[sendId];
  if (!timer) return;
  delete target.state.timers[sendId];
  target.events.push({ type: 'TimerCancelled', at: target.at, timerSeq: timer.timerSeq });
  target.commands.push({ kind: 'cancelTimer', timerSeq: timer.timerSeq });
}

function actorId(ref: unknown): string | undefined {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'object' && ref !== null && typeof (ref as { id?: unknown }).id === 'string') {
    return (ref as { id: string }).id;
  }
  return undefined;
}

function describeActor(ref: { id?: unknown } | undefined): string {
  return typeof ref?.id === 'string' ? `to actor ${JSON.stringify(ref.id)}` : 'to another actor';
}

function asEvent(value: unknown, workflowType: string, what: string): SignalEvent {
  if (typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string') {
    return value as SignalEvent;
  }
  throw new ConfigError(`workflow ${workflowType}: ${what} must be an event object with a string type`, {
    details: { workflowType },
  });
}
