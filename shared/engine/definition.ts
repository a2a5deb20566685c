/**
 * Workflow definitions: an XState machine plus a name, a version and the signal types it defers.
 * defineWorkflow() swaps every invoked actor for an inert placeholder, so authors name their
 * activities (`invoke: { src: 'chargeCard' }`) and never write fake implementations. Actor logic
 * with an implementation in setup() is refused (unsupported.ts): nothing would ever run it.
 */
import type { ActorLogic, AnyStateMachine, EventObject, Snapshot } from 'xstate';
import { InvalidInputError } from '../errors.js';
import { type ConcurrencyOption, checkConcurrency } from '../flow/spec.js';
import type { ActivityPolicy } from '../history/events.js';
import { validateToken } from '../names.js';
import { type ActivityOptions, resolvePolicy, validateActivityOptions } from './activity.js';
import { type ChildSpec, childSpec, isChildWorkflowLogic } from './child.js';
import { isMachine, refuseImplementedActors, refuseUnsendable } from './unsupported.js';

/** A registered workflow: immutable; `machine` is the author's machine with placeholder actors. */
export interface WorkflowDefinition<TMachine extends AnyStateMachine = AnyStateMachine> {
  readonly kind: 'squall.workflow';
  readonly name: string;
  readonly version: number;
  /** The machine decide() folds inputs through (actors replaced by inert placeholders). */
  readonly machine: TMachine;
  /** Every actor source the machine can invoke or spawn by name: the activities it schedules. */
  readonly activities: readonly string[];
  /** Signal types that wait in the run's mailbox until a state accepts them. */
  readonly deferred: readonly string[];
  /**
   * True when an invoked `src` names a child workflow rather than an activity: declared with
   * childWorkflow() in setup, or by the `isWorkflowSrc` option.
   */
  readonly isWorkflowSrc: (src: string) => boolean;
  /** The child workflow an invoked `src` starts, or undefined for an activity. */
  readonly childFor: (src: string) => ChildSpec | undefined;
  /**
   * The retry policy and timeouts of an activity invoked as `src` by invoke `invokeId`: the
   * defaults, then `activities[src]`, then `activity(options)` in setup, then `invokes[invokeId]`.
   */
  readonly policyFor: (src: string, invokeId: string) => ActivityPolicy;
  /** Activities declared inline (`activity({ inline: true })`, `activities[src].inline`): the router runs them. */
  readonly inlineActivities?: readonly string[];
  /** Actor sources declared with `callback()` in setup, with their options (see callback.ts). */
  readonly callbacks?: Readonly<Record<string, { timeoutMs?: number }>>;
  /**
   * The workflows defined for the state machines in `setup({ actors })`: type
   * `<name>-<actor key>`, this definition's version; registering this definition registers them.
   */
  readonly childDefinitions?: readonly WorkflowDefinition[];
  /** At most `limit` open runs per key of this type; later starts queue (docs/flow-control.md). */
  readonly concurrency?: ConcurrencyOption;
}

/** The workflow type a state machine declared as `setup({ actors: { <src>: machine } })` of workflow `parent` runs as. */
export function machineChildType(parent: string, src: string): string {
  return `${parent}-${src}`;
}

/** What an author passes to defineWorkflow. */
export interface WorkflowOptions<TMachine extends AnyStateMachine> {
  /** Workflow type: a subject token (no '.', '*', '>', '/', '\\', whitespace). */
  name: string;
  /** Positive integer; a run stays on the version it started with. @default 1 */
  version?: number;
  machine: TMachine;
  /** Signal types kept in the mailbox until a state accepts them, instead of being dropped. @default [] */
  deferred?: readonly string[];
  /** Srcs to start as child runs of the workflow type of that name (default options). @default () => false */
  isWorkflowSrc?: (src: string) => boolean;
  /** Retry policy and timeouts per activity (by invoked `src`), for every invoke of it. @default {} */
  activities?: Record<string, ActivityOptions>;
  /** Per-invoke overrides (by invoke `id`), layered over `activities`. @default {} */
  invokes?: Record<string, ActivityOptions>;
  /** At most `limit` open runs per key (from the start's input) at once; routers queue the rest. @default none */
  concurrency?: ConcurrencyOption;
}

/** Snapshot of the placeholder actor: always active, holds nothing (its input lives in history). */
type PlaceholderSnapshot = Snapshot<undefined>;

const ACTIVE: PlaceholderSnapshot = Object.freeze({ status: 'active', output: undefined, error: undefined });

/**
 * Actor logic standing in for an activity inside the machine. Pure transition() never starts it;
 * if something ever did, it would simply never complete: results only come through decide().
 */
export const placeholderActivityLogic: ActorLogic<PlaceholderSnapshot, EventObject, unknown> = {
  transition: (snapshot) => snapshot,
  getInitialSnapshot: () => ACTIVE,
  getPersistedSnapshot: (snapshot) => snapshot,
  restoreSnapshot: () => ACTIVE,
};

/** Placeholder logic typed with an activity's input and output (see activity()). */
export interface ActivityLogic<TInput = unknown, TOutput = unknown>
  extends ActorLogic<Snapshot<TOutput>, EventObject, TInput> {
  /** Type-only marker; never set. */
  readonly squallActivity?: { input: TInput; output: TOutput };
  /** Retry policy and timeouts declared with activity(options). */
  readonly squallOptions?: ActivityOptions;
}

/**
 * Declares an activity inside `setup({ actors: { chargeCard: activity<ChargeInput, Charge>() } })`
 * so `invoke: { src: 'chargeCard' }` type-checks its input and `onDone` output. No implementation:
 * executors run the real function; the machine only ever sees its result. `options` (retry
 * policy, timeouts) apply to every invoke of this src.
 */
export function activity<TInput = unknown, TOutput = unknown>(
  options?: ActivityOptions,
): ActivityLogic<TInput, TOutput> {
  if (options === undefined) return placeholderActivityLogic as unknown as ActivityLogic<TInput, TOutput>;
  validateActivityOptions(options, 'activity()');
  return Object.freeze({
    ...placeholderActivityLogic,
    squallOptions: structuredClone(options),
  }) as unknown as ActivityLogic<TInput, TOutput>;
}

/** Prefix XState gives inline actor logic (`invoke: { src: fromPromise(...) }`). */
const INLINE_SRC_PREFIX = 'xstate.invoke.';

/**
 * Builds a frozen WorkflowDefinition; throws InvalidInputError on a bad name, version or src, on
 * actor logic Squall cannot run, and on a static sendTo no child workflow invoke can receive.
 */
export function defineWorkflow<TMachine extends AnyStateMachine>(
  opts: WorkflowOptions<TMachine>,
): WorkflowDefinition<TMachine> {
  if (typeof opts !== 'object' || opts === null) {
    throw new InvalidInputError('defineWorkflow needs { name, machine, version?, deferred? }');
  }
  const name = validateToken('workflowType', opts.name);
  const version = opts.version ?? 1;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new InvalidInputError(`workflow ${name}: version must be a positive integer, got ${String(version)}`, {
      details: { workflowType: name },
    });
  }
  const machine = opts.machine as unknown;
  if (!isStateMachine(machine)) {
    throw new InvalidInputError(`workflow ${name}: machine must be an XState machine (createMachine or setup())`, {
      details: { workflowType: name },
    });
  }
  const deferred = validateDeferred(name, opts.deferred ?? []);
  const invokeSrcs = new Map<string, string>();
  const sources = collectActivitySources(name, opts.machine, invokeSrcs);
  const invokeIds = new Set(invokeSrcs.keys());
  const implementedActors = (opts.machine.implementations as { actors?: Record<string, unknown> }).actors ?? {};
  refuseImplementedActors(name, implementedActors, opts.isWorkflowSrc, placeholderActivityLogic);
  const children: Record<string, ChildSpec> = {};
  const childDefinitions: WorkflowDefinition[] = [];
  for (const src of sources) {
    const logic = Object.hasOwn(implementedActors, src) ? implementedActors[src] : undefined;
    if (isChildWorkflowLogic(logic)) children[src] = childSpec(src, logic.squallChild);
    else if (opts.isWorkflowSrc?.(src)) children[src] = childSpec(src);
    else if (isMachine(logic)) {
      // A machine as an actor is a durable child run of a workflow type of its own, on this version.
      const child = defineMachineChild(name, version, src, logic);
      childDefinitions.push(child);
      children[src] = { ...childSpec(src, { workflowType: child.name }), version };
    }
  }
  refuseUnsendable(name, opts.machine, invokeSrcs, (src) => Object.hasOwn(children, src));
  const activities = sources.filter((src) => !Object.hasOwn(children, src));
  const bySrc = optionsMap(name, 'activities', opts.activities, new Set(activities));
  const byInvoke = optionsMap(name, 'invokes', opts.invokes, invokeIds);
  const implemented = (opts.machine.implementations as { actors?: Record<string, unknown> }).actors ?? {};
  const bySetup: Record<string, ActivityOptions> = {};
  const callbacks: Record<string, { timeoutMs?: number }> = {};
  for (const [src, logic] of Object.entries(implemented)) {
    const o = (logic as { squallOptions?: ActivityOptions } | undefined)?.squallOptions;
    if (o) bySetup[src] = o;
    const cb = (logic as { squallCallback?: { timeoutMs?: number } } | undefined)?.squallCallback;
    if (cb) callbacks[src] = Object.freeze({ ...cb });
  }
  const inlineActivities = activities.filter((src) => resolvePolicy(bySrc[src], bySetup[src]).inline === true);
  const actors: Record<string, typeof placeholderActivityLogic> = {};
  for (const src of sources) actors[src] = placeholderActivityLogic;
  const provided = opts.machine.provide({ actors }) as TMachine;
  return Object.freeze({
    kind: 'squall.workflow',
    name,
    version,
    machine: provided,
    activities: Object.freeze(activities),
    deferred: Object.freeze(deferred),
    isWorkflowSrc: (src: string) => Object.hasOwn(children, src),
    childFor: (src: string) => (Object.hasOwn(children, src) ? children[src] : undefined),
    policyFor: (src: string, invokeId: string) =>
      resolvePolicy(bySrc[src], bySetup[src], Object.hasOwn(byInvoke, invokeId) ? byInvoke[invokeId] : undefined),
    callbacks: Object.freeze(callbacks),
    inlineActivities: Object.freeze(inlineActivities),
    childDefinitions: Object.freeze(childDefinitions),
    ...(opts.concurrency ? { concurrency: checkConcurrency(opts.concurrency, `workflow ${name}: concurrency`) } : {}),
  });
}

/** The workflow a machine in the parent's `setup({ actors })` runs as; an error names the parent and the actor. */
function defineMachineChild(
  parent: string,
  version: number,
  src: string,
  machine: AnyStateMachine,
): WorkflowDefinition {
  const name = machineChildType(parent, src);
  try {
    return defineWorkflow({ name, version, machine });
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    throw new InvalidInputError(`workflow ${parent}: actor ${JSON.stringify(src)}: ${err.message}`, {
      cause: err,
      details: { workflowType: parent, actor: src },
    });
  }
}

/** `definition` and every child workflow it defines for its machines (children before parents' siblings, depth first). */
export function withChildDefinitions(definition: WorkflowDefinition): WorkflowDefinition[] {
  return [definition, ...(definition.childDefinitions ?? []).flatMap(withChildDefinitions)];
}

function optionsMap(
  name: string,
  field: 'activities' | 'invokes',
  value: unknown,
  known: ReadonlySet<string>,
): Record<string, ActivityOptions> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError(`workflow ${name}: ${field} must be an object of activity options`);
  }
  const out: Record<string, ActivityOptions> = {};
  for (const [key, o] of Object.entries(value)) {
    if (!known.has(key)) {
      const what = field === 'activities' ? 'an activity the machine invokes' : 'an invoke id of the machine';
      throw new InvalidInputError(
        `workflow ${name}: ${field}.${key} is not ${what} (known: ${[...known].join(', ')})`,
        {
          details: { workflowType: name },
        },
      );
    }
    try {
      validateActivityOptions(o, `workflow ${name}: ${field}.${key}`);
    } catch (err) {
      throw new InvalidInputError((err as Error).message, { details: { workflowType: name } });
    }
    if (field === 'invokes' && o.inline !== undefined) {
      // Where an activity runs is a property of the activity, which the router registers by name.
      throw new InvalidInputError(
        `workflow ${name}: invokes.${key}.inline: declare inline per activity (activity({ inline: true }) or activities.<src>.inline), not per invoke`,
        { details: { workflowType: name } },
      );
    }
    out[key] = structuredClone(o);
  }
  return out;
}

/** True for values made by defineWorkflow. */
export function isWorkflowDefinition(value: unknown): value is WorkflowDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { kind?: unknown }).kind === 'squall.workflow' &&
    isStateMachine((value as { machine?: unknown }).machine)
  );
}

function isStateMachine(value: unknown): value is AnyStateMachine {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { provide?: unknown }).provide === 'function' &&
    typeof (value as { getPersistedSnapshot?: unknown }).getPersistedSnapshot === 'function' &&
    typeof (value as { root?: unknown }).root === 'object'
  );
}

function validateDeferred(name: string, deferred: unknown): string[] {
  if (!Array.isArray(deferred)) {
    throw new InvalidInputError(`workflow ${name}: deferred must be an array of signal types`);
  }
  for (const type of deferred) {
    if (typeof type !== 'string' || type.length === 0) {
      throw new InvalidInputError(`workflow ${name}: deferred signal types must be non-empty strings`);
    }
    if (type.startsWith('xstate.') || type.startsWith('squall.')) {
      throw new InvalidInputError(`workflow ${name}: deferred type ${JSON.stringify(type)} is reserved`);
    }
  }
  return [...new Set(deferred as string[])];
}

/** Minimal view of an XState state node: what the walk reads. */
interface StateNodeView {
  id: string;
  states: Record<string, StateNodeView>;
  invoke: ReadonlyArray<{ id: string; src: unknown }>;
}

/**
 * Every actor name the machine can start: invoke srcs of every state node plus the actors named
 * in setup(). Inline logic cannot be scheduled on an executor, so it is refused here.
 */
function collectActivitySources(name: string, machine: AnyStateMachine, invokeSrcs: Map<string, string>): string[] {
  const found = new Set<string>();
  const walk = (node: StateNodeView): void => {
    for (const inv of node.invoke) {
      const src = inv.src;
      if (typeof src === 'string') invokeSrcs.set(inv.id, src);
      if (typeof src !== 'string' || src.startsWith(INLINE_SRC_PREFIX)) {
        throw new InvalidInputError(
          `workflow ${name}: state ${node.id} invokes inline actor logic (id ${JSON.stringify(inv.id)}); invoke an activity by name instead, e.g. invoke: { src: 'chargeCard' }`,
          { details: { workflowType: name, state: node.id } },
        );
      }
      found.add(src);
    }
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root as unknown as StateNodeView);
  const implemented = (machine.implementations as { actors?: Record<string, unknown> }).actors ?? {};
  for (const src of Object.keys(implemented)) {
    if (!src.startsWith(INLINE_SRC_PREFIX)) found.add(src);
  }
  for (const src of found) {
    try {
      validateToken('activity', src);
    } catch (err) {
      throw new InvalidInputError(`workflow ${name}: activity name ${JSON.stringify(src)} is not a valid token`, {
        cause: err,
        details: { workflowType: name },
      });
    }
  }
  return [...found].sort();
}
