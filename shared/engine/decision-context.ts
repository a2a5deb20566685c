/**
 * What guards, actions, assign, input and output functions may read while decide() runs: the
 * decision's time (`now()`), and values recorded once in history (`sideEffect()`).
 *
 * Why a scoped "current decision" rather than a time on every event: XState calls these functions
 * with the machine's own arguments, and the events they see are the user's signals and activity
 * results, which must stay as sent. decide() is synchronous, so the decision in scope is exactly
 * the one being decided; replay decides again with the recorded input time, so `now()` answers
 * the same. Nothing here reads a clock: the engine stays pure.
 */
import { ConfigError, OutsideDecisionError } from '../errors.js';
import type { Millis } from '../history/events.js';

/** What a run knows of itself, deterministically (see invocation()). */
export interface Invocation {
  workflowId: string;
  runId: string;
  workflowType: string;
  version: number;
  /** When the run started (its RunStarted's time). */
  startedAt: Millis;
  /** How many continue-as-new runs came before this one of its chain. */
  continuedAsNew: number;
  /** How many resets (and resumes) the run's history went through (docs/workflows.md#branch-reset-and-resume). */
  resets: number;
  /** How many branches the run's history went through. */
  branches: number;
}

/** Prefix of the event a machine receives with a side effect's value: `squall.sideEffect.<id>`. */
export const SIDE_EFFECT_EVENT_PREFIX = 'squall.sideEffect.';

/**
 * The event a machine receives when side effect `TId` has its value; list it in the machine's
 * event types, e.g. `SideEffectEvent<'token', string>`.
 */
export interface SideEffectEvent<TId extends string = string, T = unknown> {
  type: `squall.sideEffect.${TId}`;
  value: T;
}

/** The decision in scope, as decide() opens it. */
export interface DecisionScope {
  readonly at: Millis;
  /** Who is deciding: the run's identity (see invocation()). */
  invocation?(): Invocation;
  /** Records side effect `id`, running `fn` only when history has no value for it. */
  sideEffect?(id: string, fn: () => unknown): void;
  /** Adds a workflow log line to this decision (workflow-log.ts). */
  log?(level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Where the decision in scope lives: one slot on `globalThis` under a registered symbol, not a
 * module variable. A process can hold two copies of this module (the CLI's own and the `squall`
 * a user's workflow module resolves, or a copy tsx's scoped import loads again); the engine opens
 * the scope in one and the user's `now()` reads it in the other, so both must see one slot (the
 * usual answer to the dual-package hazard). The slot's shape is `DecisionScope`: keep it
 * compatible across versions, or change the key.
 */
const SCOPE_SLOT = Symbol.for('squall.decisionScope.v1');

interface ScopeHolder {
  [SCOPE_SLOT]?: DecisionScope | undefined;
}

const holder = globalThis as typeof globalThis & ScopeHolder;

/** The decision in scope, or undefined outside decide(). */
export function currentScope(): DecisionScope | undefined {
  return holder[SCOPE_SLOT];
}

/**
 * Runs `fn` with the decision's workflow log muted: for probes that evaluate guards without
 * taking a transition (`snapshot.can()`), so a guard that logs is heard once, when it is taken.
 */
export function withoutWorkflowLog<T>(fn: () => T): T {
  const scope = holder[SCOPE_SLOT];
  const log = scope?.log;
  if (!scope || !log) return fn();
  scope.log = () => {};
  try {
    return fn();
  } finally {
    scope.log = log;
  }
}

/** Runs `fn` with `scope` as the current decision (nested calls restore the outer one). */
export function withDecisionScope<T>(scope: DecisionScope, fn: () => T): T {
  const outer = holder[SCOPE_SLOT];
  holder[SCOPE_SLOT] = scope;
  try {
    return fn();
  } finally {
    holder[SCOPE_SLOT] = outer;
  }
}

/**
 * The time of the decision being made: the time its input (signal, activity result, timer
 * firing, start) was recorded. Call it in guards, actions, assign, input and output functions
 * instead of `Date.now()`; replay sees the same value. Throws OutsideDecisionError elsewhere.
 */
export function now(): Millis {
  const current = currentScope();
  if (!current) {
    throw new OutsideDecisionError(
      'now() is only defined while a workflow decision runs (in guards, actions, assign, input or output functions)',
    );
  }
  return current.at;
}

/**
 * The run being decided: its workflowId, runId, type, version, start time and how many times it
 * continued as new. Read in guards, actions, assign, input and output functions like `now()`;
 * every value comes from history, so replay answers the same. Throws OutsideDecisionError elsewhere.
 */
export function invocation(): Invocation {
  const current = currentScope();
  const info = current?.invocation?.();
  if (!info) {
    throw new OutsideDecisionError(
      'invocation() is only defined while a workflow decision runs (in guards, actions, assign, input or output functions)',
    );
  }
  return info;
}

const SIDE_EFFECT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * An action that records a small non-deterministic value once (a random id, a uuid, the host's
 * idea of something): when first decided, `fn` runs and its value is stored in history as
 * `SideEffectRecorded`, then the machine receives `{ type: 'squall.sideEffect.<id>', value }`.
 * Replays (router restarts, `squall replay`) take the recorded value and never call `fn`. `fn`
 * must be quick and synchronous, and its value plain data; an `fn` that throws fails the run.
 * A decision that loses an append race to another router is decided again, so `fn` may run more
 * than once, but only one value is ever recorded and seen. For I/O, use an activity.
 */
export function sideEffect<T>(id: string, fn: () => T): () => void {
  if (typeof id !== 'string' || !SIDE_EFFECT_ID.test(id)) {
    throw new ConfigError(`sideEffect id must be 1 to 64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(id)}`);
  }
  if (typeof fn !== 'function') throw new ConfigError(`sideEffect ${id}: fn must be a function`);
  const action = (): void => {
    const current = currentScope();
    if (!current?.sideEffect) {
      throw new OutsideDecisionError(`sideEffect ${id} ran outside a workflow decision`);
    }
    current.sideEffect(id, fn);
  };
  // XState names inline actions after the function; 'xstate.*' names are reserved for its own.
  Object.defineProperty(action, 'name', { value: `squall.sideEffect.${id}` });
  return action;
}
