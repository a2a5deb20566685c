/**
 * Parses a message the router consumed, once, straight into what the engine's decide() takes
 * plus the ids that route it: a StartInput, or a RunInput whose `decision` is the engine input
 * (less its time and input id, which only the decision knows). A bad message is refused with an
 * InvalidInputError whose `details.reason` names the dead-letter reason.
 */
import { type BranchRequest, parseBranchRequest } from '../../shared/bus/branch-request.js';
import {
  type ChildResultMessage,
  childResultInput,
  validateChildResult,
  validateParentRef,
} from '../../shared/bus/lifecycle-messages.js';
import type { ActivityUpdateMessage, ResultMessage } from '../../shared/bus/messages.js';
import { validateActivityReport, validateFired } from '../../shared/bus/messages.js';
import { parseCallbackToken } from '../../shared/engine/callback.js';
import { validateSignal } from '../../shared/engine/input.js';
import { validateRunTiming } from '../../shared/engine/run-timeouts.js';
import { validateMemo, validateSearchAttributes } from '../../shared/engine/search-attributes.js';
import type { DecisionInput } from '../../shared/engine/types.js';
import type { ErrorInfo } from '../../shared/errors.js';
import { InvalidInputError, PayloadTooLargeError } from '../../shared/errors.js';
import { keyOfEventType, USER_EVENT_PREFIX, USER_EVENT_SIGNAL_TYPE } from '../../shared/events/wait.js';
import { checkPriority, DEFAULT_PRIORITY, OTHER_LEVELS } from '../../shared/flow/priority.js';
import { parseDebounce, parseSingleton, type StartFlow } from '../../shared/flow/spec.js';
import type { MessageFrom, SignalEvent } from '../../shared/history/events.js';
import type { Subjects } from '../../shared/names.js';
import { CALLBACK_OPS, validateToken } from '../../shared/names.js';
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

/**
 * The engine's start input, less what the router decides when it starts the run: the time, the
 * runId and (when the request names none) the workflowId. `signal`: signal-with-start, delivered
 * to the open run of workflowId, or to a new run started for it; `continuedFrom`: set on the
 * start continue-as-new sends; `parent`: set on a child run's start, sent by its parent.
 */
export type StartDecisionInput = Omit<
  Extract<DecisionInput, { kind: 'start' }>,
  'kind' | 'at' | 'workflowId' | 'runId' | 'engine' | 'origin'
>;

/** A start request: the engine's start input plus what routes it (type, id, reuse policy). */
export interface StartInput extends StartDecisionInput {
  kind: 'start';
  workflowType: string;
  workflowId?: string;
  idReusePolicy: IdReusePolicy;
  /** The version to start (a machine child's start, which follows its parent's); latest when absent. */
  version?: number;
  /** Debounce and singleton options of the start (services/router/flow); never reaches the engine. */
  flow?: StartFlow;
  /** Branch, reset or resume: the run is rebuilt from this source's history (branch.ts). */
  from?: BranchRequest;
}

/** Omit over each member of a union (the built-in Omit merges the members). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The engine input an existing run takes, less its time and input id (the decision adds them). */
export type RunDecisionInput = DistributiveOmit<Exclude<DecisionInput, { kind: 'start' }>, 'at' | 'inputId'>;

/**
 * An input for an existing run: what decide() takes, and where it goes. Outside inputs (signal,
 * cancel, terminate) go to the workflowId's current run; engine inputs (results, firings, child
 * outcomes, callbacks) name their run.
 */
export interface RunInput {
  kind: 'run';
  workflowId: string;
  /** The run it is for: set on engine inputs, and on the signal of a signal-with-start (the holder). */
  runId?: string;
  /** A parent's close policy (cancel or terminate of its child): the run must still be its child. */
  byParent?: string;
  decision: RunDecisionInput;
}

/** Every input the router consumes, parsed. */
export type InboundInput = StartInput | RunInput;

/** True for the inputs that come from outside on the inbox (and are named by their message). */
export function isOutsideInput(
  d: RunDecisionInput,
): d is Extract<RunDecisionInput, { kind: 'signal' | 'cancel' | 'terminate' }> {
  return d.kind === 'signal' || d.kind === 'cancel' || d.kind === 'terminate';
}

/**
 * Whether someone may wait on a reply for this input (a signal, cancel or terminate a client sent):
 * a message from another run and a user event's delivery are the engine's own, and nobody waits.
 */
export function isRequestedInput(d: RunDecisionInput): boolean {
  if (!isOutsideInput(d)) return false;
  return d.kind !== 'signal' || (d.from === undefined && keyOfEventType(d.event.type) === undefined);
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
  if (body.version !== undefined) {
    if (typeof body.version !== 'number' || !Number.isSafeInteger(body.version) || body.version < 1) {
      refuse('invalid-input', `start.version must be a positive integer, got ${JSON.stringify(body.version)}`);
    }
    out.version = body.version as number;
  }
  if (body.continuedCount !== undefined) {
    const n = body.continuedCount;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      refuse('invalid-input', `start.continuedCount must be a non-negative integer, got ${JSON.stringify(n)}`);
    }
    out.continuedCount = n;
  }
  if (body.signal !== undefined) {
    if (out.workflowId === undefined) {
      refuse('invalid-input', 'start.signal (signal-with-start) needs a workflowId: it names the run to signal');
    }
    out.signal = parseSignalEvent(body.signal);
    validateSignal(out.signal); // 'squall.*' too: the new run's start would refuse it later
  }
  if (body.memo !== undefined) out.memo = validateMemo(body.memo);
  if (body.searchAttributes !== undefined) out.searchAttributes = validateSearchAttributes(body.searchAttributes);
  Object.assign(out, validateRunTiming(body, 'start'));
  if (body.executionDeadline !== undefined) {
    const at = body.executionDeadline;
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) {
      refuse('invalid-input', `start.executionDeadline must be a millisecond time, got ${JSON.stringify(at)}`);
    }
    out.executionDeadline = at;
  }
  if (body.debounce !== undefined || body.singleton !== undefined) out.flow = parseStartFlow(body, out);
  if (body.priority !== undefined) {
    try {
      out.priority = checkPriority('start.priority', body.priority);
    } catch (err) {
      refuse('invalid-input', (err as Error).message);
    }
  }
  if (body.from !== undefined) {
    const other = ['input', 'signal', 'parent', 'continuedFrom', 'version', 'debounce', 'singleton', 'priority'].find(
      (k) => body[k] !== undefined,
    );
    if (other)
      refuse('invalid-input', `start.from (branch, reset, resume) takes no ${other}: the source's history decides`);
    if (out.workflowId === undefined) refuse('invalid-input', 'start.from needs a workflowId: the run to create');
    out.from = parseBranchRequest(body.from);
    if (out.from.kind !== 'branch' && out.from.workflowId !== out.workflowId) {
      refuse('invalid-input', `start.from: a ${out.from.kind} keeps its workflowId; branch to start another`);
    }
  }
  return out;
}

/** The flow options of a start body (refused with a signal: a signal-with-start must reach its run). */
function parseStartFlow(body: Record<string, unknown>, start: StartInput): StartFlow {
  if (start.signal !== undefined)
    refuse('invalid-input', 'start.debounce and start.singleton do not apply to signal-with-start');
  try {
    return {
      ...(body.debounce !== undefined ? { debounce: parseDebounce(body.debounce) } : {}),
      ...(body.singleton !== undefined ? { singleton: parseSingleton(body.singleton) } : {}),
    };
  } catch (err) {
    return refuse('invalid-input', (err as Error).message);
  }
}

/** Parses a cancel or terminate body `{ reason?, byParent? }` for `workflowId`. */
function parseClose(kind: 'cancel' | 'terminate', workflowId: string, body: unknown): RunInput {
  const b = body === undefined || body === null ? {} : record(body, kind);
  if (b.reason !== undefined && typeof b.reason !== 'string') {
    refuse('invalid-input', `${kind}.reason must be a string, got ${typeof b.reason}`);
  }
  const reason = typeof b.reason === 'string' ? { reason: b.reason } : {};
  const out: RunInput = { kind: 'run', workflowId: id('workflowId', workflowId), decision: { kind, ...reason } };
  if (b.byParent !== undefined) {
    out.byParent = id('runId', b.byParent);
    // The engine records which parent terminated the run; a cancel is the machine's to handle.
    if (kind === 'terminate') out.decision = { kind, ...reason, byParent: out.byParent };
  }
  return out;
}

/**
 * `type` of a signal body that is a message from another run (the outbox's `sendMessage`):
 * `{ type: 'squall.message', from: { workflowId, runId, msgSeq }, event }`.
 */
export const MESSAGE_SIGNAL_TYPE = 'squall.message';

/** A message between runs as it travels on the target's signal subject. */
export interface MessageSignalBody {
  type: typeof MESSAGE_SIGNAL_TYPE;
  from: MessageFrom;
  event: SignalEvent;
}

/** Parses a signal body: an XState event `{ type, ...data }`, a message from another run, or a user event's delivery. */
function parseSignal(workflowId: string, raw: unknown): RunInput {
  const target = id('workflowId', workflowId);
  const body = record(raw, 'signal');
  if (body.type === MESSAGE_SIGNAL_TYPE) return { kind: 'run', workflowId: target, decision: parseMessage(body) };
  if (body.type === USER_EVENT_SIGNAL_TYPE) return parseUserEventDelivery(target, body);
  const event = parseSignalEvent(raw);
  if (event.type.startsWith(USER_EVENT_PREFIX)) {
    refuse('invalid-input', `signal.type ${JSON.stringify(event.type)} is reserved: publish user events by key`);
  }
  return { kind: 'run', workflowId: target, decision: { kind: 'signal', event } };
}

/** A user event's delivery to one run (services/router/events): the run's signal, for that run only. */
function parseUserEventDelivery(workflowId: string, body: Record<string, unknown>): RunInput {
  const runId = id('runId', body.runId);
  const e = record(body.event, 'userEvent.event');
  if (typeof e.type !== 'string' || keyOfEventType(e.type) !== e.key || typeof e.eventId !== 'string') {
    refuse(
      'invalid-input',
      'userEvent.event must be { type: squall.event.<key>, key, eventId, publishedAt, payload? }',
    );
  }
  return { kind: 'run', workflowId, runId, decision: { kind: 'signal', event: e as unknown as SignalEvent } };
}

/** A message's signal body as the engine's signal input with `from`; refused naming the bad field. */
function parseMessage(body: Record<string, unknown>): RunDecisionInput {
  const f = record(body.from, 'message.from');
  const seq = f.msgSeq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
    refuse('invalid-input', `message.from.msgSeq must be a positive integer, got ${JSON.stringify(seq)}`);
  }
  const from: MessageFrom = { workflowId: id('workflowId', f.workflowId), runId: id('runId', f.runId), msgSeq: seq };
  const event = parseSignalEvent(body.event);
  try {
    validateSignal(event); // 'squall.*' too: the engine would refuse it when deciding
  } catch (err) {
    refuse('invalid-input', `message.event: ${(err as Error).message}`);
  }
  return { kind: 'signal', event, from };
}

function parseSignalEvent(raw: unknown): SignalEvent {
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
  return body as SignalEvent;
}

/**
 * Parses a start from its subject, `start.<type>` or at a priority level but the default
 * `start.<level>.<type>` (where routers take it by priority), and its body: the subject's level
 * is the run's priority, and a body naming another is refused.
 */
export function parseStartAt(subjects: Subjects, subject: string, raw: unknown): StartInput {
  const level = subjects.levelOfStart(subject);
  if (level === undefined) {
    refuse(
      'invalid-input',
      `subject ${subject} is not a start's: start.<workflowType>, or start.<level>.<workflowType> with level ${OTHER_LEVELS.join(', ')}`,
    );
  }
  const input = parseStart(subject.slice(subject.lastIndexOf('.') + 1), raw);
  if (level === DEFAULT_PRIORITY) return input;
  if (input.from !== undefined)
    refuse('invalid-input', `start.from (branch, reset, resume) takes no priority level: ${subject}`);
  if (input.priority !== undefined && input.priority !== level) {
    refuse('invalid-input', `start.priority is ${input.priority} but its subject ${subject} is of level ${level}`);
  }
  input.priority = level;
  return input;
}

/** Parses a router input from its subject kind, subject tokens and decoded body. */
export function parseInbound(subjects: Subjects, subject: string, body: unknown): InboundInput {
  const parsed = subjects.parse(subject);
  const token = parsed?.tokens[parsed.tokens.length - 1] ?? '';
  switch (parsed?.kind) {
    case 'start':
      return parseStartAt(subjects, subject, body);
    case 'signal':
      return parseSignal(token, body);
    case 'cancel':
    case 'terminate':
      return parseClose(parsed.kind, token, body);
    case 'child': {
      let m: ChildResultMessage;
      try {
        m = validateChildResult(body);
      } catch (err) {
        return refuse('invalid-input', (err as Error).message);
      }
      return { kind: 'run', workflowId: m.workflowId, runId: m.runId, decision: childResultInput(m) };
    }
    case 'result': {
      const report = validateActivityReport(body);
      const decision = 'update' in report ? updateDecision(report) : resultDecision(report);
      return { kind: 'run', workflowId: report.workflowId, runId: report.runId, decision };
    }
    case 'fired': {
      const f = validateFired(body);
      const decision: RunDecisionInput = { kind: 'timerFired', timerSeq: f.timerSeq };
      return { kind: 'run', workflowId: f.workflowId, runId: f.runId, decision };
    }
    case 'callback':
      return parseCallback(token, body);
    default:
      return refuse('invalid-input', `subject ${subject} is not a router input`);
  }
}

/**
 * Parses `callback.complete` (`{ token, output? }`), `callback.fail` (`{ token, error }`, the
 * error an ErrorInfo-like `{ message, name?, code?, details? }` or a message string) or
 * `callback.heartbeat` (`{ token }`).
 */
export function parseCallback(op: string, raw: unknown): RunInput {
  if (!(CALLBACK_OPS as readonly string[]).includes(op)) {
    refuse('invalid-input', `callback operation must be one of ${CALLBACK_OPS.join(', ')}, got ${JSON.stringify(op)}`);
  }
  const body = record(raw, `callback.${op}`);
  const t = parseCallbackToken(body.token);
  const route = { kind: 'run', workflowId: t.workflowId, runId: t.runId } as const;
  if (op === 'heartbeat') return { ...route, decision: { kind: 'callbackHeartbeat', callbackSeq: t.callbackSeq } };
  if (op === 'fail') {
    const error = callbackError(body.error);
    return { ...route, decision: { kind: 'callbackFailed', callbackSeq: t.callbackSeq, error } };
  }
  const output = body.output === undefined ? {} : { output: body.output };
  return { ...route, decision: { kind: 'callbackCompleted', callbackSeq: t.callbackSeq, ...output } };
}

/** An activity attempt's outcome as its run's engine input. */
function resultDecision(r: ResultMessage): RunDecisionInput {
  if (r.ok) return { kind: 'activityCompleted', activitySeq: r.activitySeq, output: r.output, attempt: r.attempt };
  const failed: Extract<RunDecisionInput, { kind: 'activityFailed' }> = {
    kind: 'activityFailed',
    activitySeq: r.activitySeq,
    error: r.error,
    attempt: r.attempt,
  };
  if (r.retryAfterMs !== undefined) failed.retryAfterMs = r.retryAfterMs;
  if (r.heartbeat !== undefined) failed.heartbeat = r.heartbeat;
  return failed;
}

/** An attempt's start or heartbeat as its run's engine input. */
function updateDecision(u: ActivityUpdateMessage): RunDecisionInput {
  if (u.update === 'started') return { kind: 'activityStarted', activitySeq: u.activitySeq, attempt: u.attempt };
  return u.details === undefined
    ? { kind: 'activityHeartbeat', activitySeq: u.activitySeq, attempt: u.attempt }
    : { kind: 'activityHeartbeat', activitySeq: u.activitySeq, attempt: u.attempt, details: u.details };
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
