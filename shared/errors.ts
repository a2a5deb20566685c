/**
 * Squall's one error hierarchy. Every error that crosses a boundary (NATS reply, history event,
 * client call) is a SquallError with a stable `code`, an explicit `retryable` flag and its cause.
 */

/** Stable machine-readable codes; never renamed once published. */
export type ErrorCode =
  | 'CONFLICT'
  | 'NOT_FOUND'
  | 'ALREADY_STARTED'
  | 'NONDETERMINISM'
  | 'INVALID_INPUT'
  | 'PAYLOAD_TOO_LARGE'
  | 'PAYLOAD_CODEC'
  | 'CORRUPT_HISTORY'
  | 'ACTIVITY_FAILED'
  | 'WORKFLOW_FAILED'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'UNAVAILABLE'
  | 'CONFIG'
  | 'OUTSIDE_DECISION'
  | 'INTERNAL'
  | 'TERMINATED'
  | 'CALLBACK_CLOSED'
  | 'NO_PARENT'
  | 'START_SUPERSEDED'
  | 'START_SKIPPED'
  | 'ATTEMPT_INTERRUPTED';

/** Options shared by every SquallError constructor. */
export interface SquallErrorOptions {
  cause?: unknown;
  /** Extra structured data that helps a caller act on the error. */
  details?: Record<string, unknown>;
  /** Overrides the class default. */
  retryable?: boolean;
}

/** Root of every error Squall throws on purpose. */
export class SquallError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: SquallErrorOptions = {}, retryableDefault = false) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = opts.retryable ?? retryableDefault;
    this.details = opts.details;
  }
}

/** Another writer won a race (duplicate `(runId, seq)`); reload and decide again. */
export class ConflictError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('CONFLICT', message, opts, true);
  }
}

/** A run, workflow type, activity or record that was asked for does not exist. */
export class NotFoundError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('NOT_FOUND', message, opts);
  }
}

/** A start named a workflowId that already has an open run, and the caller asked for an error. */
export class AlreadyStartedError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('ALREADY_STARTED', message, opts);
  }
}

/** Replaying history under the current definition produced different commands than recorded. */
export class NondeterminismError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('NONDETERMINISM', message, opts);
  }
}

/** The caller sent something Squall refuses: bad id, bad shape, undecodable body. */
export class InvalidInputError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions, code: ErrorCode = 'INVALID_INPUT') {
    super(code, message, opts);
  }
}

/** A payload exceeds the configured size limit; refused before anything is written. */
export class PayloadTooLargeError extends InvalidInputError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super(message, opts, 'PAYLOAD_TOO_LARGE');
  }
}

/**
 * A payload cannot be encoded or decoded by the configured payload codecs: a codec or key id it
 * was sealed with is not configured, or its bytes fail authentication. Never names a key.
 */
export class PayloadCodecError extends InvalidInputError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super(message, opts, 'PAYLOAD_CODEC');
  }
}

/** Stored history cannot be read (unknown event type, future encoding version, gap). */
export class CorruptHistoryError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('CORRUPT_HISTORY', message, opts);
  }
}

/** An activity attempt failed; `retryable` says whether the policy may try again. */
export class ActivityFailure extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('ACTIVITY_FAILED', message, opts, true);
  }
}

/** A run ended in failure; raised by `client.result()`. */
export class WorkflowFailedError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('WORKFLOW_FAILED', message, opts);
  }
}

/** A deadline passed. */
export class TimeoutError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('TIMEOUT', message, opts, true);
  }
}

/** Work was cancelled on purpose. */
export class CancelledError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('CANCELLED', message, opts);
  }
}

/** A server (NATS, MongoDB) is unreachable right now; the same call may succeed later. */
export class UnavailableError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('UNAVAILABLE', message, opts, true);
  }
}

/** Configuration is wrong in a way retrying cannot fix (bad URL, missing module). */
export class ConfigError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('CONFIG', message, opts);
  }
}

/**
 * A decision-only helper (`now()`, `sideEffect()`) was used outside decide(): in code that is not
 * a guard, action, assign, input or output function of a workflow machine being decided.
 */
export class OutsideDecisionError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('OUTSIDE_DECISION', message, opts);
  }
}

/** A run that is not a child workflow ran `sendParent`: it has no parent to send to. */
export class NoParentError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('NO_PARENT', message, opts);
  }
}

/** A run was terminated (by a user or its parent's close policy); its machine was not consulted. */
export class TerminatedError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('TERMINATED', message, opts);
  }
}

/** A callback token names a callback that can no longer be completed: done, timed out, cancelled, or its run closed. */
export class CallbackClosedError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('CALLBACK_CLOSED', message, opts);
  }
}

/** A debounced start was superseded by a later start with the same key within its window: it never ran. */
export class StartSupersededError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('START_SUPERSEDED', message, opts);
  }
}

/** A singleton start (mode `skip`) found a run with its key open: it never ran. */
export class StartSkippedError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('START_SKIPPED', message, opts);
  }
}

/**
 * An at-most-once activity attempt whose start was recorded but whose result never came (its
 * executor died mid-way): it is not run again but failed with this, and the retry policy decides.
 */
export class AttemptInterruptedError extends SquallError {
  constructor(message: string, opts?: SquallErrorOptions) {
    super('ATTEMPT_INTERRUPTED', message, opts, true);
  }
}

/** Maximum stack length kept when an error crosses the wire. */
export const MAX_STACK_CHARS = 4000;

/** An error as it is stored in history and sent over NATS. */
export interface ErrorInfo {
  name: string;
  message: string;
  code?: string;
  retryable?: boolean;
  details?: unknown;
  stack?: string;
}

/** Converts anything thrown into a SquallError (keeping a SquallError as it is). */
export function toSquallError(err: unknown): SquallError {
  if (err instanceof SquallError) return err;
  if (err instanceof Error) return new SquallError('INTERNAL', err.message, { cause: err });
  return new SquallError('INTERNAL', describeThrown(err), { cause: err });
}

/** Converts anything thrown into the wire form, keeping name, message, code, details, retryable. */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; details?: unknown; retryable?: unknown };
    const info: ErrorInfo = { name: e.name, message: e.message };
    if (typeof e.code === 'string' || typeof e.code === 'number') info.code = String(e.code);
    if (typeof e.retryable === 'boolean') info.retryable = e.retryable;
    if (e.details !== undefined) info.details = e.details;
    if (e.stack) info.stack = e.stack.slice(0, MAX_STACK_CHARS);
    return info;
  }
  return { name: 'Error', message: describeThrown(err) };
}

/**
 * Rebuilds a SquallError from its wire form. Its details are the sender's under `remote`; a
 * service that passes on another's error as its own answer (`relay`) keeps them as they were, so
 * the caller finds them under `remote` once, as from the service that made the error.
 */
export function fromErrorInfo(info: ErrorInfo, opts: { relay?: boolean } = {}): SquallError {
  const kept = opts.relay && typeof info.details === 'object' && info.details !== null && !Array.isArray(info.details);
  const details =
    info.details === undefined
      ? undefined
      : kept
        ? (info.details as Record<string, unknown>)
        : { remote: info.details };
  const e = new SquallError(knownCode(info.code) ?? 'INTERNAL', info.message, { retryable: info.retryable, details });
  e.name = info.name;
  if (info.stack) e.stack = info.stack;
  return e;
}

const CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'CONFLICT',
  'NOT_FOUND',
  'ALREADY_STARTED',
  'NONDETERMINISM',
  'INVALID_INPUT',
  'PAYLOAD_TOO_LARGE',
  'CORRUPT_HISTORY',
  'ACTIVITY_FAILED',
  'WORKFLOW_FAILED',
  'TIMEOUT',
  'CANCELLED',
  'UNAVAILABLE',
  'CONFIG',
  'OUTSIDE_DECISION',
  'INTERNAL',
  'TERMINATED',
  'CALLBACK_CLOSED',
  'NO_PARENT',
  'START_SUPERSEDED',
  'START_SKIPPED',
  'ATTEMPT_INTERRUPTED',
]);

function knownCode(code: string | undefined): ErrorCode | undefined {
  return code !== undefined && CODES.has(code) ? (code as ErrorCode) : undefined;
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return `non-Error thrown: ${JSON.stringify(value)}`;
  } catch {
    return `non-Error thrown: ${String(value)}`;
  }
}
