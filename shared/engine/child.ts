/**
 * Child workflows and continue-as-new, as the machine author writes them: `childWorkflow()` in
 * `setup({ actors })` makes `invoke: { src }` start a child run instead of an activity, and
 * `continueAsNew()` is an action that ends the run and starts the next one of the same workflowId.
 */
import { type ActorLogic, type EventObject, emit, type MachineContext, type Snapshot } from 'xstate';
import { ConfigError, InvalidInputError } from '../errors.js';
import type { ParentClosePolicy, SignalEvent } from '../history/events.js';
import { isValidToken, validateToken } from '../names.js';

/** Event type of the action continueAsNew() produces; decide() turns it into RunContinuedAsNew. */
export const CONTINUE_AS_NEW_EVENT_TYPE = 'squall.continueAsNew';

/** Parent close policies, in the order they are documented. */
export const PARENT_CLOSE_POLICIES: readonly ParentClosePolicy[] = ['terminate', 'requestCancel', 'abandon'];

/** How a child run is started and what becomes of it when its parent stops waiting. */
export interface ChildWorkflowOptions {
  /** The child's workflow type. @default the invoke's `src` */
  workflowType?: string;
  /**
   * What happens to the child if the parent closes (or leaves the invoking state) before it does:
   * `terminate` it, `requestCancel` (it gets `squall.cancel`), or `abandon` (it runs on alone).
   * @default 'terminate'
   */
  parentClosePolicy?: ParentClosePolicy;
  /**
   * The child's workflowId; must be pure. @default `<parent workflowId>-<invoke id's last part>-<childSeq>`
   * (`<parent workflowId>-<map id>-<index>-<childSeq>` for a mapState() item, whose invoke id is `squall.map.<map id>.<index>`)
   */
  workflowId?: (args: { parentWorkflowId: string; invokeId: string; childSeq: number; input: unknown }) => string;
}

/** Resolved options of one child src. */
export interface ChildSpec {
  workflowType: string;
  /** The version to start: set for a machine in `setup({ actors })`, which follows its parent's. @default the latest */
  version?: number;
  parentClosePolicy: ParentClosePolicy;
  workflowId?: ChildWorkflowOptions['workflowId'];
}

/** Placeholder logic typed with a child workflow's input and output. */
export interface ChildWorkflowLogic<TInput = unknown, TOutput = unknown>
  extends ActorLogic<Snapshot<TOutput>, EventObject, TInput> {
  /** Type-only marker; never set. */
  readonly squallChildTypes?: { input: TInput; output: TOutput };
  /** Marks the src as a child workflow; defineWorkflow reads it. */
  readonly squallChild: ChildWorkflowOptions;
}

const ACTIVE = Object.freeze({ status: 'active', output: undefined, error: undefined }) as Snapshot<undefined>;

/**
 * Declares a child workflow in `setup({ actors: { ship: childWorkflow<ShipInput, Shipment>({ workflowType: 'shipping' }) } })`;
 * `invoke: { src: 'ship', input }` then starts a run of that type and waits for it: its output
 * arrives as `xstate.done.actor.<id>`, its failure, cancellation or termination as `xstate.error.actor.<id>`.
 */
export function childWorkflow<TInput = unknown, TOutput = unknown>(
  options: ChildWorkflowOptions = {},
): ChildWorkflowLogic<TInput, TOutput> {
  validateChildOptions(options, 'childWorkflow()');
  return Object.freeze({
    transition: (s: Snapshot<undefined>) => s,
    getInitialSnapshot: () => ACTIVE,
    getPersistedSnapshot: (s: Snapshot<undefined>) => s,
    restoreSnapshot: () => ACTIVE,
    squallChild: Object.freeze({ ...options }),
  }) as unknown as ChildWorkflowLogic<TInput, TOutput>;
}

/** True for logic made by childWorkflow(). */
export function isChildWorkflowLogic(value: unknown): value is ChildWorkflowLogic {
  return typeof value === 'object' && value !== null && 'squallChild' in value;
}

/** Throws InvalidInputError naming the field when `options` are not ChildWorkflowOptions. */
export function validateChildOptions(options: unknown, where: string): asserts options is ChildWorkflowOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidInputError(`${where}: options must be an object`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['workflowType', 'parentClosePolicy', 'workflowId'].includes(key)) {
      throw new InvalidInputError(`${where}: unknown option ${JSON.stringify(key)}`);
    }
  }
  if (o.workflowType !== undefined) {
    try {
      validateToken('workflowType', o.workflowType);
    } catch (err) {
      throw new InvalidInputError(`${where}: ${(err as Error).message}`, { cause: err });
    }
  }
  if (o.parentClosePolicy !== undefined && !PARENT_CLOSE_POLICIES.includes(o.parentClosePolicy as ParentClosePolicy)) {
    throw new InvalidInputError(
      `${where}: parentClosePolicy must be one of ${PARENT_CLOSE_POLICIES.join(', ')}, got ${JSON.stringify(o.parentClosePolicy)}`,
    );
  }
  if (o.workflowId !== undefined && typeof o.workflowId !== 'function') {
    throw new InvalidInputError(`${where}: workflowId must be a function returning the child's workflowId`);
  }
}

/** The spec of a child src, defaults filled in. */
export function childSpec(src: string, options: ChildWorkflowOptions = {}): ChildSpec {
  const spec: ChildSpec = {
    workflowType: options.workflowType ?? src,
    parentClosePolicy: options.parentClosePolicy ?? 'terminate',
  };
  if (options.workflowId) spec.workflowId = options.workflowId;
  return spec;
}

/**
 * The workflowId of child `childSeq`. Throws ConfigError when the author's function returns
 * something that cannot be a workflowId (the run fails with it).
 */
export function childWorkflowId(
  spec: ChildSpec,
  args: { parentWorkflowId: string; invokeId: string; childSeq: number; input: unknown },
): string {
  if (spec.workflowId) {
    const id = spec.workflowId(args);
    if (!isValidToken(id)) {
      throw new ConfigError(`child workflowId ${JSON.stringify(id)} is not a valid workflowId`, {
        details: { invokeId: args.invokeId },
      });
    }
    return id;
  }
  const part = invokeIdPart(args.invokeId);
  const id = `${args.parentWorkflowId}-${part}-${args.childSeq}`;
  if (!isValidToken(id)) {
    throw new ConfigError(`child workflowId ${JSON.stringify(id)} is too long; give childWorkflow() a workflowId`, {
      details: { invokeId: args.invokeId },
    });
  }
  return id;
}

/** Invoke ids of mapState() items: `squall.map.<map id>.<index>` (see patterns/map-state.ts). */
const MAP_INVOKE_PREFIX = 'squall.map.';

/**
 * The token-safe part of an invoke id a default child workflowId is built from. XState's
 * generated invoke ids hold dots ("0.order.shipping"): their last part is kept. A mapState()
 * item (`squall.map.pages.3`) keeps its map id and index (`pages-3`), so the children of two maps
 * stay told apart. Never holds '.', so the workflowId is a valid subject token.
 */
export function invokeIdPart(invokeId: string): string {
  const raw = invokeId.startsWith(MAP_INVOKE_PREFIX)
    ? invokeId.slice(MAP_INVOKE_PREFIX.length).replaceAll('.', '-')
    : (invokeId.split('.').pop() ?? '');
  return raw.replace(/[^A-Za-z0-9_-]/g, '_') || 'child';
}

/**
 * An action that ends the run as `continued` and starts the next run of the same workflowId with
 * `input(args)` (latest version, fresh history); pending activities, timers and the mailbox are
 * dropped, children get their parent close policy. `input` must be pure.
 */
export function continueAsNew<TContext extends MachineContext, TEvent extends EventObject>(
  input?: (args: { context: TContext; event: TEvent }) => unknown,
) {
  const action = emit<TContext, TEvent, undefined, EventObject, SignalEvent>((args): SignalEvent => {
    const next = input?.(args);
    return next === undefined
      ? { type: CONTINUE_AS_NEW_EVENT_TYPE }
      : { type: CONTINUE_AS_NEW_EVENT_TYPE, input: next };
  });
  // Marked so static checks (check.ts) see a state that continues as new as a way out.
  return Object.assign(action, { [CONTINUES_AS_NEW]: true as const });
}

const CONTINUES_AS_NEW = Symbol.for('squall.continueAsNew');

/** True for an action made by continueAsNew(), or an `emit` of a static continue-as-new event. */
export function isContinueAsNewAction(action: unknown): boolean {
  if ((typeof action !== 'function' && typeof action !== 'object') || action === null) return false;
  if ((action as { [CONTINUES_AS_NEW]?: unknown })[CONTINUES_AS_NEW] === true) return true;
  const a = action as { type?: unknown; event?: { type?: unknown } };
  return a.type === 'xstate.emit' && a.event?.type === CONTINUE_AS_NEW_EVENT_TYPE;
}
