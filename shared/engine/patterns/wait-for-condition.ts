/**
 * waitForCondition(): polling as a statechart state node. It invokes `activity`, and while
 * `until(output)` is false sleeps on a durable timer (a delayed raise) with exponential backoff
 * and checks again; it leaves for `onDone` once the predicate holds, or for `onTimeout` when the
 * deadline (an XState `after` on the node) passes first, cancelling a check still in flight.
 * With a `strategy` instead of `until`, each check's output is a state threaded into the next
 * check's input (from `initialState`), and the strategy (pure) says whether to check again and
 * after how long. Progress lives in `context[resultKey]` (a WaitResult); nothing reads a clock.
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
import { ConfigError, type ErrorInfo, InvalidInputError } from '../../errors.js';
import type { ActorInput, ActorOutput, KeysAccepting } from './map-state.js';
import { asStateNode, helperId } from './node.js';

/** Where a wait stands. */
export type WaitStatus = 'waiting' | 'satisfied' | 'timedOut' | 'failed';

/** Progress and outcome of a wait, kept in context. */
export interface WaitResult<TOutput = unknown> {
  status: WaitStatus;
  /** Checks finished so far (an activity's own retries are not counted). */
  checks: number;
  /**
   * The last finished check's output; null before the first or when it failed. With a strategy,
   * the state: `initialState` before the first check, kept when a check fails.
   */
  output: TOutput | null;
  /** The last finished check's failure (after its retry policy); null when it completed. */
  error: ErrorInfo | null;
}

/** A wait strategy's verdict after a check: stop, or check again after `delayMs` (a durable timer). */
export type WaitDecision =
  | { readonly shouldContinue: false }
  | { readonly shouldContinue: true; readonly delayMs: number };

/** Options of waitForCondition() shared by both ways of deciding. */
export interface WaitForConditionBaseOptions<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TSrc extends string,
> {
  /** Names the check's invoke (`squall.wait.<id>`) and timers: a token. @default resultKey */
  id?: string;
  /** The activity that checks: one of the machine's actors. */
  activity: TSrc;
  /**
   * The check's input; `checks` is how many finished before this one, `state` the last check's
   * output (with a strategy: `initialState` before the first). @default undefined; with a strategy, `state`
   */
  input?: (args: {
    context: TContext;
    checks: number;
    state: ActorOutput<TActor, TSrc> | null;
  }) => ActorInput<TActor, TSrc>;
  /** The context field that holds the WaitResult. */
  resultKey: KeysAccepting<TContext, WaitResult<ActorOutput<TActor, TSrc>>>;
  /** Target once `until` holds (or the strategy stops). */
  onDone: string;
  /** Target when a check fails for good (after its retry policy). @default keep polling */
  onError?: string;
}

/** Poll with a predicate and exponential backoff. */
export interface WaitUntilOptions<TContext extends MachineContext, TActor extends ProvidedActor, TSrc extends string> {
  /** The predicate on a check's output; pure and deterministic (it runs as a guard). */
  until: (output: ActorOutput<TActor, TSrc>, args: { context: TContext }) => boolean;
  strategy?: never;
  initialState?: never;
  /** Sleep after the first unsatisfied check, in ms. @default 1000 */
  initialIntervalMs?: number;
  /** Each further sleep is this many times the previous one. @default 2 */
  backoffCoefficient?: number;
  /** Longest sleep, in ms. @default 60000 */
  maxIntervalMs?: number;
  /** Time allowed from entering the state until `onTimeout`, in ms. */
  deadlineMs: number;
  /** Target when the deadline passes first. */
  onTimeout: string;
}

/** Poll with a strategy over a state threaded from check to check (AWS's waitForCondition). */
export interface WaitStrategyOptions<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TSrc extends string,
> {
  /**
   * After each check: stop, or check again after a delay. Pure and deterministic (it runs in guards
   * and actions). `state` is the last check's output (the previous state when the check failed,
   * `error` then set); `checks` counts finished checks, this one included.
   */
  strategy: (
    state: ActorOutput<TActor, TSrc>,
    args: { checks: number; context: TContext; error: ErrorInfo | null },
  ) => WaitDecision;
  until?: never;
  /** The state the first check gets. @default null */
  initialState?: ActorOutput<TActor, TSrc>;
  /** Time allowed from entering the state until `onTimeout`, in ms. @default no deadline */
  deadlineMs?: number;
  /** Target when the deadline passes first; required with deadlineMs. */
  onTimeout?: string;
}

/** Options of waitForCondition(): the base options plus `until` with backoff, or a `strategy`. */
export type WaitForConditionOptions<
  TContext extends MachineContext,
  TActor extends ProvidedActor,
  TSrc extends string,
> = WaitForConditionBaseOptions<TContext, TActor, TSrc> &
  (WaitUntilOptions<TContext, TActor, TSrc> | WaitStrategyOptions<TContext, TActor, TSrc>);

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
  return asStateNode(node);
}

/** What follows a finished check: the strategy, or `until` with backoff reduced to one. */
type NextCheck = (state: unknown, args: { checks: number; context: unknown; error: ErrorInfo | null }) => WaitDecision;

/** waitForCondition's options once checked, defaults applied. */
interface WaitPlan {
  id: string;
  resultKey: string;
  next: NextCheck;
  /** Thread the output into the next input (a strategy), or not (`until`, as before strategies). */
  threaded: boolean;
  deadline?: { ms: number; target: string };
}

/** Checks waitForCondition's options when the machine is built; InvalidInputError names the bad one. */
function checkWaitOptions<TContext extends MachineContext, TActor extends ProvidedActor, TSrc extends string>(
  opts: WaitForConditionOptions<TContext, TActor, TSrc>,
): WaitPlan {
  const where = 'waitForCondition';
  if (typeof opts !== 'object' || opts === null) throw new InvalidInputError(`${where} needs an options object`);
  const resultKey = opts.resultKey as string;
  const id = helperId(where, opts.id, resultKey);
  if (typeof opts.activity !== 'string' || opts.activity.length === 0) {
    throw new InvalidInputError(`${where} ${id}: activity must name one of the machine's actors`);
  }
  const positive = (name: string, value: unknown, min: number): void => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw new InvalidInputError(`${where} ${id}: ${name} must be a finite number ≥ ${min}, got ${String(value)}`);
    }
  };
  const target = (name: string, value: unknown): void => {
    if (typeof value !== 'string') throw new InvalidInputError(`${where} ${id}: ${name} must be a target`);
  };
  target('onDone', opts.onDone);
  if (opts.onError !== undefined) target('onError', opts.onError);
  if ((opts.strategy === undefined) === (opts.until === undefined)) {
    throw new InvalidInputError(
      `${where} ${id}: give until (a predicate) or strategy (a function), not both or neither`,
    );
  }
  if (opts.deadlineMs !== undefined || opts.until !== undefined) {
    positive('deadlineMs', opts.deadlineMs, 1);
    target('onTimeout', opts.onTimeout);
  }
  const deadline =
    opts.deadlineMs === undefined ? undefined : { ms: opts.deadlineMs, target: opts.onTimeout as string };
  if (opts.strategy !== undefined) {
    if (typeof opts.strategy !== 'function') throw new InvalidInputError(`${where} ${id}: strategy must be a function`);
    for (const name of ['initialIntervalMs', 'backoffCoefficient', 'maxIntervalMs'] as const) {
      if ((opts as unknown as Record<string, unknown>)[name] !== undefined) {
        throw new InvalidInputError(`${where} ${id}: ${name} goes with until; a strategy returns its own delays`);
      }
    }
    const strategy = opts.strategy as NextCheck;
    const next: NextCheck = (state, args) => checkDecision(strategy(state, args), `${where} ${id}`);
    return { id, resultKey, next, threaded: true, ...(deadline ? { deadline } : {}) };
  }
  if (typeof opts.until !== 'function') throw new InvalidInputError(`${where} ${id}: until must be a predicate`);
  const backoff = {
    initialIntervalMs: opts.initialIntervalMs ?? 1000,
    backoffCoefficient: opts.backoffCoefficient ?? 2,
    maxIntervalMs: opts.maxIntervalMs ?? 60_000,
  };
  positive('initialIntervalMs', backoff.initialIntervalMs, 1);
  positive('backoffCoefficient', backoff.backoffCoefficient, 1);
  positive('maxIntervalMs', backoff.maxIntervalMs, backoff.initialIntervalMs);
  const until = opts.until as (output: unknown, args: { context: unknown }) => boolean;
  // `until` is a strategy that stops once the predicate holds and otherwise backs off.
  const next: NextCheck = (state, { checks, context, error }) =>
    error === null && until(state, { context })
      ? { shouldContinue: false }
      : { shouldContinue: true, delayMs: pollIntervalMs(checks, backoff) };
  return { id, resultKey, next, threaded: false, ...(deadline ? { deadline } : {}) };
}

/** A strategy's verdict, checked: a ConfigError (the run fails, naming the wait) for anything else. */
function checkDecision(d: unknown, where: string): WaitDecision {
  const v = d as { shouldContinue?: unknown; delayMs?: unknown } | null;
  if (v?.shouldContinue === false) return { shouldContinue: false };
  if (v?.shouldContinue === true && typeof v.delayMs === 'number' && Number.isFinite(v.delayMs) && v.delayMs >= 0) {
    return { shouldContinue: true, delayMs: Math.round(v.delayMs) };
  }
  throw new ConfigError(
    `${where}: strategy must return { shouldContinue: false } or { shouldContinue: true, delayMs ≥ 0 }, got ${JSON.stringify(d)}`,
  );
}

/**
 * The wait's node: `checking` invokes the activity, `sleeping` arms the strategy's timer,
 * `satisfied` ends it; a deadline is an `after` on the node itself, so it runs across both.
 */
function waitNode<TContext extends MachineContext, TActor extends ProvidedActor, TSrc extends string>(
  opts: WaitForConditionOptions<TContext, TActor, TSrc>,
  { id, resultKey, next, threaded, deadline }: WaitPlan,
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
  const recordCheck = (patch: (event: EventObject, prev: WaitResult<Output>) => Partial<WaitResult<Output>>) =>
    act(({ context, event, enqueue }) => {
      const prev = current(context);
      enqueue.assign({ [resultKey]: { ...prev, checks: prev.checks + 1, ...patch(event, prev) } });
    });
  const outputOf = (event: EventObject): Output => (event as EventObject & { output: Output }).output;
  const errorOf = (event: EventObject): ErrorInfo => (event as EventObject & { error: ErrorInfo }).error;
  /** The verdict on the check this event finished, before it is recorded. */
  const verdict = (context: TContext, event: EventObject): WaitDecision => {
    const prev = current(context);
    const failed = event.type.startsWith('xstate.error.actor.');
    const state = failed ? (threaded ? prev.output : null) : outputOf(event);
    return next(state, { checks: prev.checks + 1, context, error: failed ? errorOf(event) : null });
  };
  const stops = ({ context, event }: { context: TContext; event: EventObject }): boolean =>
    !verdict(context, event).shouldContinue;
  /** On a failed check the state stays what it was (with a strategy) or is null (with until). */
  const failedCheck = (status?: WaitStatus) =>
    recordCheck((event, prev) => ({
      ...(status ? { status } : {}),
      output: threaded ? prev.output : null,
      error: errorOf(event),
    }));
  const initialState = threaded ? ((opts as { initialState?: Output }).initialState ?? null) : null;

  return {
    initial: 'checking',
    entry: act(({ enqueue }) =>
      enqueue.assign({ [resultKey]: { status: 'waiting', checks: 0, output: initialState, error: null } }),
    ),
    ...(deadline
      ? { after: { [deadline.ms]: { target: deadline.target, actions: setResult({ status: 'timedOut' }) } } }
      : {}),
    onDone: { target: opts.onDone },
    ...(opts.onError === undefined ? {} : { on: { [failedType]: { target: opts.onError } } }),
    states: {
      checking: {
        invoke: {
          id: `squall.wait.${id}`,
          src: opts.activity,
          input: ({ context }: { context: TContext }) => {
            const { checks, output } = current(context);
            const args = { context, checks, state: output };
            return opts.input ? opts.input(args) : threaded ? output : undefined;
          },
          onDone: [
            {
              guard: stops,
              target: 'satisfied',
              actions: recordCheck((event) => ({ status: 'satisfied', output: outputOf(event) ?? null, error: null })),
            },
            { target: 'sleeping', actions: recordCheck((event) => ({ output: outputOf(event) ?? null, error: null })) },
          ],
          onError:
            opts.onError === undefined
              ? [
                  // A strategy may give up after a failed check: the wait ends failed, for onDone.
                  { guard: stops, target: 'satisfied', actions: failedCheck('failed') },
                  { target: 'sleeping', actions: failedCheck() },
                ]
              : { actions: [failedCheck('failed'), act(({ enqueue }) => enqueue.raise({ type: failedType }))] },
        },
      },
      sleeping: {
        entry: act(({ context, enqueue }) => {
          const { output, checks, error } = current(context);
          const d = next(output, { checks, context, error });
          // The verdict was `continue` when this state was entered; it is pure, so it still is.
          enqueue.raise({ type: tick }, { id: timerId, delay: d.shouldContinue ? d.delayMs : 0 });
        }),
        exit: act(({ enqueue }) => enqueue.cancel(timerId)),
        on: { [tick]: { target: 'checking' } },
      },
      satisfied: { type: 'final' },
    },
  };
}
