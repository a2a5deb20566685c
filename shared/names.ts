/**
 * The one place that builds NATS subjects, JetStream stream and consumer names, and MongoDB
 * collection names, and that validates every token that goes into them. Nothing else formats a
 * subject string.
 */
import { InvalidInputError } from './errors.js';
import { checkPriority, DEFAULT_PRIORITY, OTHER_LEVELS } from './flow/priority.js';

/** Default namespace prefix for subjects, streams and collections. */
export const DEFAULT_PREFIX = 'squall';

/** Longest id accepted in a subject token. */
export const MAX_TOKEN_LENGTH = 256;

// A token never holds `.`, `*`, `>`, whitespace or control characters; we also refuse `/` and `\`
// so ids can name files and stream/consumer names safely.
const FORBIDDEN = /[.*>\s/\\\u0000-\u001f\u007f]/u;
const PREFIX_RE = /^[A-Za-z0-9_-]{1,32}$/;

/** What kind of id a token is, for error messages. */
export type TokenKind =
  | 'workflowId'
  | 'runId'
  | 'workflowType'
  | 'activity'
  | 'prefix'
  | 'reason'
  | 'service'
  | 'eventKey'
  | 'blobId';

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

/**
 * Partitions of the events stream. Every result, firing and child outcome of a run goes to the
 * partition its runId hashes to, and each partition is consumed by one router at a time (see
 * router-partitions.ts), so a run's inputs meet its hot cached state and appends do not race.
 * Every service must agree on it: changing it re-partitions runs with inputs in flight.
 */
export const EVENT_PARTITIONS = 16;

/** The events partition of a run: FNV-1a of its runId, modulo EVENT_PARTITIONS. */
export function eventPartition(runId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < runId.length; i++) {
    h ^= runId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % EVENT_PARTITIONS;
}

function checkPartition(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n >= EVENT_PARTITIONS) {
    throw new InvalidInputError(`event partition must be an integer from 0 to ${EVENT_PARTITIONS - 1}, got ${n}`);
  }
  return n;
}

/** What an outside system does to a callback, by its token: the last token of its subject. */
export const CALLBACK_OPS = ['complete', 'fail', 'heartbeat'] as const;
/** One of CALLBACK_OPS. */
export type CallbackOp = (typeof CALLBACK_OPS)[number];

/** Subject builders for one namespace. Every argument is validated. */
export interface Subjects {
  readonly prefix: string;
  start(workflowType: string): string;
  /**
   * The subject of a start at a priority level: `start.<type>` for the default level (the
   * unprioritised path), `start.<level>.<type>` for the others (the type stays the last token).
   */
  startAt(workflowType: string, priority: number): string;
  /** The starts of one level but the default, `start.<level>.*`: a stream subject and a router durable's filter. */
  startLevel(priority: number): string;
  /** The priority level of a start subject (the default for `start.<type>`); undefined if not a start's. */
  levelOfStart(subject: string): number | undefined;
  signal(workflowId: string): string;
  cancel(workflowId: string): string;
  /** Ends the open run of a workflowId at once (inbox stream, like cancel). */
  terminate(workflowId: string): string;
  /** A child run closed: its outcome for the parent run (events stream, the parent's partition). */
  child(parentRunId: string): string;
  query(workflowId: string): string;
  done(workflowType: string, workflowId: string): string;
  /** Completions filter: `done.<type|*>.<workflowId|*>` (each omitted part is a wildcard). */
  doneFilter(workflowType?: string, workflowId?: string): string;
  emit(workflowId: string): string;
  task(activity: string): string;
  /**
   * The subject of an activity's tasks at a priority level: `task.<activity>` for the default
   * level (the unprioritised path), `task.<activity>.<level>` for the others.
   */
  taskAt(activity: string, priority: number): string;
  /** Every non-default priority level of an activity's tasks: `task.<activity>.*`. */
  taskLevelsOf(activity: string): string;
  /**
   * The tasks stream's keeper, `task./keeper`: one message no activity's durable takes (an activity
   * name never holds `/`), kept so the work queue never drains empty (see ensureTasksKeeper).
   */
  tasksKeeper(): string;
  /** An activity's result or progress: `event.<partition>.result.<runId>` (see eventPartition). */
  result(runId: string): string;
  /**
   * A result sent straight to the router holding its run's partition, a core request:
   * `direct.<partition>.<runId>` (see shared/bus/direct-results.ts).
   */
  directResult(runId: string): string;
  /** Every direct result of one partition, `direct.<partition>.*`: what the partition's holder answers. */
  directResultsOfPartition(partition: number): string;
  /** Notice that an activity (or its attempts up to one) is over: `activity.cancel.<runId>.<activitySeq>`. */
  activityCancel(runId: string, activitySeq: number): string;
  /** A timer came due: `event.<partition>.fired.<runId>` (see eventPartition). */
  fired(runId: string): string;
  /** Every events-stream subject of one partition (`<prefix>.event.<partition>.*.*`): one router consumer's filter. */
  eventsOfPartition(partition: number): string;
  /** Core subject on which routers announce themselves to share the event partitions. */
  routerPresence(): string;
  timerSchedule(runId: string): string;
  timerCancel(runId: string): string;
  dlq(reason: string): string;
  health(service: string): string;
  /** Request/reply operations answered by routers: describe, history, list, terminate, ... */
  api(op: string): string;
  /** Request/reply operations on schedules, answered by timer services: create, update, list, ... */
  schedule(op: string): string;
  /** Request/reply answered by routers: their definitions' graphs, or a run's path (the console reads it). */
  definitions(): string;
  /** Core notification a router publishes once it has processed a start for a workflowId. */
  started(workflowId: string): string;
  /** Core notification a router publishes once a signal, cancel or terminate is in its run's history. */
  taken(workflowId: string): string;
  /**
   * A user event published by key (docs/events.md): `<prefix>.userevent.<key>`. Not `events`:
   * one letter from the engine's internal `<prefix>.event.<partition>...` subjects.
   */
  userEvent(key: string): string;
  /** Completion (`complete`), failure (`fail`) or heartbeat (`heartbeat`) of a callback by its token (in the body). */
  callback(op: CallbackOp): string;
  /** Chunk `n` of a large message payload stored out of band: `<prefix>.blob.<blobId>.<n>`. */
  blobChunk(blobId: string, n: number): string;
  /** Wildcards used by stream configs and subscriptions. */
  readonly all: {
    start: string;
    /** Starts of every level but the default: `<prefix>.start.*.*`. */
    startLevels: string;
    /**
     * Every inbox subject but the prioritised starts, `<prefix>.*.*` (each of them has three
     * tokens): the filter of the routers' shared inbox durable.
     */
    inboxDefaultLevel: string;
    signal: string;
    cancel: string;
    terminate: string;
    child: string;
    query: string;
    done: string;
    emit: string;
    task: string;
    /** Tasks of the non-default priority levels: `<prefix>.task.*.*`. */
    taskLevels: string;
    result: string;
    /** Every direct result: `<prefix>.direct.*.*`. */
    directResult: string;
    /** Every events-stream subject: `<prefix>.event.<partition>.<result|fired|child>.<runId>`. */
    events: string;
    activityCancel: string;
    fired: string;
    timer: string;
    dlq: string;
    api: string;
    schedule: string;
    callback: string;
    /** Every user event: `<prefix>.userevent.*`. */
    userEvent: string;
    /** Every chunk of every out-of-band payload: `<prefix>.blob.>`. */
    blob: string;
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
    | 'callback'
    | 'userevent';
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
  'taken',
  'callback',
  'userevent',
]);

/** What the events stream carries. */
type EventKind = 'result' | 'fired' | 'child';
const EVENT_KINDS: ReadonlySet<string> = new Set<EventKind>(['result', 'fired', 'child']);

/** Builds the subject set for a prefix (default `squall`). */
export function subjects(prefix: string = DEFAULT_PREFIX): Subjects {
  const p = validatePrefix(prefix);
  const eventSubject = (kind: EventKind, runId: string): string =>
    `${p}.event.${eventPartition(validateToken('runId', runId))}.${kind}.${runId}`;
  return {
    prefix: p,
    start: (t) => `${p}.start.${validateToken('workflowType', t)}`,
    startAt: (t, level) =>
      level === DEFAULT_PRIORITY
        ? `${p}.start.${validateToken('workflowType', t)}`
        : `${p}.start.${checkPriority('priority', level)}.${validateToken('workflowType', t)}`,
    startLevel: (level) => `${p}.start.${checkOtherLevel(level)}.*`,
    levelOfStart: (subject) => {
      const parts = subject.split('.');
      if (parts[0] !== p || parts[1] !== 'start') return undefined;
      if (parts.length === 3) return DEFAULT_PRIORITY;
      const level = Number(parts[2]);
      return parts.length === 4 && OTHER_LEVELS.includes(level) && String(level) === parts[2] ? level : undefined;
    },
    signal: (id) => `${p}.signal.${validateToken('workflowId', id)}`,
    cancel: (id) => `${p}.cancel.${validateToken('workflowId', id)}`,
    terminate: (id) => `${p}.terminate.${validateToken('workflowId', id)}`,
    child: (r) => eventSubject('child', r),
    query: (id) => `${p}.query.${validateToken('workflowId', id)}`,
    done: (t, id) => `${p}.done.${validateToken('workflowType', t)}.${validateToken('workflowId', id)}`,
    doneFilter: (t, id) =>
      t === undefined && id === undefined
        ? `${p}.done.>`
        : `${p}.done.${t === undefined ? '*' : validateToken('workflowType', t)}.${id === undefined ? '*' : validateToken('workflowId', id)}`,
    emit: (id) => `${p}.emit.${validateToken('workflowId', id)}`,
    task: (a) => `${p}.task.${validateToken('activity', a)}`,
    taskAt: (a, level) =>
      level === DEFAULT_PRIORITY
        ? `${p}.task.${validateToken('activity', a)}`
        : `${p}.task.${validateToken('activity', a)}.${checkPriority('priority', level)}`,
    taskLevelsOf: (a) => `${p}.task.${validateToken('activity', a)}.*`,
    tasksKeeper: () => `${p}.task./keeper`,
    result: (r) => eventSubject('result', r),
    directResult: (r) => `${p}.direct.${eventPartition(validateToken('runId', r))}.${r}`,
    directResultsOfPartition: (n) => `${p}.direct.${checkPartition(n)}.*`,
    activityCancel: (r, seq) => {
      if (!Number.isSafeInteger(seq) || seq < 0) {
        throw new InvalidInputError(`activitySeq must be a non-negative integer, got ${String(seq)}`);
      }
      return `${p}.activity.cancel.${validateToken('runId', r)}.${seq}`;
    },
    fired: (r) => eventSubject('fired', r),
    eventsOfPartition: (n) => `${p}.event.${checkPartition(n)}.*.*`,
    routerPresence: () => `${p}.presence.router`,
    timerSchedule: (r) => `${p}.timer.schedule.${validateToken('runId', r)}`,
    timerCancel: (r) => `${p}.timer.cancel.${validateToken('runId', r)}`,
    dlq: (reason) => `${p}.dlq.${validateToken('reason', reason)}`,
    health: (s) => `${p}.health.${validateToken('service', s)}`,
    api: (op) => `${p}.api.${validateToken('service', op)}`,
    schedule: (op) => `${p}.schedule.${validateToken('service', op)}`,
    definitions: () => `${p}.definitions`,
    started: (id) => `${p}.started.${validateToken('workflowId', id)}`,
    taken: (id) => `${p}.taken.${validateToken('workflowId', id)}`,
    userEvent: (key) => `${p}.userevent.${validateToken('eventKey', key)}`,
    callback: (op) => {
      if (!CALLBACK_OPS.includes(op)) {
        throw new InvalidInputError(
          `callback operation must be one of ${CALLBACK_OPS.join(', ')}, got ${JSON.stringify(op)}`,
        );
      }
      return `${p}.callback.${op}`;
    },
    blobChunk: (id, n) => `${p}.blob.${validateToken('blobId', id)}.${checkChunk(n)}`,
    all: {
      start: `${p}.start.*`,
      startLevels: `${p}.start.*.*`,
      inboxDefaultLevel: `${p}.*.*`,
      signal: `${p}.signal.*`,
      cancel: `${p}.cancel.*`,
      terminate: `${p}.terminate.*`,
      child: `${p}.event.*.child.*`,
      query: `${p}.query.*`,
      done: `${p}.done.>`,
      emit: `${p}.emit.*`,
      task: `${p}.task.*`,
      taskLevels: `${p}.task.*.*`,
      result: `${p}.event.*.result.*`,
      directResult: `${p}.direct.*.*`,
      events: `${p}.event.*.*.*`,
      activityCancel: `${p}.activity.cancel.>`,
      fired: `${p}.event.*.fired.*`,
      timer: `${p}.timer.>`,
      dlq: `${p}.dlq.*`,
      api: `${p}.api.*`,
      schedule: `${p}.schedule.*`,
      callback: `${p}.callback.*`,
      userEvent: `${p}.userevent.*`,
      blob: `${p}.blob.>`,
    },
    parse(subject) {
      const parts = subject.split('.');
      if (parts.length < 2 || parts[0] !== p) return undefined;
      if (parts[1] === 'event') {
        // `<prefix>.event.<partition>.<kind>.<runId>`
        const kind = parts[3] as EventKind;
        return parts.length === 5 && EVENT_KINDS.has(kind) ? { kind, tokens: parts.slice(4) } : undefined;
      }
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
  /** User events by key (`userevent.*`), fanned out by routers to the runs waiting on them. */
  userEvents: string;
  /** Chunks of message payloads over the offload threshold (`blob.>`), see shared/payload/blobs.ts. */
  blobs: string;
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
    userEvents: `${p}_USEREVENTS`,
    blobs: `${p}_BLOBS`,
  };
}

/** Durable consumer names. */
export const consumerNames = {
  /** The routers' shared durable on the inbox stream (every input but the prioritised starts). */
  router: 'router',
  /** The routers' shared durable of the starts at a priority level: `router` for the default level, `router_prio<level>` for the others. */
  routerAt: (priority: number): string =>
    priority === DEFAULT_PRIORITY ? 'router' : `router_prio${checkPriority('priority', priority)}`,
  /** The durable of one events partition, consumed by the router that holds the partition. */
  routerEvents: (partition: number): string => `router_events_${checkPartition(partition)}`,
  timer: 'timer',
  /** The routers' shared durable on the user events stream: the fan-out of events by key. */
  eventFanout: 'event_fanout',
  /** One shared durable per activity type, so every executor pulls from the same queue. */
  activity: (activity: string): string => `activity_${validateToken('activity', activity)}`,
  /**
   * The durable of one activity at a priority level: `activity` for the default level,
   * `prio<level>_<activity>` for the others (a stem no default-level name starts with).
   */
  activityAt: (activity: string, priority: number): string =>
    priority === DEFAULT_PRIORITY
      ? `activity_${validateToken('activity', activity)}`
      : `prio${checkPriority('priority', priority)}_${validateToken('activity', activity)}`,
} as const;

/** A priority level but the default (which has no subject or durable of its own); InvalidInputError otherwise. */
function checkOtherLevel(level: number): number {
  checkPriority('priority', level);
  if (level === DEFAULT_PRIORITY) {
    throw new InvalidInputError(`priority ${level} is the default level: it has no subject of its own`, {
      details: { field: 'priority', value: level },
    });
  }
  return level;
}

function checkChunk(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidInputError(`blob chunk must be a non-negative integer, got ${String(n)}`);
  return n;
}

/** MongoDB collection names for a collection prefix (default `squall`). */
export interface CollectionNames {
  commits: string;
  /** One entry per stored commit whose commands may not be published yet (see CommitStore). */
  outbox: string;
  runs: string;
  workflowIds: string;
  timers: string;
  /** Schedule specs, and timer services' progress through them (see shared/schedules). */
  schedules: string;
  scheduleStates: string;
  /** The index of runs waiting on user events: one document per (run, key) (see shared/store/events.ts). */
  eventWaits: string;
  /** The workflow versions routers hold (see shared/store/versions.ts). */
  versions: string;
  /** Chunks of stored payloads over the offload threshold (see shared/payload/blobs.ts). */
  blobs: string;
  /** The retention sweeper's cursor (see shared/store/retention.ts). */
  sweeps: string;
}

/** Collection names: `<prefix>_commits`, `<prefix>_runs`, ... */
export function collectionNames(prefix: string = DEFAULT_PREFIX): CollectionNames {
  const p = validatePrefix(prefix);
  return {
    commits: `${p}_commits`,
    outbox: `${p}_outbox`,
    runs: `${p}_runs`,
    workflowIds: `${p}_workflow_ids`,
    timers: `${p}_timers`,
    schedules: `${p}_schedules`,
    scheduleStates: `${p}_schedule_states`,
    eventWaits: `${p}_event_waits`,
    versions: `${p}_versions`,
    blobs: `${p}_blobs`,
    sweeps: `${p}_sweeps`,
  };
}
