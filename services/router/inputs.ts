/**
 * Turns a message the router consumed into a typed input, or refuses it with an
 * InvalidInputError whose `details.reason` names the dead-letter reason.
 */
import {
  type ChildResultMessage,
  type ParentRef,
  validateChildResult,
  validateParentRef,
} from '../../shared/bus/lifecycle-messages.js';
import type { ActivityUpdateMessage, ResultMessage } from '../../shared/bus/messages.js';
import { validateActivityReport, validateFired } from '../../shared/bus/messages.js';
import { parseCallbackToken } from '../../shared/engine/callback.js';
import { validateSignal } from '../../shared/engine/input.js';
import { validateMemo, validateSearchAttributes } from '../../shared/engine/search-attributes.js';
import type { ErrorInfo } from '../../shared/errors.js';
import { InvalidInputError, PayloadTooLargeError } from '../../shared/errors.js';
import type { SearchAttributes, SignalEvent } from '../../shared/history/events.js';
import type { Subjects } from '../../shared/names.js';
import { validateToken } from '../../shared/names.js';
import type { IdReusePolicy } from '../../shared/store/types.js';

/** Dead-letter reasons (subject tokens of `<prefix>.dlq.<reason>`). */
export type DeadLetterReason =
  | 'undecodable'
  | 'invalid-input'
  | 'invalid-id'
  | 'unknown-type'
  | 'unknown-run'
  | 'oversize'
  | 'closed-run'
  | 'nondeterminism'
  | 'callback-closed';

/** A start request. */
export interface StartInput {
  kind: 'start';
  workflowType: string;
  workflowId?: string;
  input?: unknown;
  idReusePolicy: IdReusePolicy;
  /** Set on a child run's start, sent by its parent. */
  parent?: ParentRef;
  /** Set on the start continue-as-new sends: the run it continues. */
  continuedFrom?: string;
  /** Signal-with-start: delivered to the open run of workflowId, or to a new run started for it. */
  signal?: SignalEvent;
  memo?: Record<string, unknown>;
  searchAttributes?: SearchAttributes;
}

/** Every input the router folds into runs. */
export type RouterInput =
  | StartInput
  | { kind: 'signal'; workflowId: string; event: SignalEvent /** This run, not the latest one. */; runId?: string }
  | { kind: 'cancel'; workflowId: string; reason?: string; byParent?: string }
  | { kind: 'terminate'; workflowId: string; reason?: string; byParent?: string }
  | ({ kind: 'child' } & ChildResultMessage)
  | ({ kind: 'result' } & ResultMessage)
  | ({ kind: 'activityUpdate' } & ActivityUpdateMessage)
  | { kind: 'fired'; runId: string; workflowId: string; timerSeq: number }
  | CallbackInput;

/** An outside completion (`error` absent) or failure of a callback, named by its token. */
export interface CallbackInput {
  kind: 'callback';
  workflowId: string;
  runId: string;
  callbackSeq: number;
  output?: unknown;
  error?: ErrorInfo;
}

const POLICIES: ReadonlySet<string> = new Set<IdReusePolicy>([
  'returnExisting',
  'rejectWhileOpen',
  'allowAfterClose',
  'rejectDuplicate',
]);

function refuse(reason: DeadLetterReason, message: string): never {
  throw new InvalidInputError(message, { details: { reason } });
}

function record(body: unknown, what: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    refuse('invalid-input', `${what} body must be an object, got ${Array.isArray(body) ? 'array' : typeof body}`);
  }
  return body as Record<string, unknown>;
}

function id(kind: 'workflowId' | 'runId' | 'workflowType', value: unknown): string {
  try {
    return validateToken(kind, value);
  } catch (err) {
    return refuse('invalid-id', (err as Error).message);
  }
}

/** The dead-letter reason an error carries, defaulting to `invalid-input`. */
export function deadLetterReason(err: unknown): DeadLetterReason {
  const reason = (err as { details?: { reason?: unknown } })?.details?.reason;
  return typeof reason === 'string' ? (reason as DeadLetterReason) : 'invalid-input';
}

/** Parses a start body for `workflowType` (the subject's last token). */
export function parseStart(workflowType: string, raw: unknown): StartInput {
  const type = id('workflowType', workflowType);
  const body = raw === undefined || raw === null ? {} : record(raw, 'start');
  const policy = body.idReusePolicy ?? 'returnExisting';
  if (typeof policy !== 'string' || !POLICIES.has(policy)) {
    refuse(
      'invalid-input',
      `start.idReusePolicy must be one of ${[...POLICIES].join(', ')}, got ${JSON.stringify(policy)}`,
    );
  }
  const out: StartInput = { kind: 'start', workflowType: type, idReusePolicy: policy as IdReusePolicy };
  if (body.workflowId !== undefined) out.workflowId = id('workflowId', body.workflowId);
  if (body.input !== undefined) out.input = body.input;
  if (body.parent !== undefined) {
    try {
      out.parent = validateParentRef(body.parent);
    } catch (err) {
      refuse('invalid-input', (err as Error).message);
    }
  }
  if (body.continuedFrom !== undefined) out.continuedFrom = id('runId', body.continuedFrom);
  if (body.signal !== undefined) {
    if (out.workflowId === undefined) {
      refuse('invalid-input', 'start.signal (signal-with-start) needs a workflowId: it names the run to signal');
    }
    out.signal = (parseSignal(out.workflowId, body.signal) as { event: SignalEvent }).event;
    validateSignal(out.signal); // 'squall.*' too: the new run's start would refuse it later
  }
  if (body.memo !== undefined) out.memo = validateMemo(body.memo);
  if (body.searchAttributes !== undefined) out.searchAttributes = validateSearchAttributes(body.searchAttributes);
  return out;
}

/** Parses a cancel or terminate body `{ reason?, byParent? }` for `workflowId`. */
function parseClose(kind: 'cancel' | 'terminate', workflowId: string, body: unknown): RouterInput {
  const b = body === undefined || body === null ? {} : record(body, kind);
  if (b.reason !== undefined && typeof b.reason !== 'string') {
    refuse('invalid-input', `${kind}.reason must be a string, got ${typeof b.reason}`);
  }
  const out: Extract<RouterInput, { kind: 'cancel' | 'terminate' }> = {
    kind,
    workflowId: id('workflowId', workflowId),
  };
  if (typeof b.reason === 'string') out.reason = b.reason;
  if (b.byParent !== undefined) out.byParent = id('runId', b.byParent);
  return out;
}

/** Parses a signal body: an XState event `{ type, ...data }`. */
export function parseSignal(workflowId: string, raw: unknown): RouterInput {
  const body = record(raw, 'signal');
  if (typeof body.type !== 'string' || body.type.length === 0) {
    refuse('invalid-input', `signal.type must be a non-empty string, got ${JSON.stringify(body.type)}`);
  }
  if (body.type.startsWith('xstate.')) {
    refuse(
      'invalid-input',
      `signal.type ${JSON.stringify(body.type)} is reserved: 'xstate.*' events come from the engine`,
    );
  }
  return { kind: 'signal', workflowId: id('workflowId', workflowId), event: body as SignalEvent };
}

/** Parses a router input from its subject kind, subject tokens and decoded body. */
export function parseRouterInput(subjects: Subjects, subject: string, body: unknown): RouterInput {
  const parsed = subjects.parse(subject);
  const token = parsed?.tokens[parsed.tokens.length - 1] ?? '';
  switch (parsed?.kind) {
    case 'start':
      return parseStart(token, body);
    case 'signal':
      return parseSignal(token, body);
    case 'cancel':
    case 'terminate':
      return parseClose(parsed.kind, token, body);
    case 'child':
      try {
        return { kind: 'child', ...validateChildResult(body) };
      } catch (err) {
        return refuse('invalid-input', (err as Error).message);
      }
    case 'result': {
      const report = validateActivityReport(body);
      return 'update' in report ? { kind: 'activityUpdate', ...report } : { kind: 'result', ...report };
    }
    case 'fired': {
      const f = validateFired(body);
      return { kind: 'fired', runId: f.runId, workflowId: f.workflowId, timerSeq: f.timerSeq };
    }
    case 'callback':
      return parseCallback(token, body);
    default:
      return refuse('invalid-input', `subject ${subject} is not a router input`);
  }
}

/**
 * Parses `callback.complete` (`{ token, output? }`) or `callback.fail` (`{ token, error }`, the
 * error an ErrorInfo-like `{ message, name?, code?, details? }` or a message string).
 */
export function parseCallback(op: string, raw: unknown): CallbackInput {
  if (op !== 'complete' && op !== 'fail') {
    refuse('invalid-input', `callback operation must be complete or fail, got ${JSON.stringify(op)}`);
  }
  const body = record(raw, `callback.${op}`);
  const t = parseCallbackToken(body.token);
  const out: CallbackInput = { kind: 'callback', workflowId: t.workflowId, runId: t.runId, callbackSeq: t.callbackSeq };
  if (op === 'complete') {
    if (body.output !== undefined) out.output = body.output;
    return out;
  }
  out.error = callbackError(body.error);
  return out;
}

function callbackError(raw: unknown): ErrorInfo {
  if (typeof raw === 'string' && raw.length > 0) return { name: 'Error', message: raw };
  const e = raw as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null || Array.isArray(e) || typeof e.message !== 'string') {
    return refuse(
      'invalid-input',
      'callback.fail needs error: a message string or { message, name?, code?, details? }',
    );
  }
  const info: ErrorInfo = { name: typeof e.name === 'string' && e.name ? e.name : 'Error', message: e.message };
  if (typeof e.code === 'string') info.code = e.code;
  if (e.details !== undefined) info.details = e.details;
  return info;
}

/** Refuses a body larger than the router accepts, before decoding it. */
export function checkInputSize(subject: string, data: Uint8Array, maxBytes: number): void {
  if (data.length > maxBytes) {
    throw new PayloadTooLargeError(
      `message on ${subject} is ${data.length} bytes; the router accepts at most ${maxBytes}`,
      {
        details: { reason: 'oversize', bytes: data.length, limit: maxBytes },
      },
    );
  }
}
