/**
 * JetStream streams and durable consumers, created or updated idempotently by whichever service
 * starts first. Every setting is chosen here, in one place:
 *
 * | stream     | subjects                          | retention  | max age | notes                              |
 * | ---------- | --------------------------------- | ---------- | ------- | ---------------------------------- |
 * | `inbox`    | `start.*`, `start.<priority>.*`, `signal.*`, `cancel.*`, `terminate.*` | limits | 7 d | `no_ack`: core requests get the router's reply, not a PubAck; a router durable per start level |
 * | `events`   | `event.<partition>.<kind>.<runId>` | limits | 7 d | acked publishes with msg ids; a router durable per partition |
 * | `tasks`    | `task.*`, `task.*.<priority>`     | work queue | none    | one durable per activity and level; a keeper message |
 * | `timers`   | `timer.>`                         | work queue | none    | one durable shared by timer services |
 * | `outcomes` | `done.>`, `emit.*`                | limits     | 7 d     | late readers find completions      |
 * | `dlq`      | `dlq.*`                           | limits     | 30 d    | no size cap: holds oversize input  |
 * | `notices`  | `activity.cancel.>`               | limits     | 1 d     | last notice per activity kept      |
 * | `blobs`    | `blob.<blobId>.<n>`               | limits     | 38 d    | chunks of large bodies, see below  |
 *
 * All streams: file storage, discard old, duplicate window 2 min (msg-id dedupe of re-publishes
 * after a crash), `max_msg_size` 1 MiB except the DLQ. Task and timer consumers: explicit ack,
 * ack wait 30 s (executors extend it with `working()` while a task runs, so it only bounds how
 * long a crashed process holds work), unlimited redelivery (poison messages are detected by the
 * services from the delivery count and dead-lettered, never silently dropped by `max_deliver`).
 *
 * Chunks of large message bodies are never deleted one by one: every reader of a message reads its
 * blob (redeliveries after a crash, late readers of outcomes, dead letters), and none knows it is
 * the last. They expire by age instead, past the longest a message referencing them lives: its
 * own stream's age, then the DLQ's should it be dead-lettered at the end of it, plus a day.
 *
 * Replicas (`replicas`, R1 by default, R3 on a cluster) apply to every stream, and the durable
 * consumers inherit them (their `num_replicas` is left at 0, "as the stream"). A stream that
 * exists keeps its replica count unless the caller sets `replicas` explicitly, so a service
 * started without the setting never scales a cluster's R3 streams back down to R1.
 */
import type {
  ConsumerConfig,
  ConsumerInfo,
  JetStreamClient,
  JetStreamManager,
  StreamConfig,
  StreamInfo,
} from '@nats-io/jetstream';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ConfigError } from '../errors.js';
import { DEFAULT_PRIORITY, OTHER_LEVELS } from '../flow/priority.js';
import { consumerNames, type StreamNames, streamNames, subjects } from '../names.js';
import { backoffDelay, sleep } from './backoff.js';
import { isConsumerNotFound, isStreamNotFound, JsErrorCodes } from './errors.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Stream settings. */
export interface StreamOptions {
  /** Largest message the engine streams accept, in bytes. @default 1_048_576 (1 MiB) */
  maxMsgSize: number;
  /** Window in which a repeated `Nats-Msg-Id` is dropped. @default 120_000 (2 min) */
  duplicateWindowMs: number;
  /** How long user inputs are kept (routers down longer than this lose them). @default 7 days */
  inboxMaxAgeMs: number;
  /** How long results and firings are kept. @default 7 days */
  eventsMaxAgeMs: number;
  /** How long completions and emitted events are kept for late readers. @default 7 days */
  outcomesMaxAgeMs: number;
  /** How long dead letters are kept. @default 30 days */
  dlqMaxAgeMs: number;
  /** How long activity cancel notices are kept (longer than a task may wait for an executor). @default 1 day */
  noticesMaxAgeMs: number;
  /** How long user events are kept: the furthest back a wait's `since` reaches. @default 7 days */
  userEventsMaxAgeMs: number;
  /**
   * How long chunks of out-of-band message payloads are kept; 0 keeps them forever. Unset, it
   * follows the other ages: the longest of inbox, events and outcomes, plus the DLQ's, plus a day
   * (blobsMaxAgeFor), since a chunk must outlive every message that references it. A task waits
   * for an executor less than that (less than noticesMaxAgeMs, see there). @default 38 days
   */
  blobsMaxAgeMs: number;
  /**
   * Replicas of every stream, 1 to 5 (1 on a single server, 3 in a cluster). Set explicitly, it is
   * also applied to streams that exist; unset, those keep theirs and new streams get 1. @default 1
   */
  replicas: number;
}

/** Default stream settings. */
export function defaultStreamOptions(): StreamOptions {
  return {
    maxMsgSize: 1024 * 1024,
    duplicateWindowMs: 120_000,
    inboxMaxAgeMs: 7 * DAY_MS,
    eventsMaxAgeMs: 7 * DAY_MS,
    outcomesMaxAgeMs: 7 * DAY_MS,
    blobsMaxAgeMs: 38 * DAY_MS,
    dlqMaxAgeMs: 30 * DAY_MS,
    noticesMaxAgeMs: DAY_MS,
    userEventsMaxAgeMs: 7 * DAY_MS,
    replicas: 1,
  };
}

/**
 * The blobs stream's age that outlives every message that may reference a chunk: the longest-lived
 * stream that carries large bodies (user events and notices carry none), then the DLQ, plus a day.
 */
export function blobsMaxAgeFor(
  o: Pick<StreamOptions, 'inboxMaxAgeMs' | 'eventsMaxAgeMs' | 'outcomesMaxAgeMs' | 'dlqMaxAgeMs'>,
): number {
  return Math.max(o.inboxMaxAgeMs, o.eventsMaxAgeMs, o.outcomesMaxAgeMs) + o.dlqMaxAgeMs + DAY_MS;
}

/** Durable work consumer settings. */
export interface WorkConsumerOptions {
  /** Time a delivered, unacked message is held before redelivery. @default 30_000 */
  ackWaitMs: number;
  /** Cap on unacked deliveries across every process sharing the durable. @default 1000 */
  maxAckPending: number;
}

/** Default consumer settings. */
export function defaultWorkConsumerOptions(): WorkConsumerOptions {
  return { ackWaitMs: 30_000, maxAckPending: 1000 };
}

type StreamSpec = Pick<
  StreamConfig,
  | 'name'
  | 'subjects'
  | 'retention'
  | 'storage'
  | 'discard'
  | 'max_age'
  | 'max_msg_size'
  | 'duplicate_window'
  | 'num_replicas'
  | 'no_ack'
> &
  Partial<Pick<StreamConfig, 'max_msgs_per_subject' | 'allow_direct'>>;

/** The config of every Squall stream for a prefix (exported for docs and tests). */
export function streamConfigs(
  prefix: string,
  opts: Partial<StreamOptions> = {},
): Record<keyof StreamNames, StreamSpec> {
  const o = { ...defaultStreamOptions(), ...opts };
  checkReplicas(o.replicas);
  const blobsMaxAgeMs = opts.blobsMaxAgeMs ?? blobsMaxAgeFor(o);
  const names = streamNames(prefix);
  const s = subjects(prefix);
  const dup = nanos(o.duplicateWindowMs);
  const base = {
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: dup,
    num_replicas: o.replicas,
    max_msg_size: o.maxMsgSize,
    no_ack: false,
  };
  // The duplicate window may not exceed max_age, so ages are floored at it.
  const age = (ms: number): number => nanos(Math.max(ms, o.duplicateWindowMs));
  return {
    inbox: {
      ...base,
      name: names.inbox,
      subjects: [
        s.all.start,
        s.all.signal,
        s.all.cancel,
        s.all.terminate,
        s.all.callback,
        ...OTHER_LEVELS.map((level) => s.startLevel(level)),
      ],
      retention: RetentionPolicy.Limits,
      max_age: age(o.inboxMaxAgeMs),
      no_ack: true,
    },
    events: {
      ...base,
      name: names.events,
      subjects: [s.all.events],
      retention: RetentionPolicy.Limits,
      max_age: age(o.eventsMaxAgeMs),
    },
    tasks: {
      ...base,
      name: names.tasks,
      subjects: [s.all.task, s.all.taskLevels],
      retention: RetentionPolicy.Workqueue,
      max_age: 0,
    },
    timers: { ...base, name: names.timers, subjects: [s.all.timer], retention: RetentionPolicy.Workqueue, max_age: 0 },
    outcomes: {
      ...base,
      name: names.outcomes,
      subjects: [s.all.done, s.all.emit],
      retention: RetentionPolicy.Limits,
      max_age: age(o.outcomesMaxAgeMs),
    },
    dlq: {
      ...base,
      name: names.dlq,
      subjects: [s.all.dlq],
      retention: RetentionPolicy.Limits,
      max_age: age(o.dlqMaxAgeMs),
      max_msg_size: -1,
    },
    notices: {
      ...base,
      name: names.notices,
      subjects: [s.all.activityCancel],
      retention: RetentionPolicy.Limits,
      max_age: age(o.noticesMaxAgeMs),
      max_msgs_per_subject: 1,
    },
    userEvents: {
      ...base,
      name: names.userEvents,
      subjects: [s.all.userEvent],
      retention: RetentionPolicy.Limits,
      max_age: age(o.userEventsMaxAgeMs),
      allow_direct: true,
    },
    blobs: {
      ...base,
      name: names.blobs,
      subjects: [s.all.blob],
      retention: RetentionPolicy.Limits,
      max_age: blobsMaxAgeMs === 0 ? 0 : age(blobsMaxAgeMs),
      allow_direct: true,
    },
  };
}

/**
 * Keeps one message in the tasks stream that no executor ever takes (subjects.tasksKeeper), so the
 * work queue never drains empty. nats-server's file store removes a block once its last message
 * is gone: on a work queue at light load every task ack emptied the stream, and each cost a new
 * block file, a tombstone and the old file's unlink (18% of nats-server's CPU in a profile of
 * sequential runs). Behind a message that stays, an ack appends a tombstone to the open block.
 * Published expecting no earlier message on its subject, so routers starting at once store one
 * keeper between them; resolves true when this call stored it, false when one was there.
 */
export async function ensureTasksKeeper(js: JetStreamClient, prefix: string): Promise<boolean> {
  try {
    await js.publish(subjects(prefix).tasksKeeper(), new Uint8Array(0), { expect: { lastSubjectSequence: 0 } });
    return true;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JsErrorCodes.StreamWrongLastSequence) return false;
    throw err;
  }
}

/** JetStream's own bound on a stream's replicas. */
export const MAX_STREAM_REPLICAS = 5;

function checkReplicas(replicas: number): void {
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_STREAM_REPLICAS) {
    throw new ConfigError(
      `stream replicas must be an integer from 1 to ${MAX_STREAM_REPLICAS} (JetStream's limit), got ${replicas}`,
    );
  }
}

const IMMUTABLE_STREAM_FIELDS = ['retention', 'storage'] as const;

/** Creates or updates every Squall stream of a prefix; safe to call concurrently and repeatedly. */
export async function ensureStreams(
  jsm: JetStreamManager,
  prefix: string,
  opts: Partial<StreamOptions> = {},
): Promise<Record<keyof StreamNames, StreamInfo>> {
  const configs = streamConfigs(prefix, opts);
  const keepReplicas = opts.replicas === undefined;
  const out = {} as Record<keyof StreamNames, StreamInfo>;
  for (const key of Object.keys(configs) as (keyof StreamNames)[]) {
    out[key] = await ensureStream(jsm, configs[key], keepReplicas).catch((err: unknown) => {
      throw explainReplicasRefused(err, configs[key]);
    });
  }
  return out;
}

/** A standalone server's refusal of R>1 as a ConfigError that says what to change. */
function explainReplicasRefused(err: unknown, spec: StreamSpec): unknown {
  if (!(err instanceof JetStreamApiError) || err.code !== JsErrorCodes.ReplicasNotSupported) return err;
  return new ConfigError(
    `stream ${spec.name}: ${spec.num_replicas} replicas asked, but the NATS server is not clustered ` +
      '(JetStream keeps R>1 streams only on a cluster); set stream replicas to 1 or connect to a cluster ' +
      `of at least ${spec.num_replicas} JetStream servers`,
    { cause: err, details: { stream: spec.name, replicas: spec.num_replicas } },
  );
}

/** Creates that lost a race read the winner again this many times before giving up. */
const CREATE_RACE_RETRIES = 6;

/**
 * After a create lost a race with another service's: false once out of retries, else true after
 * a short jittered pause whose bound doubles each time (50 ms, then 100, … 1.6 s), so that on a
 * cluster the winner's stream or consumer has been assigned by the time it is read again (an
 * immediate re-read can still miss it, and the next create lose again), and services racing
 * each other spread out.
 */
async function racedAgain(attempt: number): Promise<boolean> {
  if (attempt >= CREATE_RACE_RETRIES) return false;
  await sleep(backoffDelay(attempt, { initialMs: 50, maxMs: 1_600 }));
  return true;
}

async function ensureStream(jsm: JetStreamManager, wanted: StreamSpec, keepReplicas: boolean): Promise<StreamInfo> {
  for (let attempt = 0; ; attempt++) {
    const existing = await streamInfoOrUndefined(jsm, wanted.name);
    const spec = existing && keepReplicas ? { ...wanted, num_replicas: existing.config.num_replicas } : wanted;
    if (existing) {
      for (const field of IMMUTABLE_STREAM_FIELDS) {
        if (existing.config[field] !== spec[field]) {
          throw new ConfigError(
            `stream ${spec.name} exists with ${field}=${existing.config[field]}, Squall needs ${spec[field]}; ` +
              'delete the stream or use another prefix',
          );
        }
      }
      if (sameFields(existing.config, spec)) return existing;
      const { name, retention: _r, storage: _s, ...mutable } = spec;
      return jsm.streams.update(name, mutable);
    }
    try {
      return await jsm.streams.add(spec);
    } catch (err) {
      // Another service created it between our info and add: read it again and reconcile.
      if (
        err instanceof JetStreamApiError &&
        err.code !== JsErrorCodes.ReplicasNotSupported &&
        (await racedAgain(attempt))
      ) {
        continue;
      }
      throw err;
    }
  }
}

async function streamInfoOrUndefined(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (isStreamNotFound(err)) return undefined;
    throw err;
  }
}

function sameFields(actual: object, wanted: object): boolean {
  const a = actual as Record<string, unknown>;
  for (const [k, v] of Object.entries(wanted)) {
    const cur = a[k];
    if (Array.isArray(v)) {
      if (!Array.isArray(cur) || cur.length !== v.length || v.some((x, i) => cur[i] !== x)) return false;
    } else if (k === 'no_ack') {
      if (Boolean(cur) !== Boolean(v)) return false;
    } else if (cur !== v) {
      return false;
    }
  }
  return true;
}

type ConsumerSpec = Pick<
  ConsumerConfig,
  | 'durable_name'
  | 'ack_policy'
  | 'deliver_policy'
  | 'replay_policy'
  | 'filter_subject'
  | 'ack_wait'
  | 'max_deliver'
  | 'max_ack_pending'
>;

function workConsumer(durable: string, filter: string, opts: Partial<WorkConsumerOptions>): ConsumerSpec {
  const o = { ...defaultWorkConsumerOptions(), ...opts };
  return {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    filter_subject: filter,
    ack_wait: nanos(o.ackWaitMs),
    max_deliver: -1,
    max_ack_pending: o.maxAckPending,
  };
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, spec: ConsumerSpec): Promise<ConsumerInfo> {
  const durable = spec.durable_name as string;
  for (let attempt = 0; ; attempt++) {
    let existing: ConsumerInfo | undefined;
    try {
      existing = await jsm.consumers.info(stream, durable);
    } catch (err) {
      if (!isConsumerNotFound(err)) throw err;
    }
    if (existing) {
      if (sameFields(existing.config, spec)) return existing;
      const { durable_name: _d, ack_policy: _a, deliver_policy: _p, replay_policy: _r, ...mutable } = spec;
      return jsm.consumers.update(stream, durable, mutable);
    }
    try {
      return await jsm.consumers.add(stream, spec);
    } catch (err) {
      if (err instanceof JetStreamApiError && (await racedAgain(attempt))) continue;
      throw err;
    }
  }
}

/**
 * Creates or updates the shared durable pull consumer of one activity on the tasks stream, at a
 * priority level (the default level's is the unprioritised `activity_<name>`).
 */
export function ensureActivityConsumer(
  jsm: JetStreamManager,
  prefix: string,
  activity: string,
  opts: Partial<WorkConsumerOptions> = {},
  priority: number = DEFAULT_PRIORITY,
): Promise<ConsumerInfo> {
  const spec = workConsumer(
    consumerNames.activityAt(activity, priority),
    subjects(prefix).taskAt(activity, priority),
    opts,
  );
  return ensureConsumer(jsm, streamNames(prefix).tasks, spec);
}

/** Creates or updates the durable pull consumer shared by every timer service. */
export function ensureTimerConsumer(
  jsm: JetStreamManager,
  prefix: string,
  opts: Partial<WorkConsumerOptions> = {},
): Promise<ConsumerInfo> {
  const spec = workConsumer(consumerNames.timer, subjects(prefix).all.timer, opts);
  return ensureConsumer(jsm, streamNames(prefix).timers, spec);
}

/**
 * The priority levels with messages on `stream`'s subjects matching `filter` (one stream info
 * request; its per-subject counts), each subject's level read by `levelOf` (undefined: ignored).
 */
export async function levelsWithMessages(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
  levelOf: (subject: string) => number | undefined,
): Promise<number[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  const levels = new Set<number>();
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    const level = levelOf(subject);
    if (n > 0 && level !== undefined) levels.add(level);
  }
  return [...levels].sort((a, b) => b - a);
}
