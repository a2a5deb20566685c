/**
 * waitForCallback(): a callback with a submitter, as a statechart state node. On entry it invokes
 * a `callback()` src (the engine records CallbackCreated and arms its timeout and heartbeat
 * window), and once the token arrives runs the `submit` activity with it (the activity hands the
 * token to the outside system). The state leaves for `onDone` when the outside system completes
 * the callback, or for `onError` when it fails it, the timeout or the heartbeat window passes
 * first, or the submit activity fails for good. Progress lives in `context[resultKey]`.
 */
import {
  type EventObject,
  enqueueActions,
  type MachineContext,
  type MetaObject,
  type ParameterizedObject,
  type ProvidedActor,
  type StateNodeConfig,
} from 'xstate';
import { type ErrorInfo, InvalidInputError } from '../../errors.js';
import { CALLBACK_EVENT, type CallbackEvent, type CallbackOptions } from '../callback.js';
import type { ActorInput, ActorOutput, KeysAccepting } from './map-state.js';
import { asStateNode, helperId } from './node.js';

/** Where a wait for a callback stands: `submitting` until the submit activity finished. */
export type CallbackWaitStatus = 'submitting' | 'waiting' | 'completed' | 'failed';

/** Progress and outcome of waitForCallback(), kept in context. */
export interface CallbackWaitResult<TOutput = unknown> {
  status: CallbackWaitStatus;
  /** The callback's token once created (it is in the submit activity's input too). */
  token: string | null;
  /** What the outside system completed the callback with. */
  output: TOutput | null;
  /**
   * Why it failed: the error the outside system sent, a TimeoutError (`code: 'TIMEOUT'`,
   * `details.timeoutType: 'heartbeat'` for a missed heartbeat), or the submit activity's failure.
   */
  error: ErrorInfo | null;
}

/** The srcs among the machine's actors declared with callback(). */
export type CallbackSrc<TActor extends ProvidedActor> = Extract<
  TActor,
  { logic: { readonly squallCallback: CallbackOptions } }
>['src'];

/** Options of waitForCallback(). */
export interface WaitForCallbackOptions<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TCallback extends string,
  TSubmit extends string,
> {
  /** Names the invokes (`squall.cbwait.<id>` and `squall.cbwait.<id>.submit`): a token. @default resultKey */
  id?: string;
  /** The callback to wait on: a src declared with `callback<Output>()` in `setup({ actors })`. */
  callback: TCallback & CallbackSrc<TActor>;
  /** The activity that hands the token out: one of the machine's actors. */
  submit: TSubmit;
  /** The submit activity's input, given the token. @default { token } */
  input?: (args: { context: TContext; token: string }) => ActorInput<TActor, TSubmit>;
  /** Fail with a TimeoutError unless completed within this many ms. @default the callback's own */
  timeoutMs?: number;
  /** Fail with a TimeoutError when no heartbeat comes for this many ms. @default the callback's own */
  heartbeatTimeoutMs?: number;
  /** The context field that holds the CallbackWaitResult. */
  resultKey: KeysAccepting<TContext, CallbackWaitResult<ActorOutput<TActor, TCallback>>>;
  /** Target once the outside system completed the callback. */
  onDone: string;
  /** Target when it failed, timed out, missed a heartbeat, or the submit activity failed. */
  onError: string;
}

/**
 * A state node that creates a callback, submits its token with an activity and waits; embed it as
 * a state of a setup() machine. Throws InvalidInputError for malformed options.
 */
export function waitForCallback<
  TContext extends MachineContext,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
  TCallback extends TActor['src'],
  TSubmit extends TActor['src'],
  TAction extends ParameterizedObject,
  TGuard extends ParameterizedObject,
  TDelay extends string,
  TTag extends string,
  TEmitted extends EventObject,
  TMeta extends MetaObject,
>(
  opts: WaitForCallbackOptions<TContext, TActor, TCallback, TSubmit>,
): StateNodeConfig<TContext, TEvent, TActor, TAction, TGuard, TDelay, TTag, unknown, TEmitted, TMeta> {
  const node = callbackWaitNode(opts, checkOptions(opts));
  return asStateNode(node);
}

interface CallbackWaitPlan {
  id: string;
  resultKey: string;
  /** The callback invoke's input: the timeouts that override the callback's own. */
  overrides: { timeoutMs?: number; heartbeatTimeoutMs?: number };
}

function checkOptions<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TC extends string,
  TS extends string,
>(opts: WaitForCallbackOptions<TContext, TActor, TC, TS>): CallbackWaitPlan {
  const where = 'waitForCallback';
  if (typeof opts !== 'object' || opts === null) throw new InvalidInputError(`${where} needs an options object`);
  const resultKey = opts.resultKey as unknown;
  if (typeof resultKey !== 'string' || resultKey.length === 0) {
    throw new InvalidInputError(`${where}: resultKey must name a context field`);
  }
  const id = helperId(where, opts.id, resultKey);
  for (const name of ['callback', 'submit'] as const) {
    if (typeof opts[name] !== 'string' || opts[name].length === 0) {
      throw new InvalidInputError(`${where} ${id}: ${name} must name one of the machine's actors`);
    }
  }
  if (opts.input !== undefined && typeof opts.input !== 'function') {
    throw new InvalidInputError(`${where} ${id}: input must be a function of context and token`);
  }
  const overrides: CallbackWaitPlan['overrides'] = {};
  for (const name of ['timeoutMs', 'heartbeatTimeoutMs'] as const) {
    const v = opts[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new InvalidInputError(`${where} ${id}: ${name} must be a positive number of ms, got ${String(v)}`);
    }
    overrides[name] = v;
  }
  for (const name of ['onDone', 'onError'] as const) {
    if (typeof opts[name] !== 'string') throw new InvalidInputError(`${where} ${id}: ${name} must be a target`);
  }
  return { id, resultKey, overrides };
}

type Enqueue = { assign: (values: Record<string, unknown>) => void; raise: (event: EventObject) => void };
type EnqueueArgs<TContext> = { context: TContext; event: EventObject; enqueue: Enqueue };

/**
 * The node invokes the callback for its whole life; its child states run the submit activity
 * once the token came (`awaitingToken` → `submitting` → `submitted`). A failed submit raises an
 * event the node itself takes to `onError`, which leaving cancels the callback.
 */
function callbackWaitNode<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TC extends string,
  TS extends string,
>(opts: WaitForCallbackOptions<TContext, TActor, TC, TS>, { id, resultKey, overrides }: CallbackWaitPlan) {
  const callbackId = `squall.cbwait.${id}`;
  const submitFailed = `squall.cbwait.${id}.submitFailed`;
  const current = (context: TContext): CallbackWaitResult => context[resultKey] as CallbackWaitResult;
  // Enqueue is a narrow view of XState's enqueue, whose types need the machine's setup().
  const act = (fn: (args: EnqueueArgs<TContext>) => void) => enqueueActions(fn as never);
  const update = (patch: (event: EventObject) => Partial<CallbackWaitResult>) =>
    act(({ context, event, enqueue }) => enqueue.assign({ [resultKey]: { ...current(context), ...patch(event) } }));
  const errorOf = (event: EventObject): ErrorInfo => (event as EventObject & { error: ErrorInfo }).error;

  return {
    entry: act(({ enqueue }) =>
      enqueue.assign({ [resultKey]: { status: 'submitting', token: null, output: null, error: null } }),
    ),
    invoke: {
      id: callbackId,
      src: opts.callback,
      input: overrides,
      onDone: {
        target: opts.onDone,
        actions: update((event) => ({
          status: 'completed',
          output: (event as EventObject & { output?: unknown }).output ?? null,
        })),
      },
      onError: { target: opts.onError, actions: update((event) => ({ status: 'failed', error: errorOf(event) })) },
    },
    on: { [submitFailed]: { target: opts.onError } },
    initial: 'awaitingToken',
    states: {
      awaitingToken: {
        on: {
          [CALLBACK_EVENT]: {
            guard: ({ event }: { event: EventObject }) => (event as CallbackEvent).id === callbackId,
            target: 'submitting',
            actions: update((event) => ({ token: (event as CallbackEvent).token })),
          },
        },
      },
      submitting: {
        invoke: {
          id: `${callbackId}.submit`,
          src: opts.submit,
          input: ({ context }: { context: TContext }) => {
            const token = current(context).token as string;
            return opts.input ? opts.input({ context, token }) : { token };
          },
          onDone: { target: 'submitted', actions: update(() => ({ status: 'waiting' })) },
          onError: {
            actions: [
              update((event) => ({ status: 'failed', error: errorOf(event) })),
              act(({ enqueue }) => enqueue.raise({ type: submitFailed })),
            ],
          },
        },
      },
      submitted: {},
    },
  };
}
