/**
 * Definition-time refusals of what a workflow machine may declare but Squall cannot run durably
 * (issue #16): actor logic with an implementation in `setup({ actors })`, `sendParent`, and
 * `sendTo` an actor no invoke can create. Refusing when the workflow is defined beats a run that
 * waits forever for an executor nobody registers, or fails later with XState's generic error.
 */
import type { AnyStateMachine } from 'xstate';
import { ConfigError, InvalidInputError } from '../errors.js';
import { isChildWorkflowLogic } from './child.js';

/** XState's name for the parent in `sendTo` (what `sendParent` sends to). */
const PARENT_TARGET = '#_parent';
/** XState's name for the machine itself in `sendTo`. */
const SELF_TARGET = '#_internal';

/**
 * Throws InvalidInputError naming the actor when `setup({ actors })` holds logic Squall would take
 * for an activity name: a machine or `fromPromise`/`fromCallback`/`fromObservable`/
 * `fromEventObservable`/`fromTransition` logic. Markers (activity(), childWorkflow(), callback())
 * and srcs that `isWorkflowSrc` names a child workflow pass.
 */
export function refuseImplementedActors(
  name: string,
  actors: Readonly<Record<string, unknown>>,
  isWorkflowSrc: ((src: string) => boolean) | undefined,
  placeholder: unknown,
): void {
  for (const [src, logic] of Object.entries(actors)) {
    if (logic === placeholder || isSquallMarker(logic) || isChildWorkflowLogic(logic)) continue;
    if (isWorkflowSrc?.(src)) continue;
    const kind = isMachine(logic)
      ? 'a state machine'
      : 'actor logic with an implementation (fromPromise, fromCallback, fromObservable, fromEventObservable, fromTransition, ...)';
    throw new InvalidInputError(
      `workflow ${name}: setup({ actors }) declares ${JSON.stringify(src)} as ${kind}, which Squall cannot run; declare an activity with ${src}: activity() and implement it on an executor, or a child workflow with ${src}: childWorkflow({ workflowType })`,
      { details: { workflowType: name, actor: src } },
    );
  }
}

/**
 * Throws InvalidInputError for a `sendParent` (a run has no XState parent: a child workflow
 * reports through its output) or a `sendTo` a string id that no invoke of the machine has,
 * wherever the machine names the action statically (state nodes and `setup({ actions })`).
 */
export function refuseUnsendable(name: string, machine: AnyStateMachine, invokeIds: ReadonlySet<string>): void {
  const check = (action: unknown, where: string): void => {
    const to = sendTarget(action);
    if (typeof to !== 'string' || to === SELF_TARGET) return;
    if (to === PARENT_TARGET) {
      throw new InvalidInputError(
        `workflow ${name}: ${where} uses sendParent, which Squall does not support: a run has no XState parent; a child workflow reports to its parent through its output (onDone of the parent's invoke)`,
        { details: { workflowType: name, action: where } },
      );
    }
    const id = to.startsWith('#_') ? to.slice(2) : to;
    if (!invokeIds.has(id)) {
      throw new InvalidInputError(
        `workflow ${name}: ${where} sends to actor ${JSON.stringify(to)}, which no invoke of the machine creates`,
        { details: { workflowType: name, action: where } },
      );
    }
  };
  const implemented = (machine.implementations as { actions?: Record<string, unknown> }).actions ?? {};
  for (const [key, action] of Object.entries(implemented)) check(action, `action ${JSON.stringify(key)}`);
  const walk = (node: NodeActions): void => {
    for (const a of node.entry) check(a, `entry of state ${node.id}`);
    for (const a of node.exit) check(a, `exit of state ${node.id}`);
    for (const [event, ts] of node.transitions) {
      for (const t of ts) for (const a of t.actions) check(a, `transition on ${event} of state ${node.id}`);
    }
    for (const t of node.always ?? []) for (const a of t.actions) check(a, `always transition of state ${node.id}`);
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root as unknown as NodeActions);
}

/**
 * XState's generic "Unable to send event to actor '#_parent'" for a send only found while running
 * (inside enqueueActions, or to a computed target), as a ConfigError naming the action; any other
 * value is returned unchanged.
 */
export function explainSendFailure(workflowType: string, err: unknown): unknown {
  const m = err instanceof Error ? /^Unable to send event to actor '([^']*)'/.exec(err.message) : null;
  if (!m) return err;
  const to = m[1] as string;
  const what =
    to === PARENT_TARGET
      ? 'sendParent: a run has no XState parent; a child workflow reports to its parent through its output'
      : `sendTo ${JSON.stringify(to)}: no actor of that id is running; Squall runs only activities, callbacks and child workflows, which take their input when invoked`;
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

function isMachine(logic: unknown): boolean {
  return typeof logic === 'object' && logic !== null && typeof (logic as { root?: unknown }).root === 'object';
}
