/**
 * The one place where XState actions become Squall history events and commands. decide() runs
 * the machine with XState's pure `transition()`, which returns actions instead of executing them;
 * this module honours each one durably or refuses it clearly.
 *
 * | XState action                   | history event      | command          |
 * | ------------------------------- | ------------------ | ---------------- |
 * | `xstate.spawnChild` (invoke)    | ActivityScheduled  | scheduleActivity |
 * | `spawnChild` action, computed id | ActivityScheduled  | scheduleActivity |
 * | `xstate.stopChild` (pending)    | ActivityCancelled  | cancelActivity   |
 *
 * An activity's retries and timeouts (engine timers, see attempts.ts) are armed and cancelled
 * with it: `TimerScheduled` / `TimerCancelled` carrying its `activitySeq` and a `purpose`.
 *
 * | `xstate.raise` with a delay     | TimerScheduled     | scheduleTimer    |
 * |   (again with a live id: engine 3 keeps both, as XState; earlier engines cancelled the first) |
 * | `xstate.sendTo` self, delayed   | TimerScheduled     | scheduleTimer    |
 * | `xstate.cancel` (live timer)    | TimerCancelled     | cancelTimer      |
 * | `xstate.emit`                   | EventEmitted       | emit             |
 *
 * Child workflows (a src declared with childWorkflow()) and continue-as-new:
 *
 * | `xstate.spawnChild` (child src) | ChildStarted       | startChild       |
 * | `xstate.stopChild` (open child) | ChildDetached      | detachChild      |
 * | continueAsNew() (an emit)       | (decide closes the run: RunContinuedAsNew, continueAsNew) |
 *
 * Messages between runs (messages.ts): each gets the next msgSeq of its target workflowId.
 *
 * | `xstate.sendTo` the parent (`sendParent`, child runs) | MessageSent | sendMessage |
 * | `xstate.sendTo` an open child workflow | MessageSent      | sendMessage      |
 * | sendToWorkflow() (an emit)      | MessageSent        | sendMessage      |
 * | `upsertSearchAttributes` (emit) | SearchAttributesUpserted | (none)     |
 */
import type { AnyStateMachine, ExecutableActionObject } from 'xstate';
import { ConfigError } from '../errors.js';
import type { ActivityScheduledEvent, SignalEvent } from '../history/events.js';
import type { ActionTarget } from './action-target.js';
import { cancelPendingActivity, dispatchAttempt } from './attempts.js';
import { cancelCallback, createCallback, isCallbackSrc } from './callback.js';
import { type ChildSpec, CONTINUE_AS_NEW_EVENT_TYPE, childWorkflowId } from './child.js';
import type { WorkflowDefinition } from './definition.js';
import { isParentRef, SEND_TO_WORKFLOW_EVENT, sendMessage, workflowTarget } from './messages.js';
import { mergeSearchAttributes, SEARCH_ATTRIBUTES_EVENT, validateSearchAttributes } from './search-attributes.js';
import { isStoppedRef } from './stopped-refs.js';
import {
  type PendingActivity,
  type PendingChild,
  type PendingTimer,
  supersededTimerKey,
  XSTATE_FIDELITY_ENGINE,
} from './types.js';

/** Re-exported for the modules that take a target with the actions that fill it. */
export type { ActionTarget } from './action-target.js';

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
  // A send to an actor invoked or spawned later in the same step (`sendTo(invokeId)` in the
  // entry of the invoking state) targets that actor's ref, and XState delivers it once the actor
  // starts: hold it until the spawn is applied, so the child run exists to take it.
  const held = new Map<unknown, ExecutableActionObject[]>();
  for (const [i, action] of actions.entries()) {
    const to = action.type === 'xstate.sendTo' ? paramOf(action, 'to') : undefined;
    if (
      to !== undefined &&
      actions.slice(i + 1).some((a) => a.type === 'xstate.spawnChild' && paramOf(a, 'actorRef') === to)
    ) {
      held.set(to, [...(held.get(to) ?? []), action]);
      continue;
    }
    applyAction(definition, definition.machine, action, target);
    const spawned = action.type === 'xstate.spawnChild' ? held.get(paramOf(action, 'actorRef')) : undefined;
    for (const send of spawned ?? []) applyAction(definition, definition.machine, send, target);
  }
}

function paramOf(action: ExecutableActionObject, key: string): unknown {
  return (action.params as Record<string, unknown> | undefined)?.[key];
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
      if (isCallbackSrc(definition.callbacks, params.src) && typeof params.id === 'string') {
        createCallback(definition.callbacks?.[params.src as string] ?? {}, params.id, params.input, target);
        return;
      }
      scheduleActivity(definition, params, target);
      return;
    case 'xstate.stopChild':
      cancelCallback(actorId(action.params), target);
      cancelActivity(actorId(action.params), target);
      stopChild(actorId(action.params), target);
      return;
    case 'xstate.raise': {
      // A raise without a delay is an internal event XState already processed in the macrostep.
      if (typeof params.delay === 'number') scheduleTimer(params.event, params.delay, params.id, target);
      return;
    }
    case 'xstate.sendTo': {
      const to = params.to as { logic?: unknown; id?: unknown; src?: unknown } | undefined;
      if (to?.logic !== machine) {
        sendToOtherRun(definition, to, params, target);
        return;
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
      if (event.type === CONTINUE_AS_NEW_EVENT_TYPE) {
        target.continueAsNew = event.input === undefined ? {} : { input: event.input };
        return;
      }
      if (event.type === SEARCH_ATTRIBUTES_EVENT) {
        upsertAttributes(event.attributes, target);
        return;
      }
      if (event.type === SEND_TO_WORKFLOW_EVENT) {
        sendMessage(target, workflowTarget(event, definition.name), event.event, definition.name);
        return;
      }
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

/**
 * A send to an actor other than the machine itself: the parent (`sendParent` in a child run) or
 * an open child workflow becomes a message; one to a child workflow that has already finished is
 * dropped, as XState drops events sent to a stopped actor. Anything else (an activity, a
 * callback) and any delayed send to another run is refused with ConfigError.
 */
function sendToOtherRun(
  definition: WorkflowDefinition,
  to: { id?: unknown; src?: unknown } | undefined,
  params: Record<string, unknown>,
  target: ActionTarget,
): void {
  const parent = isParentRef(to) ? target.state.parent : undefined;
  const id = typeof to?.id === 'string' ? to.id : undefined;
  const child = id === undefined || parent ? undefined : target.state.children[id];
  const toRun = parent !== undefined || child !== undefined;
  if (toRun && params.delay !== undefined) {
    throw new ConfigError(
      `workflow ${definition.name}: a delayed send to another run is not supported; raise a delayed event to the machine itself and send from its transition`,
      { details: { workflowType: definition.name, action: 'xstate.sendTo' } },
    );
  }
  if (parent) {
    sendMessage(target, { kind: 'parent', workflowId: parent.workflowId }, params.event, definition.name);
    return;
  }
  if (child) {
    const to_ = { kind: 'child', workflowId: child.childWorkflowId, invokeId: child.invokeId } as const;
    sendMessage(target, to_, params.event, definition.name);
    return;
  }
  // A child run that has finished or was stopped takes nothing, as XState drops events to a stopped actor.
  if (isStoppedRef(to) || (typeof to?.src === 'string' && definition.childFor(to.src))) return;
  throw new ConfigError(
    `workflow ${definition.name}: sendTo ${describeActor(to)} is not supported; activities and callbacks take their input when invoked: send to the parent (sendParent), a child workflow (its invoke id) or any workflow (sendToWorkflow)`,
    { details: { workflowType: definition.name, action: 'xstate.sendTo' } },
  );
}

function scheduleActivity(definition: WorkflowDefinition, params: Record<string, unknown>, target: ActionTarget): void {
  const { src } = params;
  if (typeof src !== 'string') {
    throw new ConfigError(`workflow ${definition.name}: only activities named by a string src can be invoked`, {
      details: { workflowType: definition.name },
    });
  }
  const child = definition.childFor(src);
  const id = spawnedId(definition, src, params, child !== undefined);
  if (child) {
    startChild(definition, child, id, params.input, target);
    return;
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

/**
 * Schedules the actors a transition spawned inside `assign` (`spawn(src, { id })`): XState starts
 * those itself instead of returning a spawnChild action, so they are found as children that
 * `after` holds and `before` did not. Throws ConfigError as a spawnChild action would.
 */
export function scheduleAssignSpawns(
  definition: WorkflowDefinition,
  actions: readonly ExecutableActionObject[],
  before: Readonly<Record<string, unknown>>,
  after: Readonly<Record<string, unknown>>,
  target: ActionTarget,
): void {
  const byAction = new Set<unknown>();
  for (const a of actions) {
    if (a.type === 'xstate.spawnChild') byAction.add((a.params as { actorRef?: unknown } | undefined)?.actorRef);
  }
  for (const [key, ref] of Object.entries(after)) {
    if (ref === undefined || before[key] === ref || byAction.has(ref)) continue;
    const { src, options } = ref as { src?: unknown; options?: { input?: unknown } };
    const params: Record<string, unknown> = { src, id: key };
    if (options?.input !== undefined) params.input = options.input;
    scheduleActivity(definition, params, target);
  }
}

/**
 * The invoke id of a spawn. XState passes `spawnChild`'s id unresolved (it may be a function of
 * context and event); the actor it created carries the resolved one. A spawn without an explicit
 * id would get a session id, which is not stable across decisions, so it is refused.
 */
function spawnedId(
  definition: WorkflowDefinition,
  src: string,
  params: Record<string, unknown>,
  isChildWorkflow: boolean,
): string {
  if (!isChildWorkflow && !definition.activities.includes(src)) {
    throw new ConfigError(
      `workflow ${definition.name}: spawnChild(${JSON.stringify(src)}) names no actor of the machine; declare it in setup({ actors: { ${src}: activity() } })`,
      { details: { workflowType: definition.name, src } },
    );
  }
  if (typeof params.id === 'string') return params.id;
  const resolved = (params.actorRef as { id?: unknown } | undefined)?.id;
  if (typeof params.id !== 'function' || typeof resolved !== 'string') {
    throw new ConfigError(
      `workflow ${definition.name}: spawnChild(${JSON.stringify(src)}) needs an explicit id (a string or a function of context and event) so its result can be routed back`,
      { details: { workflowType: definition.name, src } },
    );
  }
  return resolved;
}

/** Merges attributes the machine upserted into the run state and records them. */
function upsertAttributes(raw: unknown, target: ActionTarget): void {
  const attributes = validateSearchAttributes(raw, 'upsertSearchAttributes');
  target.state.searchAttributes = mergeSearchAttributes(target.state.searchAttributes, attributes);
  target.events.push({ type: 'SearchAttributesUpserted', at: target.at, attributes });
}

/** Cancels the activity of invoke `id` if it is still pending (a consumed result is not). */
function cancelActivity(id: string | undefined, target: ActionTarget): void {
  if (id === undefined) return;
  const pending = target.state.activities[id];
  if (!pending) return;
  cancelPendingActivity(target, pending, 'cancelled');
}

function startChild(
  definition: WorkflowDefinition,
  spec: ChildSpec,
  invokeId: string,
  input: unknown,
  target: ActionTarget,
): void {
  const { state } = target;
  if (state.children[invokeId] || state.activities[invokeId]) {
    throw new ConfigError(
      `workflow ${definition.name}: two running invokes share the invoke id ${JSON.stringify(invokeId)}; give each invoke its own id`,
      { details: { workflowType: definition.name, invokeId } },
    );
  }
  const childSeq = state.nextSeq++;
  const childId = childWorkflowId(spec, { parentWorkflowId: state.workflowId, invokeId, childSeq, input });
  state.children[invokeId] = {
    childSeq,
    workflowType: spec.workflowType,
    invokeId,
    childWorkflowId: childId,
    parentClosePolicy: spec.parentClosePolicy,
    ...(input === undefined ? {} : { input }),
    ...(spec.version === undefined ? {} : { version: spec.version }),
  };
  const base = { childSeq, workflowType: spec.workflowType, invokeId, childWorkflowId: childId };
  target.events.push({
    type: 'ChildStarted',
    at: target.at,
    ...base,
    ...(input === undefined ? {} : { input }),
    parentClosePolicy: spec.parentClosePolicy,
  });
  target.commands.push({
    kind: 'startChild',
    ...base,
    ...(spec.version === undefined ? {} : { version: spec.version }),
    ...(input === undefined ? {} : { input }),
    // A child runs at its parent's priority.
    ...(target.state.priority === undefined ? {} : { priority: target.state.priority }),
  });
}

/** The machine left the state that invoked a still-open child: apply its parent close policy. */
function stopChild(id: string | undefined, target: ActionTarget): void {
  if (id === undefined) return;
  const child = target.state.children[id];
  if (child) detachChild(target, child);
}

/**
 * Stops waiting on an open child and applies its parent close policy (terminate, request cancel
 * or abandon); a result it sends later is recorded as stale.
 */
export function detachChild(target: ActionTarget, child: PendingChild): void {
  delete target.state.children[child.invokeId];
  const policy = child.parentClosePolicy ?? 'terminate';
  target.events.push({
    type: 'ChildDetached',
    at: target.at,
    childSeq: child.childSeq,
    childWorkflowId: child.childWorkflowId,
    policy,
  });
  target.commands.push({
    kind: 'detachChild',
    childSeq: child.childSeq,
    childWorkflowId: child.childWorkflowId,
    policy,
  });
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
  const earlier = state.timers[sendId];
  if (earlier && (state.engine ?? 1) >= XSTATE_FIDELITY_ENGINE) {
    // XState keeps both: the earlier one still fires, and only the latest answers cancel(id).
    delete state.timers[sendId];
    state.timers[supersededTimerKey(earlier)] = earlier;
  } else {
    // Runs of earlier engines replaced it, so the earlier timer never fired: they replay as they ran.
    cancelTimer(sendId, target);
  }
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
