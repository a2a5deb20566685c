/**
 * Static checks of a workflow definition (`squall check`): a walk over XState's own state-node
 * graph (`machine.root`, `states`, `transitions`, `always`, `after`, `invoke`, `initial`), never
 * over source text. Guards are not evaluated: every transition is assumed possible, so a finding is
 * a defect in the shape of the chart, not a guess about data. The kinds, precisely:
 *
 * - `unreachable`: no path from the initial state reaches the state (entering a state enters its
 *   ancestors, the initial child of each compound on the way down, every region of a parallel;
 *   paths follow `on`, `after`, `always`, invoke `onDone`/`onError`, state `onDone` and `#id`
 *   targets; a history state leads to its default `target`, else its parent's initial state).
 *   Only the topmost unreachable state of a subtree is reported.
 * - `no-way-out`: a reachable atomic state that is not final and has no `on`, `after`, `always`
 *   or `invoke`, no `continueAsNew()` on entry (which ends the run), nor an ancestor with a
 *   transition it could take (an ancestor's own `onDone` does not count: it needs this state to
 *   finish, which it never does).
 * - `unhandled-event`: an event the definition itself names at run time that no state handles
 *   (`*` and `prefix.*` descriptors count): its `deferred` signal types, and the events of static
 *   `raise(...)` actions (inline or named in `setup({ actions })`) in entry, exit and transition
 *   actions. `types.events` is type-only (absent at run time) and `enqueueActions`/`sendTo` are
 *   resolved at run time, so neither is checked: what is reported is certain, not complete.
 * - `missing-activity`: an activity the definition schedules (invoke `src` or `setup({ actors })`,
 *   minus child workflows and callbacks) that the activity names given do not include; only when
 *   names are given.
 * - `final-without-output` / `ignored-output`: the run's output is the root's `output` alone
 *   (XState only hands a final state's `output` to the root's). When the root declares no `output`
 *   but some top-level final state declares one, the author expects an output: each top-level
 *   final state without one is `final-without-output`, and each with one is `ignored-output`.
 * - `undefined-delay`: an `after` delay naming a delay `setup({ delays })` does not define
 *   (XState then raises it at once). `dynamic-delay` (only with `strictDelays`): an `after` delay
 *   whose value is a function, resolved at run time; legal and replay-safe when it reads only
 *   context and event, so reported only on request.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';
import { isContinueAsNewAction } from './child.js';
import type { WorkflowDefinition } from './definition.js';

/** What a finding is about; see the module header for each kind's exact meaning. */
export type CheckKind =
  | 'unreachable'
  | 'no-way-out'
  | 'unhandled-event'
  | 'missing-activity'
  | 'final-without-output'
  | 'ignored-output'
  | 'undefined-delay'
  | 'dynamic-delay';

/** One defect of one definition, at one state. */
export interface CheckFinding {
  readonly workflowType: string;
  readonly version: number;
  /** Dot-separated state path from the root; `(root)` for the machine itself. */
  readonly state: string;
  readonly kind: CheckKind;
  readonly message: string;
}

/** What to check beyond the chart itself. */
export interface CheckOptions {
  /** Activity names an executor module provides; undefined skips `missing-activity`. @default undefined */
  activities?: ReadonlySet<string>;
  /** Also report `after` delays resolved by a function at run time. @default false */
  strictDelays?: boolean;
}

/** The findings of one definition, in state order, then its child machines'; empty when it is clean. Pure; never throws. */
export function checkDefinition(def: WorkflowDefinition, opts: CheckOptions = {}): CheckFinding[] {
  const nodes = allNodes(def.machine.root);
  const reachable = reachableNodes(def.machine.root);
  const found: CheckFinding[] = [];
  const report = (node: AnyStateNode, kind: CheckKind, message: string): void => {
    found.push({ workflowType: def.name, version: def.version, state: statePath(node), kind, message });
  };
  for (const node of nodes) {
    if (!reachable.has(node) && node.parent && reachable.has(node.parent)) {
      report(node, 'unreachable', 'no transition path from the initial state enters this state');
    }
    if (reachable.has(node) && isStuck(node, namedActions(def.machine))) {
      report(node, 'no-way-out', 'waits forever: not final, and neither it nor an ancestor has on/after/always/invoke');
    }
    checkDelays(def.machine, node, opts.strictDelays ?? false, report);
  }
  checkOutputs(def.machine.root, report);
  checkEvents(def, nodes, report);
  if (opts.activities) checkActivities(def, nodes, opts.activities, report);
  // The child machines of setup({ actors }) are workflows of their own (<type>-<key>): checked with it.
  for (const child of def.childDefinitions ?? []) found.push(...checkDefinition(child, opts));
  return found;
}

/** `<workflowType>@v<version> <state path>: <kind>: <message>`, as `squall check` prints it. */
export function formatFinding(f: CheckFinding): string {
  return `${f.workflowType}@v${f.version} ${f.state}: ${f.kind}: ${f.message}`;
}

type Report = (node: AnyStateNode, kind: CheckKind, message: string) => void;

function statePath(node: AnyStateNode): string {
  return node.path.length === 0 ? '(root)' : node.path.join('.');
}

/** The node and its descendants, depth first in document order. */
function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allNodes(child))];
}

/** Every transition a node can take itself: `on`, `after`, invoke and state `onDone`, `always`. */
function ownTransitions(node: AnyStateNode): { eventType: string; target?: readonly AnyStateNode[] }[] {
  return [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
}

/** Nodes some path from the initial configuration enters, guards assumed to pass. */
function reachableNodes(root: AnyStateNode): Set<AnyStateNode> {
  const seen = new Set<AnyStateNode>();
  const queue: AnyStateNode[] = [];
  const mark = (node: AnyStateNode): boolean => {
    if (seen.has(node)) return false;
    seen.add(node);
    queue.push(node);
    return true;
  };
  // Entering a node enters its default descendants: the initial child, or every parallel region.
  const enterDown = (node: AnyStateNode): void => {
    mark(node);
    if (node.type === 'parallel') for (const child of Object.values(node.states)) enterDown(child);
    else if (node.type === 'compound') for (const t of node.initial.target) enterDown(t);
    else if (node.type === 'history' && node.parent) enterHistory(node);
  };
  // A history state resumes a configuration already reached, or else its default: its `target`
  // (a sibling key or `#id`), or the parent's initial state.
  const enterHistory = (node: AnyStateNode): void => {
    const fallback = (node.config as { target?: unknown }).target;
    const targets = typeof fallback === 'string' ? [historyTarget(node, fallback)] : [];
    if (targets.length === 0 && node.parent?.type === 'compound') targets.push(...node.parent.initial.target);
    for (const t of targets) if (t) enter(t);
  };
  // Entering a deep target also enters its ancestors, and the other regions of parallel ones.
  const enter = (target: AnyStateNode): void => {
    enterDown(target);
    let child = target;
    for (let up = target.parent; up; child = up, up = up.parent) {
      mark(up);
      if (up.type === 'parallel') {
        for (const region of Object.values(up.states)) if (region !== child && !seen.has(region)) enterDown(region);
      }
    }
  };
  enterDown(root);
  for (let node = queue.shift(); node; node = queue.shift()) {
    for (const t of ownTransitions(node)) for (const target of t.target ?? []) enter(target);
  }
  return seen;
}

function historyTarget(node: AnyStateNode, target: string): AnyStateNode | undefined {
  if (target.startsWith('#')) {
    try {
      return node.machine.getStateNodeById(target.slice(1));
    } catch {
      return undefined;
    }
  }
  return node.parent?.states[target];
}

function isStuck(node: AnyStateNode, named: NamedActions): boolean {
  if (node.type !== 'atomic') return false;
  if (hasWayOut(node, false)) return false;
  // continueAsNew() on entry ends the run: the state never waits.
  if (node.entry.some((a) => isContinueAsNewAction(resolveAction(a, named)))) return false;
  for (let up = node.parent; up; up = up.parent) if (hasWayOut(up, true)) return false;
  return true;
}

function hasWayOut(node: AnyStateNode, asAncestor: boolean): boolean {
  if (node.invoke.length > 0 || (node.always?.length ?? 0) > 0) return true;
  const ownDone = `xstate.done.state.${node.id}`;
  return [...node.transitions.keys()].some((type) => !(asAncestor && type === ownDone));
}

function checkDelays(machine: AnyStateMachine, node: AnyStateNode, strict: boolean, report: Report): void {
  const delays = (machine.implementations.delays ?? {}) as Record<string, unknown>;
  for (const t of node.after) {
    if (typeof t.delay === 'number') continue;
    if (typeof t.delay === 'function') {
      if (strict) report(node, 'dynamic-delay', 'after delay is a function, resolved at run time');
      continue;
    }
    const name = String(t.delay);
    const value = Object.hasOwn(delays, name) ? delays[name] : undefined;
    if (value === undefined) {
      report(
        node,
        'undefined-delay',
        `after delay ${JSON.stringify(name)} is not defined in setup({ delays }), so it fires at once`,
      );
    } else if (typeof value === 'function' && strict) {
      report(node, 'dynamic-delay', `after delay ${JSON.stringify(name)} is a function, resolved at run time`);
    }
  }
}

function checkOutputs(root: AnyStateNode, report: Report): void {
  if (root.output !== undefined) return;
  const finals = Object.values(root.states).filter((s) => s.type === 'final');
  if (!finals.some((s) => s.output !== undefined)) return;
  for (const s of finals) {
    if (s.output === undefined) {
      report(s, 'final-without-output', 'top-level final state has no output, while another one declares one');
    } else {
      report(s, 'ignored-output', "the root declares no output, so XState drops this final state's output");
    }
  }
}

/** True when some state has a transition on `type` (exact, `*`, or a `prefix.*` descriptor). */
function isHandled(type: string, descriptors: ReadonlySet<string>): boolean {
  if (descriptors.has(type) || descriptors.has('*')) return true;
  const parts = type.split('.');
  for (let i = parts.length - 1; i > 0; i--) if (descriptors.has(`${parts.slice(0, i).join('.')}.*`)) return true;
  return false;
}

function checkEvents(def: WorkflowDefinition, nodes: readonly AnyStateNode[], report: Report): void {
  const descriptors = new Set(nodes.flatMap((n) => [...n.transitions.keys()]));
  const root = def.machine.root;
  for (const type of def.deferred) {
    if (!isHandled(type, descriptors)) {
      report(root, 'unhandled-event', `deferred signal ${JSON.stringify(type)} is handled by no state`);
    }
  }
  const named = namedActions(def.machine);
  for (const node of nodes) {
    const actions = [...node.entry, ...node.exit, ...ownTransitions(node).flatMap((t) => actionsOf(t))];
    for (const type of raisedTypes(actions, named)) {
      if (!isHandled(type, descriptors)) {
        report(node, 'unhandled-event', `raised event ${JSON.stringify(type)} is handled by no state`);
      }
    }
  }
}

function actionsOf(t: object): readonly unknown[] {
  const actions = (t as { actions?: unknown }).actions;
  return Array.isArray(actions) ? actions : [];
}

type NamedActions = Readonly<Record<string, unknown>>;

function namedActions(machine: AnyStateMachine): NamedActions {
  return (machine.implementations.actions ?? {}) as NamedActions;
}

/** The action object itself: inline ones as they are, names (`'x'`, `{ type: 'x' }`) looked up in setup. */
function resolveAction(action: unknown, named: NamedActions): unknown {
  if (typeof action === 'function') return action;
  const name = typeof action === 'string' ? action : (action as { type?: unknown } | null)?.type;
  return typeof name === 'string' && Object.hasOwn(named, name) ? named[name] : action;
}

/** Event types of the static `raise` actions among `actions`. */
function raisedTypes(actions: readonly unknown[], named: NamedActions): string[] {
  const out = new Set<string>();
  for (const action of actions) {
    const raise = resolveAction(action, named) as { type?: unknown; id?: unknown; event?: unknown } | undefined;
    if (raise?.type !== 'xstate.raise') continue;
    // `after` timers are raises XState adds itself, always handled by their own transition.
    if (typeof raise.id === 'string' && raise.id.startsWith('xstate.after.')) continue;
    const type = (raise.event as { type?: unknown } | undefined)?.type;
    if (typeof type === 'string') out.add(type);
  }
  return [...out];
}

function checkActivities(
  def: WorkflowDefinition,
  nodes: readonly AnyStateNode[],
  provided: ReadonlySet<string>,
  report: Report,
): void {
  const callbacks = new Set(Object.keys(def.callbacks ?? {}));
  const missing = def.activities.filter((name) => !provided.has(name) && !callbacks.has(name));
  for (const name of missing) {
    const invoking = nodes.filter((n) => n.invoke.some((inv) => inv.src === name));
    const where = def.inlineActivities?.includes(name)
      ? ' (declared inline: the router runs it, and needs it in its --activities)'
      : '';
    const message = `activity ${JSON.stringify(name)} is not exported by the activities module${where}`;
    for (const node of invoking.length > 0 ? invoking : [def.machine.root]) report(node, 'missing-activity', message);
  }
}
