/**
 * The state node shared by mapState() and parallelState(): spawn children (activities or child
 * workflow runs, ids `squall.map.<id>.<index>`) at most `concurrency` at a time, record each
 * `xstate.done.actor.*` / `xstate.error.actor.*` result in item order in `context[resultKey]` (a
 * BatchResult), start the next, and once the completion policy decides, stop the children still
 * running (activities cancelled, child runs given their parent close policy) and leave for
 * `onDone` (or `onFailed`). Everything lives in context and in the engine's invokes, so a fan-out
 * survives restarts and replays like any other state.
 */
import { type EventObject, enqueueActions, type MachineContext } from 'xstate';
import { type ErrorInfo, InvalidInputError } from '../../errors.js';
import {
  type BatchResult,
  type CompletionConfig,
  openBatch,
  recordItem,
  runningItems,
  startItems,
  validateCompletion,
} from './batch.js';
import { helperId } from './node.js';

/** The prefix of the child actor ids of map (or parallel state) `id`. */
export function mapChildPrefix(id: string): string {
  return `squall.map.${id}.`;
}

/** What one child of a fan-out spawns. */
export interface FanOutChild {
  src: string;
  input: unknown;
}

/** A fan-out once its options are checked: what both helpers hand fanOutNode(). */
export interface FanOutPlan<TContext> {
  /** `mapState <id>` or `parallelState <id>`, for errors. */
  where: string;
  id: string;
  resultKey: string;
  concurrency: number;
  policy: CompletionConfig;
  onDone: string;
  onFailed?: string;
  /** How many children the fan-out has; read on entry. */
  total(context: TContext): number;
  /** What children `indexes` spawn; `total` is the count read on entry, to check it did not change. */
  children(context: TContext, indexes: readonly number[], total: number): FanOutChild[];
}

/** The options both helpers share, as the user gives them. */
export interface FanOutOptions {
  id?: string;
  resultKey: unknown;
  concurrency?: number;
  completion?: unknown;
  onDone: unknown;
  onFailed?: unknown;
}

/** Checks the shared options when the machine is built; InvalidInputError names the bad one. */
export function checkFanOutOptions(
  helper: string,
  opts: FanOutOptions,
): Pick<FanOutPlan<unknown>, 'where' | 'id' | 'resultKey' | 'concurrency' | 'policy' | 'onDone' | 'onFailed'> {
  if (typeof opts !== 'object' || opts === null) throw new InvalidInputError(`${helper} needs an options object`);
  const resultKey = opts.resultKey;
  if (typeof resultKey !== 'string' || resultKey.length === 0) {
    throw new InvalidInputError(`${helper}: resultKey must name a context field`);
  }
  const id = helperId(helper, opts.id, resultKey);
  const where = `${helper} ${id}`;
  const concurrency = opts.concurrency ?? Number.POSITIVE_INFINITY;
  if (!(concurrency === Number.POSITIVE_INFINITY || (Number.isSafeInteger(concurrency) && concurrency >= 1))) {
    throw new InvalidInputError(`${where}: concurrency must be a positive integer, got ${String(concurrency)}`);
  }
  if (typeof opts.onDone !== 'string') throw new InvalidInputError(`${where}: onDone must be a target`);
  if (opts.onFailed !== undefined && typeof opts.onFailed !== 'string') {
    throw new InvalidInputError(`${where}: onFailed must be a target`);
  }
  const policy = validateCompletion(opts.completion ?? 'all', where);
  const onFailed = opts.onFailed as string | undefined;
  return { where, id, resultKey, concurrency, policy, onDone: opts.onDone, ...(onFailed ? { onFailed } : {}) };
}

type Enqueue = {
  assign: (values: Record<string, unknown>) => void;
  spawnChild: (src: string, options: { id: string; input?: unknown }) => void;
  stopChild: (id: string) => void;
};
type EnqueueArgs<TContext> = { context: TContext; event: EventObject; enqueue: Enqueue };

/**
 * The fan-out's node: entry opens the batch and spawns the first children, each result records
 * its child and starts the next, exit stops what still runs, and `always` leaves once the policy
 * decided.
 */
export function fanOutNode<TContext extends MachineContext>(plan: FanOutPlan<TContext>) {
  const { id, resultKey, concurrency, policy } = plan;
  const prefix = mapChildPrefix(id);
  const doneType = `xstate.done.actor.${prefix}`;
  const errorType = `xstate.error.actor.${prefix}`;

  const spawn = (enqueue: Enqueue, context: TContext, indexes: readonly number[], total: number): void => {
    if (indexes.length === 0) return;
    const children = plan.children(context, indexes, total);
    indexes.forEach((index, k) => {
      const { src, input } = children[k] as FanOutChild;
      enqueue.spawnChild(src, input === undefined ? { id: `${prefix}${index}` } : { id: `${prefix}${index}`, input });
    });
  };
  const batchOf = (context: TContext): BatchResult => context[resultKey] as BatchResult;

  const entry = ({ context, enqueue }: EnqueueArgs<TContext>): void => {
    const total = plan.total(context);
    const { batch, started } = startItems(openBatch(total, policy), concurrency);
    enqueue.assign({ [resultKey]: batch });
    spawn(enqueue, context, started, total);
  };
  const onResult = ({ context, event, enqueue }: EnqueueArgs<TContext>): void => {
    const isDone = event.type.startsWith(doneType);
    const index = Number(event.type.slice((isDone ? doneType : errorType).length));
    const before = batchOf(context);
    if (!Number.isSafeInteger(index) || before?.status !== 'running') return;
    const outcome = isDone
      ? { output: (event as EventObject & { output: unknown }).output }
      : { error: (event as EventObject & { error: ErrorInfo }).error };
    const recorded = recordItem(before, index, outcome, policy);
    if (recorded === before) return;
    // Drop the finished child from the snapshot (its activity or child run is consumed: nothing is cancelled).
    enqueue.stopChild(`${prefix}${index}`);
    if (recorded.status !== 'running') {
      enqueue.assign({ [resultKey]: recorded });
      for (const i of recorded.cancelled) enqueue.stopChild(`${prefix}${i}`);
      return;
    }
    const { batch, started } = startItems(recorded, concurrency);
    enqueue.assign({ [resultKey]: batch });
    spawn(enqueue, context, started, before.counts.total);
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
      { guard: isDecided('succeeded'), target: plan.onDone },
      { guard: isDecided('failed'), target: plan.onFailed ?? plan.onDone },
    ],
  };
}
