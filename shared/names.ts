/**
 * The one place that builds NATS subjects, JetStream stream and consumer names, and MongoDB
 * collection names, and that validates every token that goes into them. Nothing else formats a
 * subject string.
 */
import { InvalidInputError } from './errors.js';

/** Default namespace prefix for subjects, streams and collections. */
export const DEFAULT_PREFIX = 'squall';

/** Longest id accepted in a subject token. */
export const MAX_TOKEN_LENGTH = 256;

// A token never holds `.`, `*`, `>`, whitespace or control characters; we also refuse `/` and `\`
// so ids can name files and stream/consumer names safely.
const FORBIDDEN = /[.*>\s/\\\u0000-\u001f\u007f]/u;
const PREFIX_RE = /^[A-Za-z0-9_-]{1,32}$/;

/** What kind of id a token is, for error messages. */
export type TokenKind = 'workflowId' | 'runId' | 'workflowType' | 'activity' | 'prefix' | 'reason' | 'service';

/** Throws InvalidInputError naming the kind, the value and what was wrong; returns the token. */
export function validateToken(kind: TokenKind, value: unknown): string {
  if (typeof value !== 'string') {
    throw new InvalidInputError(`${kind} must be a string, got ${value === null ? 'null' : typeof value}`, {
      details: { kind },
    });
  }
  if (value.length === 0) throw new InvalidInputError(`${kind} must not be empty`, { details: { kind } });
  if (value.length > MAX_TOKEN_LENGTH) {
    throw new InvalidInputError(`${kind} is ${value.length} characters long; the limit is ${MAX_TOKEN_LENGTH}`, {
      details: { kind },
    });
  }
  const bad = FORBIDDEN.exec(value);
  if (bad) {
    throw new InvalidInputError(
      `${kind} ${JSON.stringify(value)} contains ${JSON.stringify(bad[0])}; ids may not hold '.', '*', '>', '/', '\\', whitespace or control characters`,
      { details: { kind, value } },
    );
  }
  return value;
}

/** Returns true when `value` is a valid subject token. */
export function isValidToken(value: unknown): value is string {
  try {
    validateToken('workflowId', value);
    return true;
  } catch {
    return false;
  }
}

/** Validates a namespace prefix (letters, digits, `_`, `-`; 1 to 32 characters). */
export function validatePrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) {
    throw new InvalidInputError(`prefix ${JSON.stringify(prefix)} must be 1 to 32 letters, digits, '_' or '-'`, {
      details: { kind: 'prefix', value: prefix },
    });
  }
  return prefix;
}

/** Subject builders for one namespace. Every argument is validated. */
export interface Subjects {
  readonly prefix: string;
  start(workflowType: string): string;
  signal(workflowId: string): string;
  cancel(workflowId: string): string;
  /** Ends the open run of a workflowId at once (inbox stream, like cancel). */
  terminate(workflowId: string): string;
  /** A child run closed: its outcome for the parent run (events stream). */
  child(parentRunId: string): string;
  query(workflowId: string): string;
  done(workflowType: string, workflowId: string): string;
  /** Completions filter: `done.<type|*>.<workflowId|*>` (each omitted part is a wildcard). */
  doneFilter(workflowType?: string, workflowId?: string): string;
  emit(workflowId: string): string;
  task(activity: string): string;
  result(runId: string): string;
  /** Notice that an activity (or its attempts up to one) is over: `activity.cancel.<runId>.<activitySeq>`. */
  activityCancel(runId: string, activitySeq: number): string;
  fired(runId: string): string;
  timerSchedule(runId: string): string;
  timerCancel(runId: string): string;
  dlq(reason: string): string;
  health(service: string): string;
  /** Request/reply operations answered by routers: describe, history, list, terminate, ... */
  api(op: string): string;
  /** Core notification a router publishes once it has processed a start for a workflowId. */
  started(workflowId: string): string;
  /** Completion (`complete`) or failure (`fail`) of a callback by its token (in the body). */
  callback(op: 'complete' | 'fail'): string;
  /** Wildcards used by stream configs and subscriptions. */
  readonly all: {
    start: string;
    signal: string;
    cancel: string;
    terminate: string;
    child: string;
    query: string;
    done: string;
    emit: string;
    task: string;
    result: string;
    activityCancel: string;
    fired: string;
    timer: string;
    dlq: string;
    api: string;
    callback: string;
  };
  /** Splits an inbound subject into its kind and trailing token(s); undefined if not ours. */
  parse(subject: string): ParsedSubject | undefined;
}

/** A subject taken apart. `tokens` are the tokens after the kind. */
export interface ParsedSubject {
  kind:
    | 'start'
    | 'signal'
    | 'cancel'
    | 'terminate'
    | 'child'
    | 'query'
    | 'done'
    | 'emit'
    | 'task'
    | 'result'
    | 'activity'
    | 'fired'
    | 'timer'
    | 'dlq'
    | 'health'
    | 'callback';
  tokens: string[];
}

const KINDS: ReadonlySet<string> = new Set([
  'start',
  'signal',
  'cancel',
  'terminate',
  'child',
  'query',
  'done',
  'emit',
  'task',
  'result',
  'activity',
  'fired',
  'timer',
  'dlq',
  'health',
  'api',
  'started',
  'callback',
]);

/** Builds the subject set for a prefix (default `squall`). */
export function subjects(prefix: string = DEFAULT_PREFIX): Subjects {
  const p = validatePrefix(prefix);
  return {
    prefix: p,
    start: (t) => `${p}.start.${validateToken('workflowType', t)}`,
    signal: (id) => `${p}.signal.${validateToken('workflowId', id)}`,
    cancel: (id) => `${p}.cancel.${validateToken('workflowId', id)}`,
    terminate: (id) => `${p}.terminate.${validateToken('workflowId', id)}`,
    child: (r) => `${p}.child.${validateToken('runId', r)}`,
    query: (id) => `${p}.query.${validateToken('workflowId', id)}`,
    done: (t, id) => `${p}.done.${validateToken('workflowType', t)}.${validateToken('workflowId', id)}`,
    doneFilter: (t, id) =>
      t === undefined && id === undefined
        ? `${p}.done.>`
        : `${p}.done.${t === undefined ? '*' : validateToken('workflowType', t)}.${id === undefined ? '*' : validateToken('workflowId', id)}`,
    emit: (id) => `${p}.emit.${validateToken('workflowId', id)}`,
    task: (a) => `${p}.task.${validateToken('activity', a)}`,
    result: (r) => `${p}.result.${validateToken('runId', r)}`,
    activityCancel: (r, seq) => {
      if (!Number.isSafeInteger(seq) || seq < 0) {
        throw new InvalidInputError(`activitySeq must be a non-negative integer, got ${String(seq)}`);
      }
      return `${p}.activity.cancel.${validateToken('runId', r)}.${seq}`;
    },
    fired: (r) => `${p}.fired.${validateToken('runId', r)}`,
    timerSchedule: (r) => `${p}.timer.schedule.${validateToken('runId', r)}`,
    timerCancel: (r) => `${p}.timer.cancel.${validateToken('runId', r)}`,
    dlq: (reason) => `${p}.dlq.${validateToken('reason', reason)}`,
    health: (s) => `${p}.health.${validateToken('service', s)}`,
    api: (op) => `${p}.api.${validateToken('service', op)}`,
    started: (id) => `${p}.started.${validateToken('workflowId', id)}`,
    callback: (op) => {
      if (op !== 'complete' && op !== 'fail') {
        throw new InvalidInputError(`callback operation must be complete or fail, got ${JSON.stringify(op)}`);
      }
      return `${p}.callback.${op}`;
    },
    all: {
      start: `${p}.start.*`,
      signal: `${p}.signal.*`,
      cancel: `${p}.cancel.*`,
      terminate: `${p}.terminate.*`,
      child: `${p}.child.*`,
      query: `${p}.query.*`,
      done: `${p}.done.>`,
      emit: `${p}.emit.*`,
      task: `${p}.task.*`,
      result: `${p}.result.*`,
      activityCancel: `${p}.activity.cancel.>`,
      fired: `${p}.fired.*`,
      timer: `${p}.timer.>`,
      dlq: `${p}.dlq.*`,
      api: `${p}.api.*`,
      callback: `${p}.callback.*`,
    },
    parse(subject) {
      const parts = subject.split('.');
      if (parts.length < 2 || parts[0] !== p) return undefined;
      const kind = parts[1] as ParsedSubject['kind'];
      if (!KINDS.has(kind)) return undefined;
      return { kind, tokens: parts.slice(2) };
    },
  };
}

/** JetStream stream names for one namespace. */
export interface StreamNames {
  /** User inputs: start, signal, cancel. `no_ack`, so a core request is answered by a router. */
  inbox: string;
  /** Engine inputs to the router: activity results and timer firings. */
  events: string;
  /** Activity tasks, work-queue retention, one consumer per activity. */
  tasks: string;
  /** Timer schedules and cancels for the timer services. */
  timers: string;
  /** Completions and emitted events, kept for late readers. */
  outcomes: string;
  /** Dead letters with their reason. */
  dlq: string;
  /** Activity cancel notices, the last one per activity kept, so executors can check a task is still wanted. */
  notices: string;
}

/** Stream names for a prefix: `SQUALL_INBOX`, ... */
export function streamNames(prefix: string = DEFAULT_PREFIX): StreamNames {
  const p = validatePrefix(prefix).toUpperCase();
  return {
    inbox: `${p}_INBOX`,
    events: `${p}_EVENTS`,
    tasks: `${p}_TASKS`,
    timers: `${p}_TIMERS`,
    outcomes: `${p}_OUTCOMES`,
    dlq: `${p}_DLQ`,
    notices: `${p}_NOTICES`,
  };
}

/** Durable consumer names. */
export const consumerNames = {
  router: 'router',
  timer: 'timer',
  /** One shared durable per activity type, so every executor pulls from the same queue. */
  activity: (activity: string): string => `activity_${validateToken('activity', activity)}`,
} as const;

/** MongoDB collection names for a collection prefix (default `squall`). */
export interface CollectionNames {
  commits: string;
  runs: string;
  workflowIds: string;
  timers: string;
}

/** Collection names: `<prefix>_commits`, `<prefix>_runs`, ... */
export function collectionNames(prefix: string = DEFAULT_PREFIX): CollectionNames {
  const p = validatePrefix(prefix);
  return {
    commits: `${p}_commits`,
    runs: `${p}_runs`,
    workflowIds: `${p}_workflow_ids`,
    timers: `${p}_timers`,
  };
}
