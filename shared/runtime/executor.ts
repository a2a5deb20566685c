/**
 * The executor: pulls activity tasks from one shared durable consumer per registered activity,
 * runs the function, publishes the result (acked by JetStream, deduplicated by msg id) and only
 * then acks the task. A crash anywhere before the ack means the task is delivered again: activities
 * run at least once, and their context carries an idempotency key.
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import { backoffDelay, sleep } from '../bus/backoff.js';
import { decodeBody } from '../bus/codec.js';
import type { Bus } from '../bus/connect.js';
import { type ResultMessage, resultMsgId, type TaskMessage, validateTask } from '../bus/messages.js';
import { ensureActivityConsumer, type StreamOptions } from '../bus/streams.js';
import {
  type ActivityContext,
  type ActivityDefinition,
  type ActivityFn,
  defineActivity,
  isActivityDefinition,
} from '../engine/activity.js';
import { ActivityFailure, ConfigError, InvalidInputError, PayloadTooLargeError, toErrorInfo } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { consumerNames, validateToken } from '../names.js';
import { Semaphore } from './semaphore.js';
import {
  deferred,
  newServiceId,
  resolveBus,
  type ServiceHandle,
  type ServiceHealth,
  type StopOptions,
  serveHealth,
} from './service.js';

/** Options of startExecutor. */
export interface ExecutorOptions {
  /** NATS URL to connect to (the executor then owns the connection). Either this or `bus`. */
  natsUrl?: string;
  /** An existing bus; the executor does not close it. */
  bus?: Bus;
  /** @default 'squall' (or the bus's prefix) */
  prefix?: string;
  /** The activities this executor runs: definitions, or a map of name to function. */
  activities: ActivityDefinition[] | Record<string, ActivityFn>;
  /** Most tasks running at once across all activities of this executor. @default 16 */
  concurrency?: number;
  /** @default silentLogger */
  log?: Logger;
  /** Instance id, in logs and health replies. @default `executor-<random>` */
  id?: string;
  /** How long one pull waits for tasks before asking again (min 1000). @default 5_000 */
  pollExpiresMs?: number;
  /**
   * Ack wait of the activity consumers: how long a crashed executor holds a task before it is
   * delivered again. Running tasks are kept alive with `working()` automatically, unless the
   * activity sets `heartbeatTimeoutMs` (then that is its ack wait and it must heartbeat). @default 30_000
   */
  ackWaitMs?: number;
  /**
   * A task delivered more times than this (crashes, shutdowns) is reported as failed instead of
   * run again, so a task that kills its executor cannot loop forever. @default 10
   */
  maxDeliveries?: number;
  /** Stream settings when this executor connects itself. */
  streams?: Partial<StreamOptions>;
}

interface InFlight {
  task: TaskMessage | undefined;
  msg: JsMsg;
  abort: AbortController;
  /** Set when the stop deadline passed: the task was nak'ed and its result must not be published. */
  abandoned: boolean;
  done: Promise<void>;
}

function normalizeActivities(activities: ExecutorOptions['activities']): ActivityDefinition[] {
  const defs = Array.isArray(activities)
    ? activities
    : Object.entries(activities).map(([name, fn]) => defineActivity(name, fn));
  const seen = new Set<string>();
  for (const d of defs) {
    if (!isActivityDefinition(d)) throw new ConfigError('activities must be made by defineActivity or be functions');
    validateToken('activity', d.name);
    if (seen.has(d.name)) throw new ConfigError(`activity ${d.name} is registered twice`);
    seen.add(d.name);
  }
  if (defs.length === 0) throw new ConfigError('an executor needs at least one activity');
  return defs as ActivityDefinition[];
}

/** Starts an executor for the given activities; resolves once its consumers exist and it pulls. */
export async function startExecutor(opts: ExecutorOptions): Promise<ServiceHandle> {
  const defs = normalizeActivities(opts.activities);
  const id = opts.id ?? newServiceId('executor');
  const log = (opts.log ?? silentLogger).child({ service: 'executor', instance: id });
  const concurrency = opts.concurrency ?? 16;
  const pollExpiresMs = Math.max(1000, opts.pollExpiresMs ?? 5_000);
  const defaultAckWaitMs = opts.ackWaitMs ?? 30_000;
  const maxDeliveries = opts.maxDeliveries ?? 10;
  const { bus, owned } = await resolveBus(
    { natsUrl: opts.natsUrl, bus: opts.bus, prefix: opts.prefix, log, streams: opts.streams },
    id,
  );

  const sem = new Semaphore(concurrency);
  const stopPulling = new AbortController();
  const hardStop = new AbortController();
  const inFlight = new Set<InFlight>();
  const fetches = new Set<ConsumerMessages>();
  const closed = deferred();
  const stats = { started: 0, completed: 0, failed: 0, deadLettered: 0, maxInFlight: 0 };
  const ackWaitOf = (d: ActivityDefinition): number => d.options.heartbeatTimeoutMs ?? defaultAckWaitMs;

  const consumers = new Map<string, Consumer>();
  const openConsumer = async (d: ActivityDefinition): Promise<Consumer> => {
    await ensureActivityConsumer(bus.jsm, bus.prefix, d.name, {
      ackWaitMs: ackWaitOf(d),
      ...(d.options.maxConcurrency ? { maxAckPending: d.options.maxConcurrency } : {}),
    });
    const c = await bus.js.consumers.get(bus.streams.tasks, consumerNames.activity(d.name));
    consumers.set(d.name, c);
    return c;
  };
  for (const d of defs) await openConsumer(d);

  // ---- running one task ----

  const publishResult = async (task: TaskMessage, result: ResultMessage): Promise<void> => {
    await bus.publish(bus.subjects.result(task.runId), result, {
      msgId: resultMsgId(task.runId, task.activitySeq, task.attempt),
      signal: hardStop.signal,
    });
  };

  const runTask = async (d: ActivityDefinition, entry: InFlight): Promise<void> => {
    const { msg } = entry;
    let task: TaskMessage;
    try {
      task = validateTask(decodeBody(msg.data, msg.headers, msg.subject));
      if (task.activity !== d.name) {
        throw new InvalidInputError(`task for activity ${task.activity} arrived on ${msg.subject}`);
      }
    } catch (err) {
      const undecodable = err instanceof InvalidInputError && /is not valid (JSON|MessagePack)/.test(err.message);
      stats.deadLettered++;
      try {
        await bus.parkDeadLetter(undecodable ? 'undecodable' : 'invalid-input', msg, err);
        // No reason argument: `+TERM <reason>` needs nats-server 2.10.4, older servers ignore it.
        msg.term();
      } catch (parkErr) {
        log.warn('could not dead-letter a bad task; it will be delivered again', { err: parkErr });
        msg.nak(backoffDelay(msg.info.deliveryCount));
      }
      return;
    }
    entry.task = task;
    const tlog = log.child({ runId: task.runId, workflowId: task.workflowId, activity: d.name });
    const base = {
      runId: task.runId,
      workflowId: task.workflowId,
      activitySeq: task.activitySeq,
      attempt: task.attempt,
    };

    let result: ResultMessage;
    if (msg.info.deliveryCount > maxDeliveries) {
      const err = new ActivityFailure(
        `task delivered ${msg.info.deliveryCount} times without a result (executor crashes or shutdowns)`,
        { details: { deliveries: msg.info.deliveryCount } },
      );
      tlog.error('giving up on a task delivered too many times', { deliveries: msg.info.deliveryCount });
      result = { ...base, ok: false, error: toErrorInfo(err) };
    } else {
      const ackWait = ackWaitOf(d);
      const throttleMs = Math.min(1000, Math.floor(ackWait / 3));
      let lastWorking = Date.now();
      const working = (): void => {
        lastWorking = Date.now();
        try {
          msg.working();
        } catch (err) {
          tlog.debug('working() failed', { err });
        }
      };
      // Without a heartbeat timeout, a running task is kept alive for as long as this process is.
      const keepAlive =
        d.options.heartbeatTimeoutMs === undefined ? setInterval(working, Math.max(250, ackWait / 3)) : undefined;
      const ctx: ActivityContext = {
        activity: d.name,
        workflowId: task.workflowId,
        runId: task.runId,
        activitySeq: task.activitySeq,
        attempt: task.attempt,
        idempotencyKey: `${task.workflowId}/${task.activitySeq}`,
        signal: entry.abort.signal,
        heartbeat(details?: unknown) {
          if (details !== undefined) ctx.lastHeartbeat = details;
          if (Date.now() - lastWorking >= throttleMs) working();
        },
        log: tlog,
      };
      stats.started++;
      tlog.debug('task started', { activitySeq: task.activitySeq, attempt: task.attempt });
      try {
        const output = await d.fn(task.input, ctx);
        result = output === undefined ? { ...base, ok: true } : { ...base, ok: true, output };
        stats.completed++;
      } catch (err) {
        result = { ...base, ok: false, error: toErrorInfo(err) };
        stats.failed++;
        tlog.info('activity failed', { err, attempt: task.attempt });
      } finally {
        if (keepAlive) clearInterval(keepAlive);
      }
    }
    if (entry.abandoned) return; // nak'ed at the stop deadline; another executor runs it again

    try {
      await publishResult(task, result);
    } catch (err) {
      if (err instanceof PayloadTooLargeError && result.ok) {
        // The output cannot travel; report that as the attempt's failure rather than retrying forever.
        const tooLarge = { ...base, ok: false as const, error: toErrorInfo(err) };
        try {
          await publishResult(task, tooLarge);
        } catch (again) {
          tlog.error('could not publish a result; the task will be delivered again', { err: again });
          if (!entry.abandoned) msg.nak(backoffDelay(msg.info.deliveryCount));
          return;
        }
      } else {
        tlog.error('could not publish a result; the task will be delivered again', { err });
        if (!entry.abandoned) msg.nak(backoffDelay(msg.info.deliveryCount));
        return;
      }
    }
    if (entry.abandoned) return;
    try {
      msg.ack();
    } catch (err) {
      // The result is out; a redelivery re-runs the task and its result is deduplicated by msg id.
      tlog.warn('ack failed after publishing the result', { err });
    }
    tlog.debug('task done', { ok: result.ok });
  };

  const startTask = (d: ActivityDefinition, msg: JsMsg): void => {
    const entry: InFlight = {
      task: undefined,
      msg,
      abort: new AbortController(),
      abandoned: false,
      done: Promise.resolve(),
    };
    inFlight.add(entry);
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight.size);
    entry.done = runTask(d, entry)
      .catch((err: unknown) => log.error('task handler crashed', { err }))
      .finally(() => {
        inFlight.delete(entry);
        sem.release();
      });
  };

  // ---- one pull loop per activity ----

  const pullLoop = async (d: ActivityDefinition): Promise<void> => {
    let lastFull = false;
    let failures = 0;
    // With several activities, an idle one waits holding a single permit; a busy one batches more.
    const batchCap = Math.max(1, Math.floor(concurrency / defs.length));
    while (!stopPulling.signal.aborted) {
      if (!(await sem.acquire(stopPulling.signal))) break;
      const reserved: number = 1 + (lastFull ? sem.tryAcquireUpTo(batchCap - 1) : 0);
      let got = 0;
      let failed: unknown;
      let iter: ConsumerMessages | undefined;
      try {
        const consumer = consumers.get(d.name) ?? (await openConsumer(d));
        iter = await consumer.fetch({ max_messages: reserved, expires: pollExpiresMs });
        fetches.add(iter);
        // stop() may have closed the other fetches while this one was being set up.
        // (close() resolves only once the iterator is drained, so it is not awaited here.)
        if (stopPulling.signal.aborted) void iter.close().catch(() => undefined);
        for await (const msg of iter) {
          if (stopPulling.signal.aborted) {
            msg.nak(); // arrived while stopping: give it straight back
            continue;
          }
          got++;
          startTask(d, msg); // the task now owns one permit and releases it when done
        }
      } catch (err) {
        failed = err;
      } finally {
        if (iter) fetches.delete(iter);
      }
      sem.release(reserved - got);
      lastFull = got === reserved;
      if (failed === undefined) {
        failures = 0;
      } else if (!stopPulling.signal.aborted) {
        consumers.delete(d.name); // look it up (or recreate it) again: it may have been deleted
        const delayMs = backoffDelay(failures++);
        log.warn('pulling tasks failed, retrying', { activity: d.name, err: failed, delayMs });
        await sleep(delayMs, stopPulling.signal);
      }
    }
  };

  const loops = defs.map((d) =>
    pullLoop(d).catch((err: unknown) => log.error('pull loop crashed', { activity: d.name, err })),
  );

  const health = (): ServiceHealth => ({
    live: !bus.nc.isClosed(),
    ready: !stopPulling.signal.aborted && bus.connected,
    details: {
      activities: defs.map((d) => d.name),
      concurrency,
      inFlight: inFlight.size,
      ...stats,
    },
  });
  let healthSub: Subscription | undefined = serveHealth(bus, 'executor', id, health);
  log.info('executor started', { activities: defs.map((d) => d.name), concurrency });

  let stopping: Promise<void> | undefined;
  const stop = (o: StopOptions = {}): Promise<void> => {
    stopping ??= (async () => {
      const deadlineMs = o.deadlineMs ?? 10_000;
      log.info('executor stopping', { inFlight: inFlight.size, deadlineMs });
      stopPulling.abort();
      for (const f of fetches) void f.close().catch(() => undefined);
      await Promise.all(loops);
      const drained = Promise.all([...inFlight].map((e) => e.done));
      const timedOut = await Promise.race([drained.then(() => false), sleep(deadlineMs).then(() => true)]);
      if (timedOut) {
        log.warn('stop deadline passed; aborting in-flight tasks', { inFlight: inFlight.size });
        for (const e of inFlight) {
          e.abandoned = true;
          e.abort.abort(new ActivityFailure('executor shutting down', { retryable: true }));
          try {
            e.msg.nak();
          } catch {
            // the connection may already be gone; the ack wait redelivers it anyway
          }
        }
        hardStop.abort();
      }
      healthSub?.unsubscribe();
      healthSub = undefined;
      if (owned) await bus.close();
      log.info('executor stopped', { ...stats });
      closed.resolve();
    })();
    return stopping;
  };

  return { name: 'executor', id, stop, closed: closed.promise, health };
}
