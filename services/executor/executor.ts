/**
 * The executor: pulls activity tasks from one shared durable consumer per registered activity,
 * runs the function, publishes the result (acked by JetStream, deduplicated by msg id) and only
 * then acks the task. A crash anywhere before the ack means the task is delivered again: activities
 * run at least once, and their context carries an idempotency key.
 *
 * The router owns retries and timeouts; the executor reports an attempt's start when asked
 * (`task.reportStart`), relays throttled heartbeats, and listens for cancel notices, which abort
 * the matching running attempt (`ctx.signal`) or drop a task whose attempt is already over.
 *
 * This file wires the parts: options.ts (compiled once), pull-loop.ts (one per activity),
 * attempt.ts (one per delivered task), cancel-notices.ts, results.ts, and decisions.ts (pure).
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import { retryWithBackoff, sleep } from '../../shared/bus/backoff.js';
import { isRetryableNatsError } from '../../shared/bus/errors.js';
import type { ActivityDefinition } from '../../shared/engine/activity.js';
import type { Logger } from '../../shared/log.js';
import { serviceRegistry } from '../common/metrics.js';
import { Semaphore } from '../common/semaphore.js';
import {
  deferred,
  resolveBus,
  type ServiceHandle,
  type ServiceHealth,
  type StopOptions,
  serveHealth,
} from '../common/service.js';
import { ActivityAttempt, type AttemptEnv, type AttemptStats } from './attempt.js';
import { CancelNotices } from './cancel-notices.js';
import { pullBatchCap } from './decisions.js';
import { defaultSlotLeases, ExecutorFlow } from './flow/gate.js';
import { ExecutorMetrics } from './metrics.js';
import { compileExecutorOptions, type ExecutorStartOptions, misplacedActivityOptions } from './options.js';
import { PullLoop } from './pull-loop.js';
import { ResultPublisher } from './results.js';

/**
 * Starts an executor for the given activities over the defaults (defaultExecutorOptions);
 * resolves once its consumers exist and it pulls. ConfigError for bad activities or options.
 */
export async function startExecutor(given: ExecutorStartOptions): Promise<ServiceHandle> {
  const o = compileExecutorOptions(given);
  const { id, concurrency } = o;
  const names = o.activities.map((d) => d.name);
  const log = o.log.child({ service: 'executor', instance: id });
  warnMisplacedOptions(o.activities, log);
  const metrics = new ExecutorMetrics(serviceRegistry('executor', o.metrics));
  const { bus, owned } = await resolveBus(
    { natsUrl: o.natsUrl, nats: o.nats, bus: o.bus, prefix: o.prefix, log, streams: o.streams },
    id,
  );
  metrics.watchNats(bus.nc, () => bus.connected);

  const permits = new Semaphore(concurrency);
  const stopPulling = new AbortController();
  const hardStop = new AbortController();
  /**
   * Attempts not done yet (running, or delivering their result: a direct result waits for its
   * router's answer), each with the promise that settles when it is done and its permit is back.
   */
  const inFlight = new Map<ActivityAttempt, Promise<void>>();
  const closed = deferred();
  /** Attempts holding a permit: at most `concurrency`. */
  let running = 0;
  const stats: AttemptStats & { maxInFlight: number; maxRunning: number } = {
    started: 0,
    completed: 0,
    failed: 0,
    deadLettered: 0,
    dropped: 0,
    maxInFlight: 0,
    maxRunning: 0,
  };
  const notices = new CancelNotices(bus, o.clock, log);
  const env: AttemptEnv = {
    bus,
    results: new ResultPublisher(bus, hardStop.signal, { direct: o.directResults, now: () => o.clock.now() }),
    notices,
    clock: o.clock,
    log,
    stats,
    ackWaitMs: o.ackWaitMs,
    heartbeatThrottleMs: o.heartbeatThrottleMs,
    maxDeliveries: o.maxDeliveries,
    metrics,
    flow: o.activities.some((d) => d.options.concurrency || d.options.rateLimit)
      ? new ExecutorFlow({
          bus,
          clock: o.clock,
          log,
          permits,
          stopping: stopPulling.signal,
          ackWaitMs: o.ackWaitMs,
          leases: defaultSlotLeases(),
        })
      : undefined,
  };

  const startTask = (def: ActivityDefinition, msg: JsMsg): void => {
    // The permit goes back once the attempt's outcome is known (its delivery may wait for a
    // router's decision), or when the attempt ends without one; once either way.
    let held = true;
    running++;
    stats.maxRunning = Math.max(stats.maxRunning, running);
    const release = (): void => {
      if (!held) return;
      held = false;
      running--;
      permits.release();
    };
    const attempt = new ActivityAttempt(def, msg, env, release);
    const done = attempt
      .run()
      .catch((err: unknown) => log.error('task handler crashed', { err }))
      .finally(() => {
        inFlight.delete(attempt);
        release();
      });
    inFlight.set(attempt, done);
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight.size);
  };

  const batchCap = pullBatchCap(concurrency, o.activities.length);
  const pulls = o.activities.map(
    (def) =>
      new PullLoop(def, {
        bus,
        permits,
        batchCap,
        pollExpiresMs: o.pollExpiresMs,
        ackWaitMs: o.ackWaitMs,
        stopping: stopPulling.signal,
        startTask: (msg) => startTask(def, msg),
        log,
      }),
  );
  try {
    // A NATS server restarting while this executor starts answers with timeouts for a while:
    // wait it out, as router and timer do, rather than exit a process nobody restarts.
    await retryWithBackoff(
      async () => {
        for (const p of pulls) await p.open();
      },
      {
        isRetryable: isRetryableNatsError,
        onRetry: (err, attempt, delayMs) => log.warn('executor setup failed, retrying', { err, attempt, delayMs }),
      },
    );
  } catch (err) {
    // Not started: leave nothing behind (the caller gets the error, not a handle to stop).
    notices.close();
    metrics.stop();
    if (owned) await bus.close();
    throw err;
  }
  const loops = pulls.map((p, i) =>
    p.run().catch((err: unknown) => log.error('pull loop crashed', { activity: names[i], err })),
  );

  const health = (): ServiceHealth => ({
    live: !bus.nc.isClosed(),
    ready: !stopPulling.signal.aborted && bus.connected,
    details: { activities: names, concurrency, inFlight: inFlight.size, running, ...stats },
  });
  const healthSub: Subscription = serveHealth(bus, 'executor', id, health);
  metrics.follow(() => inFlight.size);
  log.info('executor started', { activities: names, concurrency });

  let stopping: Promise<void> | undefined;
  const stop = (so: StopOptions = {}): Promise<void> => {
    stopping ??= (async () => {
      const deadlineMs = so.deadlineMs ?? 10_000;
      log.info('executor stopping', { inFlight: inFlight.size, deadlineMs });
      stopPulling.abort();
      for (const p of pulls) p.closeFetches();
      await Promise.all(loops);
      const drained = Promise.all(inFlight.values());
      const timedOut = await Promise.race([drained.then(() => false), sleep(deadlineMs).then(() => true)]);
      if (timedOut) {
        log.warn('stop deadline passed; aborting in-flight tasks', { inFlight: inFlight.size });
        for (const attempt of inFlight.keys()) attempt.abandon();
        hardStop.abort();
      }
      healthSub.unsubscribe();
      env.flow?.close();
      notices.close();
      if (owned) await bus.close();
      metrics.stop();
      log.info('executor stopped', { ...stats });
      closed.resolve();
    })();
    return stopping;
  };

  return { name: 'executor', id, stop, closed: closed.promise, health, metrics: metrics.registry };
}

/** Warns about activity options the executor ignores: retry and timeouts are the workflow's. */
function warnMisplacedOptions(defs: ActivityDefinition[], log: Logger): void {
  for (const d of defs) {
    const misplaced = misplacedActivityOptions(d);
    if (misplaced.length === 0) continue;
    log.warn(
      'activity options ignored: retry and timeouts are set by the workflow (defineWorkflow activities, activity(options))',
      { activity: d.name, options: misplaced },
    );
  }
}
