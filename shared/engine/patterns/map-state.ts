/**
 * mapState(): dynamic fan-out as a statechart state node. On entry it reads a list from context
 * and spawns one activity, or one child workflow run, per item (`spawnChild` with ids
 * `squall.map.<id>.<index>`), at most `concurrency` at a time; each `xstate.done.actor.*` /
 * `xstate.error.actor.*` result is recorded in item order in `context[resultKey]` (a BatchResult)
 * and starts the next item; when the completion policy decides, the running items are stopped
 * (activities cancelled, child runs given their parent close policy) and the state leaves for
 * `onDone` (or `onFailed`). Everything lives in context and in the engine's
 * activities, so a map survives restarts and replays like any other state.
 */
import type {
  EventObject,
  InputFrom,
  MachineContext,
  MetaObject,
  OutputFrom,
  ParameterizedObject,
  ProvidedActor,
  StateNodeConfig,
} from 'xstate';
import { ConfigError, InvalidInputError } from '../../errors.js';
import type { ChildWorkflowOptions } from '../child.js';
import type { BatchResult, CompletionPolicy } from './batch.js';
import { checkFanOutOptions, type FanOutPlan, fanOutNode } from './fan-out.js';
import { asStateNode } from './node.js';

export { mapChildPrefix } from './fan-out.js';

/** Output type of the actor named `TSrc` among the machine's actors. */
export type ActorOutput<TActor extends ProvidedActor, TSrc extends string> = OutputFrom<
  Extract<TActor, { src: TSrc }>['logic']
>;
/** Input type of the actor named `TSrc` among the machine's actors. */
export type ActorInput<TActor extends ProvidedActor, TSrc extends string> = InputFrom<
  Extract<TActor, { src: TSrc }>['logic']
>;

/** Context keys that can hold a value of type `TValue`. */
export type KeysAccepting<TContext, TValue> = {
  [K in keyof TContext & string]: TValue extends TContext[K] ? K : never;
}[keyof TContext & string];

/** The srcs among the machine's actors declared with childWorkflow() (see child.ts). */
export type ChildWorkflowSrc<TActor extends ProvidedActor> = Extract<
  TActor,
  { logic: { readonly squallChild: ChildWorkflowOptions } }
>['src'];

/** Options of mapState() shared by both per-item sources. */
export interface MapStateBaseOptions<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TSrc extends string,
  TItem,
> {
  /**
   * Names the map's child actors (`squall.map.<id>.<index>`) and is part of its child runs'
   * default workflowIds: a token, unique among live maps. @default resultKey
   */
  id?: string;
  /**
   * The items, read from context when the state is entered and again as items start: the list
   * must not change while the map runs (the run fails with a ConfigError if its length does).
   */
  items: (args: { context: TContext }) => readonly TItem[];
  /**
   * The input of an item, type-checked against the activity's (or child workflow's) input. Left
   * out, the item itself is passed (unchecked: TypeScript cannot require it only when the types differ).
   * @default the item itself
   */
  input?: (args: { item: TItem; index: number; context: TContext }) => ActorInput<TActor, TSrc>;
  /** Items running at once, a positive integer. @default Infinity (all at once) */
  concurrency?: number;
  /** When the map ends; see CompletionPolicy. @default 'all' */
  completion?: CompletionPolicy;
  /** The context field that holds the BatchResult (updated as results come in). */
  resultKey: KeysAccepting<TContext, BatchResult<ActorOutput<TActor, TSrc>>>;
  /** Target once the policy is met (batch status `succeeded`). */
  onDone: string;
  /** Target when the policy failed (batch status `failed`). @default onDone */
  onFailed?: string;
}

/**
 * Options of mapState(): the base options plus the per-item source, exactly one of
 * `activity` (an activity per item) or `workflow` (a child workflow run per item).
 */
export type MapStateOptions<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TSrc extends string,
  TItem,
> = MapStateBaseOptions<TContext, TActor, TSrc, TItem> &
  (
    | {
        /** The activity run per item: one of the machine's actors (`setup({ actors })`). */
        activity: TSrc;
        workflow?: never;
      }
    | {
        /**
         * The child workflow started per item: a src declared with `childWorkflow()` in
         * `setup({ actors })`. Its workflowId defaults to `<parent workflowId>-<map id>-<index>-<childSeq>`;
         * items the map stops (policy decided, state left) get the child's parent close policy.
         */
        workflow: TSrc & ChildWorkflowSrc<TActor>;
        activity?: never;
      }
  );

/**
 * A state node that maps `activity` (or child `workflow`) over `items`; embed it as a state of a setup() machine.
 * Throws InvalidInputError for malformed options (when the machine is built).
 */
export function mapState<
  TContext extends MachineContext,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
  TSrc extends TActor['src'],
  TItem,
  TAction extends ParameterizedObject,
  TGuard extends ParameterizedObject,
  TDelay extends string,
  TTag extends string,
  TEmitted extends EventObject,
  TMeta extends MetaObject,
>(
  opts: MapStateOptions<TContext, TActor, TSrc, TItem>,
): StateNodeConfig<TContext, TEvent, TActor, TAction, TGuard, TDelay, TTag, unknown, TEmitted, TMeta> {
  const node = fanOutNode(mapPlan(opts));
  return asStateNode(node);
}

/** Checks mapState's options when the machine is built (InvalidInputError names the bad one); the fan-out's plan. */
function mapPlan<TContext extends MachineContext, TActor extends ProvidedActor, TSrc extends string, TItem>(
  opts: MapStateOptions<TContext, TActor, TSrc, TItem>,
): FanOutPlan<TContext> {
  const shared = checkFanOutOptions('mapState', opts);
  const { where } = shared;
  if (typeof opts.items !== 'function') throw new InvalidInputError(`${where}: items must be a function of context`);
  const src = opts.workflow ?? opts.activity;
  if (opts.workflow !== undefined && opts.activity !== undefined) {
    throw new InvalidInputError(`${where}: give activity or workflow, not both`);
  }
  if (typeof src !== 'string' || src.length === 0) {
    throw new InvalidInputError(
      `${where}: ${opts.workflow === undefined ? 'activity' : 'workflow'} must name one of the machine's actors`,
    );
  }
  const readItems = (context: TContext, total?: number): readonly TItem[] => {
    const items = opts.items({ context });
    if (!Array.isArray(items)) throw new ConfigError(`${where}: items() must return an array`);
    if (total !== undefined && items.length !== total) {
      throw new ConfigError(`${where}: the item list changed length while the map ran (${total} → ${items.length})`);
    }
    return items;
  };
  return {
    ...shared,
    total: (context) => readItems(context).length,
    children: (context, indexes, total) => {
      const items = readItems(context, total);
      return indexes.map((index) => {
        const item = items[index] as TItem;
        return { src, input: opts.input ? opts.input({ item, index, context }) : item };
      });
    },
  };
}
