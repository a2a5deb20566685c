/**
 * Definition-time refusals of what a workflow machine may declare but Squall cannot run durably
 * (issue #16): actor logic with an implementation in `setup({ actors })`, and `sendTo` an actor
 * no invoke can create or that takes no events. Refusing when the workflow is defined beats a run that
 * waits forever for an executor nobody registers, or fails later with XState's generic error.
 */
import type { AnyStateMachine } from 'xstate';
import { ConfigError, InvalidInputError, NoParentError } from '../errors.js';
import { isChildWorkflowLogic } from './child.js';

/** XState's name for the parent in `sendTo` (what `sendParent` sends to). */
const PARENT_TARGET = '#_parent';
/** XState's name for the machine itself in `sendTo`. */
const SELF_TARGET = '#_internal';

/**
 * Throws InvalidInputError naming the actor when `setup({ actors })` holds logic Squall would take
 * for an activity name: `fromPromise`/`fromCallback`/`fromObservable`/`fromEventObservable`/
 * `fromTransition` logic. Markers (activity(), childWorkflow(), callback()), state machines (they
 * run as child workflows, see machine-children.ts) and srcs that `isWorkflowSrc` names pass.
 */
export function refuseImplementedActors(
  name: string,
  actors: Readonly<Record<string, unknown>>,
  isWorkflowSrc: ((src: string) => boolean) | undefined,
  placeholder: unknown,
): void {
  for (const [src, logic] of Object.entries(actors)) {
    if (logic === placeholder || isSquallMarker(logic) || isChildWorkflowLogic(logic) || isMachine(logic)) continue;
    if (isWorkflowSrc?.(src)) continue;
    const kind =
      'actor logic with an implementation (fromPromise, fromCallback, fromObservable, fromEventObservable, fromTransition, ...)';
    throw new InvalidInputError(
      `workflow ${name}: setup({ actors }) declares ${JSON.stringify(src)} as ${kind}, which Squall cannot run durably; declare an activity with ${src}: activity() and implement it on an executor, a state machine (it runs as a child workflow), or a child workflow with ${src}: childWorkflow({ workflowType })`,
      { details: { workflowType: name, actor: src } },
    );
  }
}

/**
 * Throws InvalidInputError for a `sendTo` a string id that no invoke of the machine has, or whose
 * invoke is not a child workflow (an activity or a callback takes no events), wherever the machine
 * names the action statically (state nodes and `setup({ actions })`). `sendParent` passes: it is
 * a message to the parent when the run is a child, and fails the run (NoParentError) otherwise.
 */
export function refuseUnsendable(
  name: string,
  machine: AnyStateMachine,
  invokeSrcs: ReadonlyMap<string, string>,
  isChildSrc: (src: string) => boolean,
): void {
  const actions: [action: unknown, where: string][] = [];
  const implemented = (machine.implementations as { actions?: Record<string, unknown> }).actions ?? {};
  for (const [key, action] of Object.entries(implemented)) actions.push([action, `action ${JSON.stringify(key)}`]);
  const walk = (node: NodeActions): void => {
    for (const a of node.entry) actions.push([a, `entry of state ${node.id}`]);
    for (const a of node.exit) actions.push([a, `exit of state ${node.id}`]);
    for (const [event, ts] of node.transitions) {
      for (const t of ts) for (const a of t.actions) actions.push([a, `transition on ${event} of state ${node.id}`]);
    }
    for (const t of node.always ?? [])
      for (const a of t.actions) actions.push([a, `always transition of state ${node.id}`]);
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root as unknown as NodeActions);
  // A spawnChild action with a static id creates an actor of that id, as an invoke does.
  const actorSrcs = new Map(invokeSrcs);
  for (const [action] of actions) {
    const spawned = spawnedActor(action);
    if (spawned) actorSrcs.set(spawned.id, spawned.src);
  }
  const check = (action: unknown, where: string): void => {
    const to = sendTarget(action);
    if (typeof to !== 'string' || to === SELF_TARGET || to === PARENT_TARGET) return;
    const id = to.startsWith('#_') ? to.slice(2) : to;
    const src = actorSrcs.get(id);
    if (src === undefined) {
      throw new InvalidInputError(
        `workflow ${name}: ${where} sends to actor ${JSON.stringify(to)}, which no invoke or spawnChild of the machine creates`,
        { details: { workflowType: name, action: where, target: to } },
      );
    }
    if (!isChildSrc(src)) {
      throw new InvalidInputError(
        `workflow ${name}: ${where} sends to actor ${JSON.stringify(to)}, an invoke of ${JSON.stringify(src)}, which is not a child workflow: activities and callbacks take their input when invoked; send to a state machine or childWorkflow() child, the parent (sendParent) or any workflow (sendToWorkflow)`,
        { details: { workflowType: name, action: where, target: to } },
      );
    }
  };
  for (const [action, where] of actions) check(action, where);
}

/** The static id and src of a spawnChild action, else undefined. */
function spawnedActor(action: unknown): { id: string; src: string } | undefined {
  if (typeof action !== 'function' && (typeof action !== 'object' || action === null)) return undefined;
  const a = action as { type?: unknown; id?: unknown; src?: unknown };
  if (a.type !== 'xstate.spawnChild' || typeof a.id !== 'string' || typeof a.src !== 'string') return undefined;
  return { id: a.id, src: a.src };
}

/**
 * XState's generic "Unable to send event to actor ..." for a send only found while running: a
 * `sendParent` in a run without a parent as NoParentError (`NO_PARENT`), any other as a
 * ConfigError naming the target; any other value is returned unchanged.
 */
export function explainSendFailure(workflowType: string, err: unknown): unknown {
  const m = err instanceof Error ? /^Unable to send event to actor '([^']*)'/.exec(err.message) : null;
  if (!m) return err;
  const to = m[1] as string;
  if (to === PARENT_TARGET) {
    return new NoParentError(
      `workflow ${workflowType}: sendParent in a run that is not a child workflow: it has no parent to send to`,
      { cause: err, details: { workflowType, action: 'xstate.sendTo', to } },
    );
  }
  const what = `sendTo ${JSON.stringify(to)}: no actor of that id is running; only an open child workflow, the parent (sendParent) or a workflow by id (sendToWorkflow) can be sent events`;
  return new ConfigError(`workflow ${workflowType}: ${what}`, {
    cause: err,
    details: { workflowType, action: 'xstate.sendTo', to },
  });
}

/** The part of an XState state node the send walk reads. */
interface NodeActions {
  id: string;
  entry: readonly unknown[];
  exit: readonly unknown[];
  transitions: ReadonlyMap<string, ReadonlyArray<{ actions: readonly unknown[] }>>;
  always?: ReadonlyArray<{ actions: readonly unknown[] }>;
  states: Record<string, NodeActions>;
}

/** The static `to` of a sendTo/sendParent action object, else undefined. */
function sendTarget(action: unknown): unknown {
  if (typeof action !== 'function' && (typeof action !== 'object' || action === null)) return undefined;
  const a = action as { type?: unknown; to?: unknown };
  return a.type === 'xstate.sendTo' ? a.to : undefined;
}

function isSquallMarker(logic: unknown): boolean {
  if (typeof logic !== 'object' || logic === null) return false;
  return 'squallOptions' in logic || 'squallCallback' in logic;
}

/** True for a state machine (createMachine, setup().createMachine). */
export function isMachine(logic: unknown): logic is AnyStateMachine {
  return typeof logic === 'object' && logic !== null && typeof (logic as { root?: unknown }).root === 'object';
}
