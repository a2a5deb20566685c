/**
 * waitForCondition(): polling as a statechart state node. It invokes `activity`, and while
 * `until(output)` is false sleeps on a durable timer (a delayed raise) with exponential backoff
 * and checks again; it leaves for `onDone` once the predicate holds, or for `onTimeout` when the
 * deadline (an XState `after` on the node) passes first, cancelling a check still in flight.
 * Progress lives in `context[resultKey]` (a WaitResult); nothing reads a clock.
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
import type { ActorInput, ActorOutput, KeysAccepting } from './map-state.js';

/** Where a wait stands. */
export type WaitStatus = 'waiting' | 'satisfied' | 'timedOut' | 'failed';

/** Progress and outcome of a wait, kept in context. */
export interface WaitResult<TOutput = unknown> {
  status: WaitStatus;
  /** Checks finished so far (an activity's own retries are not counted). */
  checks: number;
  /** The last finished check's output; null before the first or when it failed. */
  output: TOutput | null;
  /** The last finished check's failure (after its retry policy); null when it completed. */
  error: ErrorInfo | null;
}

/** Options of waitForCondition(). */
export interface WaitForConditionOptions<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TSrc extends string,
> {
  /** Names the check's invoke (`squall.wait.<id>`) and timers: a token. @default resultKey */
  id?: string;
  /** The activity that checks: one of the machine's actors. */
  activity: TSrc;
  /** The check's input; `checks` is how many finished before this one. @default undefined */
  input?: (args: { context: TContext; checks: number }) => ActorInput<TActor, TSrc>;
  /** The predicate on a check's output; pure and deterministic (it runs as a guard). */
  until: (output: ActorOutput<TActor, TSrc>, args: { context: TContext }) => boolean;
  /** Sleep after the first unsatisfied check, in ms. @default 1000 */
  initialIntervalMs?: number;
  /** Each further sleep is this many times the previous one. @default 2 */
  backoffCoefficient?: number;
  /** Longest sleep, in ms. @default 60000 */
  maxIntervalMs?: number;
  /** Time allowed from entering the state until `onTimeout`, in ms. */
  deadlineMs: number;
  /** The context field that holds the WaitResult. */
  resultKey: KeysAccepting<TContext, WaitResult<ActorOutput<TActor, TSrc>>>;
  /** Target once `until` holds. */
  onDone: string;
  /** Target when the deadline passes first. */
  onTimeout: string;
  /** Target when a check fails for good (after its retry policy). @default keep polling */
  onError?: string;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The sleep after `checks` unsatisfied checks (checks ≥ 1), capped at maxIntervalMs. */
export function pollIntervalMs(
  checks: number,
  opts: { initialIntervalMs: number; backoffCoefficient: number; maxIntervalMs: number },
): number {
  const raw = opts.initialIntervalMs * opts.backoffCoefficient ** Math.max(0, checks - 1);
  return Math.min(opts.maxIntervalMs, Math.round(raw));
}

type Enqueue = {
  assign: (values: Record<string, unknown>) => void;
  raise: (event: EventObject, options?: { id?: string; delay?: number }) => void;
  cancel: (id: string) => void;
};
type EnqueueArgs<TContext> = { context: TContext; event: EventObject; enqueue: Enqueue };

/**
 * A state node that polls `activity` until `until` holds or `deadlineMs` passes; embed it as a
 * state of a setup() machine. Throws InvalidInputError for malformed options.
 */
export function waitForCondition<
  TContext extends MachineContext,
  TEvent extends EventObject,
  TActor extends ProvidedActor,
  TSrc extends TActor['src'],
  TAction extends ParameterizedObject,
  TGuard extends ParameterizedObject,
  TDelay extends string,
  TTag extends string,
  TEmitted extends EventObject,
  TMeta extends MetaObject,
>(
  opts: WaitForConditionOptions<TContext, TActor, TSrc>,
): StateNodeConfig<TContext, TEvent, TActor, TAction, TGuard, TDelay, TTag, unknown, TEmitted, TMeta> {
  const node = waitNode(opts, checkWaitOptions(opts));
  // XState cannot type a node built outside the machine's setup(); its actions are typed in waitNode.
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

/** waitForCondition's options once checked, defaults applied. */
interface WaitPlan {
  id: string;
  resultKey: string;
  backoff: { initialIntervalMs: number; backoffCoefficient: number; maxIntervalMs: number };
}

/** Checks waitForCondition's options when the machine is built; InvalidInputError names the bad one. */
function checkWaitOptions<TContext extends MachineContext, TActor extends ProvidedActor, TSrc extends string>(
  opts: WaitForConditionOptions<TContext, TActor, TSrc>,
): WaitPlan {
  const where = 'waitForCondition';
  if (typeof opts !== 'object' || opts === null) throw new InvalidInputError(`${where} needs an options object`);
  const resultKey = opts.resultKey as string;
  const id = opts.id ?? resultKey;
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new InvalidInputError(
      `${where}: id ${JSON.stringify(id)} must be letters, digits, '_' or '-' (set id when resultKey is not)`,
    );
  }
  if (typeof opts.activity !== 'string' || opts.activity.length === 0) {
    throw new InvalidInputError(`${where} ${id}: activity must name one of the machine's actors`);
  }
  if (typeof opts.until !== 'function') throw new InvalidInputError(`${where} ${id}: until must be a predicate`);
  const backoff = {
    initialIntervalMs: opts.initialIntervalMs ?? 1000,
    backoffCoefficient: opts.backoffCoefficient ?? 2,
    maxIntervalMs: opts.maxIntervalMs ?? 60_000,
  };
  const positive = (name: string, value: unknown, min: number): void => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw new InvalidInputError(`${where} ${id}: ${name} must be a finite number ≥ ${min}, got ${String(value)}`);
    }
  };
  positive('initialIntervalMs', backoff.initialIntervalMs, 1);
  positive('backoffCoefficient', backoff.backoffCoefficient, 1);
  positive('maxIntervalMs', backoff.maxIntervalMs, backoff.initialIntervalMs);
  positive('deadlineMs', opts.deadlineMs, 1);
  for (const [name, target] of [
    ['onDone', opts.onDone],
    ['onTimeout', opts.onTimeout],
    ['onError', opts.onError ?? ''],
  ] as const) {
    if (typeof target !== 'string') throw new InvalidInputError(`${where} ${id}: ${name} must be a target`);
  }
  return { id, resultKey, backoff };
}

/**
 * The wait's node: `checking` invokes the activity, `sleeping` arms the backoff timer, `satisfied`
 * ends it; the deadline is an `after` on the node itself, so it runs across both.
 */
function waitNode<TContext extends MachineContext, TActor extends ProvidedActor, TSrc extends string>(
  opts: WaitForConditionOptions<TContext, TActor, TSrc>,
  { id, resultKey, backoff }: WaitPlan,
) {
  type Output = ActorOutput<TActor, TSrc>;
  const tick = `squall.wait.${id}.tick`;
  const failedType = `squall.wait.${id}.failed`;
  const timerId = `squall.wait.${id}.sleep`;
  const current = (context: TContext): WaitResult<Output> => context[resultKey] as WaitResult<Output>;
  // Enqueue is a narrow view of XState's enqueue, whose types need the machine's setup().
  const act = (fn: (args: EnqueueArgs<TContext>) => void) => enqueueActions(fn as never);
  const setResult = (patch: Partial<WaitResult<Output>>) =>
    act(({ context, enqueue }) => enqueue.assign({ [resultKey]: { ...current(context), ...patch } }));
  const recordCheck = (patch: (event: EventObject) => Partial<WaitResult<Output>>) =>
    act(({ context, event, enqueue }) => {
      const prev = current(context);
      enqueue.assign({ [resultKey]: { ...prev, checks: prev.checks + 1, ...patch(event) } });
    });
  const outputOf = (event: EventObject): Output => (event as EventObject & { output: Output }).output;
  const errorOf = (event: EventObject): ErrorInfo => (event as EventObject & { error: ErrorInfo }).error;

  return {
    initial: 'checking',
    entry: act(({ enqueue }) =>
      enqueue.assign({ [resultKey]: { status: 'waiting', checks: 0, output: null, error: null } }),
    ),
    after: { [opts.deadlineMs]: { target: opts.onTimeout, actions: setResult({ status: 'timedOut' }) } },
    onDone: { target: opts.onDone },
    ...(opts.onError === undefined ? {} : { on: { [failedType]: { target: opts.onError } } }),
    states: {
      checking: {
        invoke: {
          id: `squall.wait.${id}`,
          src: opts.activity,
          input: ({ context }: { context: TContext }) => opts.input?.({ context, checks: current(context).checks }),
          onDone: [
            {
              guard: ({ context, event }: { context: TContext; event: EventObject }) =>
                opts.until(outputOf(event), { context }),
              target: 'satisfied',
              actions: recordCheck((event) => ({ status: 'satisfied', output: outputOf(event) ?? null, error: null })),
            },
            { target: 'sleeping', actions: recordCheck((event) => ({ output: outputOf(event) ?? null, error: null })) },
          ],
          onError:
            opts.onError === undefined
              ? { target: 'sleeping', actions: recordCheck((event) => ({ output: null, error: errorOf(event) })) }
              : {
                  actions: [
                    recordCheck((event) => ({ status: 'failed', output: null, error: errorOf(event) })),
                    act(({ enqueue }) => enqueue.raise({ type: failedType })),
                  ],
                },
        },
      },
      sleeping: {
        entry: act(({ context, enqueue }) =>
          enqueue.raise({ type: tick }, { id: timerId, delay: pollIntervalMs(current(context).checks, backoff) }),
        ),
        exit: act(({ enqueue }) => enqueue.cancel(timerId)),
        on: { [tick]: { target: 'checking' } },
      },
      satisfied: { type: 'final' },
    },
  };
}
