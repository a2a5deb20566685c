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
import {
  type EventObject,
  enqueueActions,
  type InputFrom,
  type MachineContext,
  type MetaObject,
  type OutputFrom,
  type ParameterizedObject,
  type ProvidedActor,
  type StateNodeConfig,
} from 'xstate';
import { ConfigError, type ErrorInfo, InvalidInputError } from '../../errors.js';
import type { ChildWorkflowOptions } from '../child.js';
import {
  type BatchResult,
  type CompletionPolicy,
  openBatch,
  recordItem,
  runningItems,
  startItems,
  validateCompletion,
} from './batch.js';

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

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The prefix of the child actor ids of map `id`. */
export function mapChildPrefix(id: string): string {
  return `squall.map.${id}.`;
}

type Args<TContext> = { context: TContext; event: EventObject };
type Enqueue = {
  assign: (values: Record<string, unknown>) => void;
  spawnChild: (src: string, options: { id: string; input?: unknown }) => void;
  stopChild: (id: string) => void;
};
type EnqueueArgs<TContext> = Args<TContext> & { enqueue: Enqueue };

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
  const node = mapNode(opts, checkMapOptions(opts));
  // XState cannot type a node built outside the machine's setup(); its actions are typed in mapNode.
  return node as unknown as StateNodeConfig<
    TContext,
    TEvent,
    TActor,
    TAction,
    TGuard,
    TDelay,
    TTag,
    unknown,
    TEmitted,
    TMeta
  >;
}

/** mapState's options once checked, defaults applied. */
interface MapPlan {
  id: string;
  resultKey: string;
  /** The activity or child workflow src spawned per item. */
  src: string;
  concurrency: number;
  policy: CompletionPolicy;
}

/** Checks mapState's options when the machine is built; InvalidInputError names the bad one. */
function checkMapOptions<TContext extends MachineContext, TActor extends ProvidedActor, TSrc extends string, TItem>(
  opts: MapStateOptions<TContext, TActor, TSrc, TItem>,
): MapPlan {
  const where = 'mapState';
  if (typeof opts !== 'object' || opts === null) throw new InvalidInputError(`${where} needs an options object`);
  const resultKey = opts.resultKey as string;
  if (typeof resultKey !== 'string' || resultKey.length === 0) {
    throw new InvalidInputError(`${where}: resultKey must name a context field`);
  }
  const id = opts.id ?? resultKey;
  if (!ID_PATTERN.test(id)) {
    throw new InvalidInputError(
      `${where}: id ${JSON.stringify(id)} must be letters, digits, '_' or '-' (set id when resultKey is not)`,
    );
  }
  if (typeof opts.items !== 'function')
    throw new InvalidInputError(`${where} ${id}: items must be a function of context`);
  const source = opts.workflow ?? opts.activity;
  if (opts.workflow !== undefined && opts.activity !== undefined) {
    throw new InvalidInputError(`${where} ${id}: give activity or workflow, not both`);
  }
  if (typeof source !== 'string' || source.length === 0) {
    throw new InvalidInputError(
      `${where} ${id}: ${opts.workflow === undefined ? 'activity' : 'workflow'} must name one of the machine's actors`,
    );
  }
  const concurrency = opts.concurrency ?? Number.POSITIVE_INFINITY;
  if (!(concurrency === Number.POSITIVE_INFINITY || (Number.isSafeInteger(concurrency) && concurrency >= 1))) {
    throw new InvalidInputError(`${where} ${id}: concurrency must be a positive integer, got ${String(concurrency)}`);
  }
  if (typeof opts.onDone !== 'string') throw new InvalidInputError(`${where} ${id}: onDone must be a target`);
  const policy = validateCompletion(opts.completion ?? 'all', `${where} ${id}`);
  return { id, resultKey, src: source, concurrency, policy };
}

/**
 * The map's node: entry opens the batch and spawns the first items, each result records its item
 * and starts the next, exit stops what still runs, and `always` leaves once the policy decided.
 */
function mapNode<TContext extends MachineContext, TActor extends ProvidedActor, TSrc extends string, TItem>(
  opts: MapStateOptions<TContext, TActor, TSrc, TItem>,
  { id, resultKey, src, concurrency, policy }: MapPlan,
) {
  const where = 'mapState';
  const prefix = mapChildPrefix(id);
  const doneType = `xstate.done.actor.${prefix}`;
  const errorType = `xstate.error.actor.${prefix}`;
  type Output = ActorOutput<TActor, TSrc>;

  const readItems = (context: TContext, total?: number): readonly TItem[] => {
    const items = opts.items({ context });
    if (!Array.isArray(items)) throw new ConfigError(`${where} ${id}: items() must return an array`);
    if (total !== undefined && items.length !== total) {
      throw new ConfigError(
        `${where} ${id}: the item list changed length while the map ran (${total} → ${items.length})`,
      );
    }
    return items;
  };
  const spawn = (enqueue: Enqueue, context: TContext, items: readonly TItem[], indexes: readonly number[]): void => {
    for (const index of indexes) {
      const item = items[index] as TItem;
      const input = opts.input ? opts.input({ item, index, context }) : item;
      enqueue.spawnChild(src, input === undefined ? { id: `${prefix}${index}` } : { id: `${prefix}${index}`, input });
    }
  };
  const batchOf = (context: TContext): BatchResult<Output> => context[resultKey] as BatchResult<Output>;

  const entry = ({ context, enqueue }: EnqueueArgs<TContext>): void => {
    const items = readItems(context);
    const { batch, started } = startItems(openBatch<Output>(items.length, policy), concurrency);
    enqueue.assign({ [resultKey]: batch });
    spawn(enqueue, context, items, started);
  };
  const onResult = ({ context, event, enqueue }: EnqueueArgs<TContext>): void => {
    const isDone = event.type.startsWith(doneType);
    const index = Number(event.type.slice((isDone ? doneType : errorType).length));
    const before = batchOf(context);
    if (!Number.isSafeInteger(index) || before?.status !== 'running') return;
    const outcome = isDone
      ? { output: (event as EventObject & { output: Output }).output }
      : { error: (event as EventObject & { error: ErrorInfo }).error };
    const recorded = recordItem(before, index, outcome, policy);
    if (recorded === before) return;
    // Drop the finished child from the snapshot (its activity or child run is consumed: nothing is cancelled).
    enqueue.stopChild(`${prefix}${index}`);
    if (recorded.status !== 'running') {
      enqueue.assign({ [resultKey]: recorded });
      for (const i of runningItems(before)) if (i !== index) enqueue.stopChild(`${prefix}${i}`);
      return;
    }
    const items = readItems(context, before.counts.total);
    const { batch, started } = startItems(recorded, concurrency);
    enqueue.assign({ [resultKey]: batch });
    spawn(enqueue, context, items, started);
  };
  // Left before the policy decided (an outer transition, a cancel): stop what still runs.
  const exit = ({ context, enqueue }: EnqueueArgs<TContext>): void => {
    const batch = batchOf(context);
    if (batch?.status === 'running') for (const i of runningItems(batch)) enqueue.stopChild(`${prefix}${i}`);
  };
  const isDecided =
    (status: BatchResult['status']) =>
    ({ context }: { context: TContext }): boolean =>
      batchOf(context)?.status === status;

  // Enqueue is a narrow view of XState's enqueue, whose types need the machine's setup().
  const act = (fn: (args: EnqueueArgs<TContext>) => void) => enqueueActions(fn as never);
  return {
    entry: act(entry),
    exit: act(exit),
    on: { [`${doneType}*`]: { actions: act(onResult) }, [`${errorType}*`]: { actions: act(onResult) } },
    always: [
      { guard: isDecided('succeeded'), target: opts.onDone },
      { guard: isDecided('failed'), target: opts.onFailed ?? opts.onDone },
    ],
  };
}
