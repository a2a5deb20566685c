/**
 * parallelState(): a fixed list of different branches, each an activity or a child workflow run,
 * run side by side under a completion policy and a concurrency cap, as a statechart state node.
 * It is mapState() over the branches (the same node, fan-out.ts): branch i is invoke
 * `squall.map.<id>.<i>`, its output or failure lands at index i of `context[resultKey]` (a
 * BatchResult), and branches still running when the policy decides are cancelled. An XState
 * `type: 'parallel'` state ends only when every region does; use this when some may fail or
 * the first results are enough.
 */
import type {
  EventObject,
  MachineContext,
  MetaObject,
  ParameterizedObject,
  ProvidedActor,
  StateNodeConfig,
} from 'xstate';
import { InvalidInputError } from '../../errors.js';
import type { BatchResult, CompletionPolicy } from './batch.js';
import { checkFanOutOptions, type FanOutPlan, fanOutNode } from './fan-out.js';
import type { ActorInput, ChildWorkflowSrc, KeysAccepting } from './map-state.js';
import { asStateNode } from './node.js';

/** One branch: an activity, or a child workflow (a src declared with `childWorkflow()`), and its input. */
export type ParallelBranch<TContext extends MachineContext, TActor extends ProvidedActor> = {
  [S in TActor['src']]:
    | {
        /** The activity this branch runs: one of the machine's actors. */
        activity: S;
        workflow?: never;
        /** The branch's input, type-checked against the activity's. @default undefined */
        input?: (args: { context: TContext }) => ActorInput<TActor, S>;
      }
    | {
        /** The child workflow this branch starts: a src declared with `childWorkflow()`. */
        workflow: S & ChildWorkflowSrc<TActor>;
        activity?: never;
        /** The child's input, type-checked against the child workflow's. @default undefined */
        input?: (args: { context: TContext }) => ActorInput<TActor, S>;
      };
}[TActor['src']];

/** Options of parallelState(). */
export interface ParallelStateOptions<TContext extends MachineContext, TActor extends ProvidedActor> {
  /** Names the branches' invokes (`squall.map.<id>.<index>`): a token, unique among live fan-outs. @default resultKey */
  id?: string;
  /** The branches, in result order; at least one. */
  branches: readonly ParallelBranch<TContext, TActor>[];
  /** Branches running at once, a positive integer; the rest start in order as others finish. @default Infinity */
  concurrency?: number;
  /** When the state ends; see CompletionPolicy. @default 'all' */
  completion?: CompletionPolicy;
  /** The context field that holds the BatchResult (index i = branch i). */
  resultKey: KeysAccepting<TContext, BatchResult<never>>;
  /** Target once the policy is met (batch status `succeeded`). */
  onDone: string;
  /** Target when the policy failed (batch status `failed`). @default onDone */
  onFailed?: string;
}

/**
 * A state node that runs `branches` under a completion policy; embed it as a state of a setup()
 * machine. Throws InvalidInputError for malformed options (when the machine is built).
 */
export function parallelState<
  TContext extends MachineContext,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
  TAction extends ParameterizedObject,
  TGuard extends ParameterizedObject,
  TDelay extends string,
  TTag extends string,
  TEmitted extends EventObject,
  TMeta extends MetaObject,
>(
  opts: ParallelStateOptions<TContext, TActor>,
): StateNodeConfig<TContext, TEvent, TActor, TAction, TGuard, TDelay, TTag, unknown, TEmitted, TMeta> {
  const node = fanOutNode(parallelPlan(opts));
  return asStateNode(node);
}

/** Checks parallelState's options when the machine is built (InvalidInputError names the bad one); the fan-out's plan. */
function parallelPlan<TContext extends MachineContext, TActor extends ProvidedActor>(
  opts: ParallelStateOptions<TContext, TActor>,
): FanOutPlan<TContext> {
  const shared = checkFanOutOptions('parallelState', opts);
  const { where } = shared;
  if (!Array.isArray(opts.branches) || opts.branches.length === 0) {
    throw new InvalidInputError(`${where}: branches must be a non-empty array`);
  }
  const branches = opts.branches.map((b, i) => {
    const branch = b as { activity?: unknown; workflow?: unknown; input?: unknown } | null;
    if (typeof branch !== 'object' || branch === null)
      throw new InvalidInputError(`${where}: branch ${i} is not an object`);
    if (branch.activity !== undefined && branch.workflow !== undefined) {
      throw new InvalidInputError(`${where}: branch ${i} gives activity and workflow; give one`);
    }
    const src = branch.workflow ?? branch.activity;
    if (typeof src !== 'string' || src.length === 0) {
      throw new InvalidInputError(
        `${where}: branch ${i} needs activity or workflow naming one of the machine's actors`,
      );
    }
    if (branch.input !== undefined && typeof branch.input !== 'function') {
      throw new InvalidInputError(`${where}: branch ${i} input must be a function of context`);
    }
    return { src, input: branch.input as ((args: { context: TContext }) => unknown) | undefined };
  });
  return {
    ...shared,
    total: () => branches.length,
    children: (context, indexes) =>
      indexes.map((i) => {
        const { src, input } = branches[i] as (typeof branches)[number];
        return { src, input: input?.({ context }) };
      }),
  };
}
