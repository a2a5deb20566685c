/**
 * The executor: pulls activity tasks from one shared durable consumer per registered activity,
 * runs the function, publishes the result (acked by JetStream, deduplicated by msg id) and only
 * then acks the task. A crash anywhere before the ack means the task is delivered again: activities
 * run at least once, and their context carries an idempotency key.
 *
 * The router owns retries and timeouts; the executor reports an attempt's start when asked
 * (`task.reportStart`), relays throttled heartbeats, and listens for cancel notices: a notice
 * aborts the matching running attempt (`ctx.signal`), and a task delivered after its notice (an
 * attempt the router already timed out and retried, or an activity already cancelled) is acked
 * and dropped without running. The executor cannot know the current attempt otherwise, so it asks
 * the notices stream (last notice of the activity) for any task that was redelivered or waited in
 * the queue for more than a second.
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import { backoffDelay, sleep } from '../../shared/bus/backoff.js';
import { decodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import {
  type ActivityCancelMessage,
  type ActivityUpdateMessage,
  type ResultMessage,
  resultMsgId,
  type TaskMessage,
  updateMsgId,
  validateActivityCancel,
  validateTask,
} from '../../shared/bus/messages.js';
import { ensureActivityConsumer, type StreamOptions } from '../../shared/bus/streams.js';
import {
  type ActivityContext,
  type ActivityDefinition,
  type ActivityFn,
  attemptFailure,
  defineActivity,
  isActivityDefinition,
} from '../../shared/engine/activity.js';
import {
  ActivityFailure,
  CancelledError,
  ConfigError,
  InvalidInputError,
  PayloadTooLargeError,
  toErrorInfo,
} from '../../shared/errors.js';
import { type Logger, silentLogger } from '../../shared/log.js';
import { consumerNames, validateToken } from '../../shared/names.js';
import { Semaphore } from '../common/semaphore.js';
import {
  deferred,
  newServiceId,
  resolveBus,
  type ServiceHandle,
  type ServiceHealth,
  type StopOptions,
  serveHealth,
} from '../common/service.js';

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
   * delivered again. Running tasks are kept alive with `working()` automatically; a heartbeat
   * timeout set by the workflow is enforced by the router, which retries the attempt sooner.
   * @default 30_000
   */
  ackWaitMs?: number;
  /** Longest gap between heartbeat reports to the router when the task has no heartbeat timeout. @default 30_000 */
  heartbeatThrottleMs?: number;
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
  /** Set when a cancel notice covered this attempt: its result no longer counts. */
  cancelled: boolean;
  /** Set when the stop deadline passed: the task was nak'ed and its result must not be published. */
  abandoned: boolean;
  done: Promise<void>;
}

const TIMEOUT_OPTIONS = [
  'scheduleToStartTimeoutMs',
  'startToCloseTimeoutMs',
  'scheduleToCloseTimeoutMs',
  'heartbeatTimeoutMs',
] as const;

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
  const stats = { started: 0, completed: 0, failed: 0, deadLettered: 0, dropped: 0, maxInFlight: 0 };
  const ackWaitOf = (_d: ActivityDefinition): number => defaultAckWaitMs;
  const maxThrottleMs = opts.heartbeatThrottleMs ?? 30_000;
  for (const d of defs) {
    const misplaced = (['retry', ...TIMEOUT_OPTIONS] as const).filter((k) => d.options[k] !== undefined);
    if (misplaced.length > 0) {
      log.warn(
        'activity options ignored: retry and timeouts are set by the workflow (defineWorkflow activities, activity(options))',
        {
          activity: d.name,
          options: misplaced,
        },
      );
    }
  }

  // ---- cancel notices: abort running attempts, remember recent ones for tasks still queued ----

  const running = new Map<string, Set<InFlight>>();
  const recentNotices = new Map<string, ActivityCancelMessage>();
  const noticeKey = (runId: string, activitySeq: number): string => `${runId}:${activitySeq}`;
  const covers = (n: ActivityCancelMessage, task: TaskMessage): boolean =>
    n.attempt === undefined || task.attempt <= n.attempt;
  const cancelEntry = (e: InFlight, n: ActivityCancelMessage): void => {
    if (e.cancelled || !e.task || !covers(n, e.task)) return;
    e.cancelled = true;
    log.info('activity cancelled by the router', {
      runId: n.runId,
      activitySeq: n.activitySeq,
      attempt: e.task.attempt,
      reason: n.reason,
    });
    e.abort.abort(new CancelledError(`activity attempt is over (${n.reason ?? 'cancelled'})`, { details: { ...n } }));
  };
  const noticeSub = bus.nc.subscribe(bus.subjects.all.activityCancel, {
    callback: (err, m) => {
      if (err) return;
      try {
        const n = validateActivityCancel(decodeBody(m.data, m.headers, m.subject));
        const key = noticeKey(n.runId, n.activitySeq);
        recentNotices.delete(key);
        recentNotices.set(key, n);
        if (recentNotices.size > 10_000) recentNotices.delete(recentNotices.keys().next().value as string);
        for (const e of running.get(key) ?? []) cancelEntry(e, n);
      } catch (e) {
        log.debug('ignoring a malformed activity cancel notice', { err: e });
      }
    },
  });
  /** The notice that makes `task` obsolete, if any: from memory, else (for a late task) from the stream. */
  const obsoleteBy = async (task: TaskMessage, msg: JsMsg): Promise<ActivityCancelMessage | undefined> => {
    const known = recentNotices.get(noticeKey(task.runId, task.activitySeq));
    if (known) return covers(known, task) ? known : undefined;
    const late = msg.info.deliveryCount > 1 || Date.now() - msg.info.timestampNanos / 1e6 > 1000;
    if (!late) return undefined;
    try {
      const stored = await bus.jsm.streams.getMessage(bus.streams.notices, {
        last_by_subj: bus.subjects.activityCancel(task.runId, task.activitySeq),
      });
      if (!stored) return undefined;
      const n = validateActivityCancel(decodeBody(stored.data, stored.header, stored.subject));
      return covers(n, task) ? n : undefined;
    } catch (err) {
      log.debug('could not look up cancel notices; running the task', { err });
      return undefined;
    }
  };

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

  const publishUpdate = async (task: TaskMessage, update: ActivityUpdateMessage, n: number): Promise<void> => {
    await bus.publish(bus.subjects.result(task.runId), update, {
      msgId: updateMsgId(task.runId, task.activitySeq, task.attempt, n),
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
    const obsolete = await obsoleteBy(task, msg);
    if (obsolete) {
      // The router timed this attempt out (and retried it) or cancelled the activity: never run it.
      stats.dropped++;
      tlog.info('dropping a task whose attempt is already over', {
        activitySeq: task.activitySeq,
        attempt: task.attempt,
        reason: obsolete.reason,
      });
      try {
        msg.ack();
      } catch (err) {
        tlog.debug('ack of a dropped task failed', { err });
      }
      return;
    }
    const key = noticeKey(task.runId, task.activitySeq);
    const peers = running.get(key) ?? new Set<InFlight>();
    peers.add(entry);
    running.set(key, peers);
    try {
      await runAttempt(d, entry, task, base, tlog);
    } finally {
      peers.delete(entry);
      if (peers.size === 0) running.delete(key);
    }
  };

  const runAttempt = async (
    d: ActivityDefinition,
    entry: InFlight,
    task: TaskMessage,
    base: { runId: string; workflowId: string; activitySeq: number; attempt: number },
    tlog: Logger,
  ): Promise<void> => {
    const { msg } = entry;
    if (task.reportStart) {
      try {
        await publishUpdate(task, { ...base, update: 'started' }, 0);
      } catch (err) {
        tlog.error('could not report the start of a task; it will be delivered again', { err });
        if (!entry.abandoned) msg.nak(backoffDelay(msg.info.deliveryCount));
        return;
      }
    }

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
      // A running task is kept alive for as long as this process is; the router's heartbeat
      // timeout, not the ack wait, decides when a silent attempt is given up.
      const keepAlive = setInterval(working, Math.max(250, ackWait / 3));
      // Heartbeats reach the router throttled: the first at once, then at most one per interval,
      // the latest details sent at the end of it (a tight loop costs one message per interval).
      // Details also travel with a failed result, for the next attempt.
      const reportEveryMs =
        task.heartbeatTimeoutMs === undefined
          ? maxThrottleMs
          : Math.max(50, Math.min(maxThrottleMs, Math.floor(task.heartbeatTimeoutMs * 0.8)));
      let reported = 0;
      let lastReportAt = 0;
      let trailing: NodeJS.Timeout | undefined;
      let details: { value: unknown } | undefined;
      const report = (): void => {
        trailing = undefined;
        lastReportAt = Date.now();
        const update: ActivityUpdateMessage = { ...base, update: 'heartbeat' };
        if (details) update.details = details.value;
        publishUpdate(task, update, ++reported).catch((err: unknown) =>
          tlog.debug('could not report a heartbeat', { err }),
        );
      };
      let finished = false;
      const ctx: ActivityContext = {
        activity: d.name,
        workflowId: task.workflowId,
        runId: task.runId,
        activitySeq: task.activitySeq,
        attempt: task.attempt,
        idempotencyKey: `${task.workflowId}/${task.activitySeq}`,
        signal: entry.abort.signal,
        heartbeat(value?: unknown) {
          if (value !== undefined) {
            ctx.lastHeartbeat = value;
            details = { value };
          }
          if (Date.now() - lastWorking >= throttleMs) working();
          // Only a policy with a start-bound timeout can retry after a silent attempt, so only
          // then do heartbeats (and their details) need to reach the router before the result.
          if (!task.reportStart || finished || entry.cancelled || trailing) return;
          const wait = lastReportAt + reportEveryMs - Date.now();
          if (wait <= 0) report();
          else trailing = setTimeout(report, wait);
        },
        log: tlog,
      };
      if (task.lastHeartbeat !== undefined) ctx.lastHeartbeat = task.lastHeartbeat;
      stats.started++;
      tlog.debug('task started', { activitySeq: task.activitySeq, attempt: task.attempt });
      try {
        const output = await d.fn(task.input, ctx);
        result = output === undefined ? { ...base, ok: true } : { ...base, ok: true, output };
        stats.completed++;
      } catch (err) {
        const failure = attemptFailure(err);
        result = { ...base, ok: false, ...failure };
        if (details) result.heartbeat = details.value;
        stats.failed++;
        tlog.info('activity failed', { err, attempt: task.attempt, cancelled: entry.cancelled });
      } finally {
        finished = true;
        clearInterval(keepAlive);
        if (trailing) clearTimeout(trailing);
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
      cancelled: false,
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
          if (got >= reserved) {
            // A pull re-sent across a reconnect can be served twice: more than we hold permits for.
            msg.nak();
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
      noticeSub.unsubscribe();
      if (owned) await bus.close();
      log.info('executor stopped', { ...stats });
      closed.resolve();
    })();
    return stopping;
  };

  return { name: 'executor', id, stop, closed: closed.promise, health };
}
