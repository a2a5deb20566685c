/**
 * The timer service: keeps durable timers in the store and publishes their firing when due.
 * Schedules and cancels arrive on one durable consumer shared by every timer service (intake.ts);
 * any of them may fire any timer, and a lease in the store decides which one does (firing.ts,
 * leases.ts). The due-timer loop sleeps between looks at the store and wakes early for a timer due
 * sooner (alarm.ts). Every decision is a pure function in decisions.ts.
 *
 * Store writes go in batches, as their cost is per command: schedules arriving together are
 * stored by one insert, each round's claims are leased by one insert, and a round's published
 * timers are marked fired by one update per 2,500 while the next round is claimed and published.
 */
import type { Subscription } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import { retryWithBackoff, sleep } from '../../shared/bus/backoff.js';
import type { Bus } from '../../shared/bus/connect.js';
import { isRetryableNatsError } from '../../shared/bus/errors.js';
import { ensureTimerConsumer } from '../../shared/bus/streams.js';
import type { Logger } from '../../shared/log.js';
import type { Store } from '../../shared/store/types.js';
import { serviceRegistry } from '../common/metrics.js';
import {
  connectStore,
  deferred,
  resolveBus,
  type ServiceHandle,
  type ServiceHealth,
  type StopOptions,
  serveHealth,
} from '../common/service.js';
import { Alarm } from './alarm.js';
import { DueTimerLoop } from './firing.js';
import { TimerIntake } from './intake.js';
import { TimerMetrics } from './metrics.js';
import { type CompiledTimerOptions, compileTimerOptions, type TimerServiceOptions } from './options.js';
import { serveScheduleRequests } from './schedule-requests.js';
import { ScheduleRunner } from './schedules.js';
import { newTimerStats, StoreHealth } from './status.js';

/**
 * Starts a timer service with `opts` merged over defaultTimerOptions(); resolves once it consumes
 * schedules and watches the store. Connections it opens (no `bus` / `store` given) it closes on stop.
 */
export async function startTimer(opts: Partial<TimerServiceOptions> = {}): Promise<ServiceHandle> {
  const o = compileTimerOptions(opts);
  const log = o.log.child({ service: 'timer', instance: o.id });
  const metrics = new TimerMetrics(serviceRegistry('timer', o.metrics));
  const { store, mongo, mongoConnected } = await openStore(o, log, metrics);
  let bus: Bus;
  let ownsBus: boolean;
  try {
    ({ bus, owned: ownsBus } = await openBus(o, log));
  } catch (err) {
    metrics.stop();
    await mongo?.close();
    throw err;
  }
  metrics.watchNats(bus.nc, () => bus.connected);

  const stats = newTimerStats();
  metrics.follow(stats);
  const storeHealth = new StoreHealth(log);
  const alarm = new Alarm(o.clock);
  const intake = new TimerIntake({ bus, store, log, alarm, stats, storeHealth, ackWaitMs: o.ackWaitMs, metrics });
  const firing = new DueTimerLoop({
    bus,
    store,
    owner: o.id,
    clock: o.clock,
    log,
    alarm,
    stats,
    storeHealth,
    leaseMs: o.leaseMs,
    batchSize: o.batchSize,
    maxSleepMs: o.maxSleepMs,
    metrics,
  });
  const schedules = new ScheduleRunner({ bus, store, clock: o.clock, log });
  let scheduleSub: Subscription | undefined = serveScheduleRequests({
    bus,
    store,
    runner: schedules,
    clock: o.clock,
    log,
  });
  const loops = [
    intake.run().catch((err: unknown) => log.error('timer intake loop crashed', { err })),
    firing.run().catch((err: unknown) => log.error('timer fire loop crashed', { err })),
    schedules.run().catch((err: unknown) => log.error('schedule loop crashed', { err })),
  ];

  let stopping = false;
  const health = (): ServiceHealth => ({
    live: !bus.nc.isClosed(),
    ready: !stopping && bus.connected && intake.consuming && storeHealth.healthy && mongoConnected(),
    details: {
      leaseMs: o.leaseMs,
      nats: bus.connected,
      mongodb: mongoConnected(),
      consuming: intake.consuming,
      storeHealthy: storeHealth.healthy,
      ...stats,
    },
  });
  let healthSub: Subscription | undefined = serveHealth(bus, 'timer', o.id, health);
  log.info('timer service started', { leaseMs: o.leaseMs });

  const closed = deferred();
  let stopped: Promise<void> | undefined;
  const stop = (s: StopOptions = {}): Promise<void> => {
    stopped ??= (async () => {
      log.info('timer service stopping');
      stopping = true;
      intake.stop();
      firing.stop();
      schedules.stop();
      scheduleSub?.unsubscribe();
      scheduleSub = undefined;
      // Store writes and publishes are short; the deadline only bounds a server that hangs. An
      // abandoned claim is safe: its lease expires and another instance fires the timer.
      await Promise.race([Promise.all(loops), sleep(s.deadlineMs ?? 10_000)]);
      healthSub?.unsubscribe();
      healthSub = undefined;
      if (ownsBus) await bus.close();
      await mongo?.close();
      metrics.stop();
      log.info('timer service stopped', { ...stats });
      closed.resolve();
    })();
    return stopped;
  };

  return { name: 'timer', id: o.id, stop, closed: closed.promise, health, metrics: metrics.registry };
}

/** The given store, or a connection to `mongoUrl` that the service owns (and closes on stop). */
async function openStore(
  o: CompiledTimerOptions,
  log: Logger,
  metrics: TimerMetrics,
): Promise<{ store: Store; mongo: MongoClient | undefined; mongoConnected: () => boolean }> {
  if (o.store) {
    // A given store's client is the caller's to close, but its events are this service's to count.
    if (o.store.mongo) metrics.watchMongo(o.store.mongo);
    return { store: o.store, mongo: undefined, mongoConnected: () => true };
  }
  const owned = await connectStore({
    mongoUrl: o.mongoUrl,
    dbName: o.dbName,
    collectionPrefix: o.prefix,
    log,
    metrics,
  });
  return { store: owned.store, mongo: owned.mongo, mongoConnected: owned.connected };
}

/** The given bus, or one connected to `natsUrl`; either way with the shared timer consumer ensured. */
async function openBus(o: CompiledTimerOptions, log: Logger): Promise<{ bus: Bus; owned: boolean }> {
  const resolved = await resolveBus(
    {
      natsUrl: o.natsUrl,
      nats: o.nats,
      bus: o.bus,
      prefix: o.prefix,
      log,
      ...(o.streams ? { streams: o.streams } : {}),
    },
    o.id,
  );
  const { bus } = resolved;
  try {
    await retryWithBackoff(() => ensureTimerConsumer(bus.jsm, bus.prefix, { ackWaitMs: o.ackWaitMs }), {
      isRetryable: isRetryableNatsError,
      onRetry: (err, attempt, delayMs) => log.warn('timer consumer setup failed, retrying', { err, attempt, delayMs }),
    });
  } catch (err) {
    if (resolved.owned) await bus.close();
    throw err;
  }
  return resolved;
}
