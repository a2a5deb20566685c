/**
 * Turns a message the router consumed into a typed input, or refuses it with an
 * InvalidInputError whose `details.reason` names the dead-letter reason.
 */
import type { ActivityUpdateMessage, ResultMessage } from '../bus/messages.js';
import { validateActivityReport, validateFired } from '../bus/messages.js';
import { InvalidInputError, PayloadTooLargeError } from '../errors.js';
import type { SignalEvent } from '../history/events.js';
import type { Subjects } from '../names.js';
import { validateToken } from '../names.js';
import type { IdReusePolicy } from '../store/types.js';

/** Dead-letter reasons (subject tokens of `<prefix>.dlq.<reason>`). */
export type DeadLetterReason =
  | 'undecodable'
  | 'invalid-input'
  | 'invalid-id'
  | 'unknown-type'
  | 'unknown-run'
  | 'oversize'
  | 'closed-run'
  | 'nondeterminism';

/** A start request. */
export interface StartInput {
  kind: 'start';
  workflowType: string;
  workflowId?: string;
  input?: unknown;
  idReusePolicy: IdReusePolicy;
}

/** Every input the router folds into runs. */
export type RouterInput =
  | StartInput
  | { kind: 'signal'; workflowId: string; event: SignalEvent }
  | { kind: 'cancel'; workflowId: string; reason?: string }
  | ({ kind: 'result' } & ResultMessage)
  | ({ kind: 'activityUpdate' } & ActivityUpdateMessage)
  | { kind: 'fired'; runId: string; workflowId: string; timerSeq: number };

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
    case 'cancel': {
      const b = body === undefined || body === null ? {} : record(body, 'cancel');
      if (b.reason !== undefined && typeof b.reason !== 'string') {
        refuse('invalid-input', `cancel.reason must be a string, got ${typeof b.reason}`);
      }
      const out: RouterInput = { kind: 'cancel', workflowId: id('workflowId', token) };
      if (typeof b.reason === 'string') out.reason = b.reason;
      return out;
    }
    case 'result': {
      const report = validateActivityReport(body);
      return 'update' in report ? { kind: 'activityUpdate', ...report } : { kind: 'result', ...report };
    }
    case 'fired': {
      const f = validateFired(body);
      return { kind: 'fired', runId: f.runId, workflowId: f.workflowId, timerSeq: f.timerSeq };
    }
    default:
      return refuse('invalid-input', `subject ${subject} is not a router input`);
  }
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
