/**
 * The timer service: keeps durable timers in the store and publishes their firing when due.
 * Schedules and cancels arrive on one durable consumer shared by every timer service; any of them
 * may fire any timer, and a lease in the store decides which one does. A firing is published with
 * msg id `fired:<runId>:<timerSeq>` before it is marked fired, so a crash in between re-publishes
 * it and JetStream drops the copy (and the router ignores a firing whose timer is no longer live).
 */
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import { backoffDelay, retryWithBackoff, sleep } from '../bus/backoff.js';
import { decodeBody } from '../bus/codec.js';
import type { Bus } from '../bus/connect.js';
import { isRetryableNatsError } from '../bus/errors.js';
import { type FiredMessage, firedMsgId, validateTimerCancel, validateTimerSchedule } from '../bus/messages.js';
import { ensureTimerConsumer, type StreamOptions } from '../bus/streams.js';
import { ConfigError, InvalidInputError } from '../errors.js';
import { type Logger, silentLogger } from '../log.js';
import { consumerNames, DEFAULT_PREFIX } from '../names.js';
import type { Store, TimerRecord } from '../store/types.js';
import {
  connectStore,
  deferred,
  newServiceId,
  resolveBus,
  type ServiceHandle,
  type ServiceHealth,
  type StopOptions,
  serveHealth,
} from './service.js';

/** Options of startTimer. */
export interface TimerServiceOptions {
  /** NATS URL to connect to (the service then owns the connection). Either this or `bus`. */
  natsUrl?: string;
  /** An existing bus; the service does not close it. */
  bus?: Bus;
  /** MongoDB URL (the service then owns the client and inits the store). Either this or `store`. */
  mongoUrl?: string;
  /** An existing, initialised store; the service does not close it. */
  store?: Store;
  /** @default 'squall' (or the bus's prefix); also the collection prefix when connecting. */
  prefix?: string;
  /** Database when connecting with mongoUrl. @default 'squall' */
  dbName?: string;
  /** @default silentLogger */
  log?: Logger;
  /** Instance id: the lease owner, in logs and health replies. @default `timer-<random>` */
  id?: string;
  /** How long a claimed timer is this instance's to fire before another may take it. @default 30_000 */
  leaseMs?: number;
  /** Most timers claimed per round. @default 500 */
  batchSize?: number;
  /** Longest sleep between looks at the store (new timers from other instances show up by then). @default 1_000 */
  maxSleepMs?: number;
  /** Ack wait of the shared schedule/cancel consumer. @default 30_000 */
  ackWaitMs?: number;
  /** Stream settings when this service connects itself. */
  streams?: Partial<StreamOptions>;
}

/** A sleep that can be cut short, remembering when it is due to end. */
class Alarm {
  #wake: (() => void) | undefined;
  /** When the current sleep ends (Infinity while awake). */
  until = Number.POSITIVE_INFINITY;

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    this.until = Date.now() + ms;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        this.until = Number.POSITIVE_INFINITY;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  /** Ends the current sleep now when `at` comes before its end. */
  wakeBy(at: number): void {
    if (at < this.until) this.#wake?.();
  }
}

/** Starts a timer service; resolves once it consumes schedules and watches the store. */
export async function startTimer(opts: TimerServiceOptions): Promise<ServiceHandle> {
  const id = opts.id ?? newServiceId('timer');
  const log = (opts.log ?? silentLogger).child({ service: 'timer', instance: id });
  const leaseMs = opts.leaseMs ?? 30_000;
  const batchSize = opts.batchSize ?? 500;
  const maxSleepMs = opts.maxSleepMs ?? 1_000;

  let store: Store;
  let mongo: MongoClient | undefined;
  let mongoConnected = (): boolean => true;
  if (opts.store) {
    store = opts.store;
  } else if (opts.mongoUrl) {
    const owned = await connectStore({
      mongoUrl: opts.mongoUrl,
      dbName: opts.dbName ?? DEFAULT_PREFIX,
      collectionPrefix: opts.bus?.prefix ?? opts.prefix ?? DEFAULT_PREFIX,
      log,
    });
    ({ mongo, store } = owned);
    mongoConnected = owned.connected;
  } else {
    throw new ConfigError('startTimer: pass either mongoUrl or store');
  }

  let bus: Bus;
  let ownsBus: boolean;
  try {
    ({ bus, owned: ownsBus } = await resolveBus(
      { natsUrl: opts.natsUrl, bus: opts.bus, prefix: opts.prefix, log, streams: opts.streams },
      id,
    ));
    const b = bus;
    await retryWithBackoff(() => ensureTimerConsumer(b.jsm, b.prefix, { ackWaitMs: opts.ackWaitMs ?? 30_000 }), {
      isRetryable: isRetryableNatsError,
      onRetry: (err, attempt, delayMs) => log.warn('timer consumer setup failed, retrying', { err, attempt, delayMs }),
    });
  } catch (err) {
    await mongo?.close();
    throw err;
  }

  const stopping = new AbortController();
  const alarm = new Alarm();
  const closed = deferred();
  const stats = { scheduled: 0, cancelled: 0, fired: 0, deadLettered: 0, lostLeases: 0 };
  let storeHealthy = true;
  /** Records whether the last store operation worked, logging each change. */
  const storeWorked = (ok: boolean): void => {
    if (ok === storeHealthy) return;
    storeHealthy = ok;
    if (ok) log.info('store operations work again');
    else log.warn('store operations failing; timers wait until they work again');
  };
  let consuming = false;
  let messages: ConsumerMessages | undefined;

  // ---- intake: schedules and cancels ----

  const handleIntake = async (msg: JsMsg): Promise<void> => {
    const parsed = bus.subjects.parse(msg.subject);
    const op = parsed?.kind === 'timer' ? parsed.tokens[0] : undefined;
    let apply: () => Promise<void>;
    try {
      const body = decodeBody(msg.data, msg.headers, msg.subject);
      if (op === 'schedule') {
        const t = validateTimerSchedule(body);
        apply = async () => {
          await store.scheduleTimer(t);
          stats.scheduled++;
          alarm.wakeBy(t.fireAt); // earlier than the current wake-up: look again now
        };
      } else if (op === 'cancel') {
        const t = validateTimerCancel(body);
        apply = async () => {
          await store.cancelTimer(t.runId, t.timerSeq);
          stats.cancelled++;
        };
      } else {
        throw new InvalidInputError(`${msg.subject} is neither a timer schedule nor a cancel`);
      }
    } catch (err) {
      const undecodable = err instanceof InvalidInputError && /is not valid (JSON|MessagePack)/.test(err.message);
      stats.deadLettered++;
      try {
        await bus.parkDeadLetter(undecodable ? 'undecodable' : 'invalid-input', msg, err);
        msg.term(); // no reason argument: nats-server < 2.10.4 ignores `+TERM <reason>`
      } catch (parkErr) {
        log.warn('could not dead-letter a bad timer message; it will be delivered again', { err: parkErr });
        msg.nak(backoffDelay(msg.info.deliveryCount));
      }
      return;
    }
    try {
      await apply();
      storeWorked(true);
      msg.ack();
    } catch (err) {
      storeWorked(false);
      const delayMs = backoffDelay(msg.info.deliveryCount);
      log.warn('store write failed; timer message will be delivered again', { subject: msg.subject, err, delayMs });
      msg.nak(delayMs);
    }
  };

  const intakeLoop = async (): Promise<void> => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        const consumer = await bus.js.consumers.get(bus.streams.timers, consumerNames.timer);
        messages = await consumer.consume({ max_messages: 100 });
        if (stopping.signal.aborted) void messages.close().catch(() => undefined);
        if (!consuming) log.info('consuming timer schedules', { afterFailures: failures });
        consuming = true;
        // In order, one at a time: each is a single quick store write.
        for await (const msg of messages) {
          await handleIntake(msg);
          failures = 0;
        }
        if (!stopping.signal.aborted) throw new Error('the timer consumer ended');
      } catch (err) {
        if (stopping.signal.aborted) break;
        consuming = false;
        const delayMs = backoffDelay(failures++);
        log.warn('consuming timer schedules failed, retrying', { err, delayMs });
        await sleep(delayMs, stopping.signal);
        await ensureTimerConsumer(bus.jsm, bus.prefix, { ackWaitMs: opts.ackWaitMs ?? 30_000 }).catch(() => undefined);
      }
    }
  };

  // ---- firing ----

  const fire = async (t: TimerRecord): Promise<void> => {
    const body: FiredMessage = { runId: t.runId, workflowId: t.workflowId, timerSeq: t.timerSeq, firedAt: Date.now() };
    await bus.publish(bus.subjects.fired(t.runId), body, {
      msgId: firedMsgId(t.runId, t.timerSeq),
      signal: stopping.signal,
    });
    stats.fired++;
    if (!(await store.markTimerFired(t.runId, t.timerSeq, id, t.leaseEpoch))) {
      // Our lease ran out (or it was cancelled) while publishing: the msg id dedupes a second
      // firing within the duplicate window, and the router ignores a firing that is not live.
      stats.lostLeases++;
      log.warn('timer fired but lease was lost before marking it', { runId: t.runId, timerSeq: t.timerSeq });
    }
  };

  const fireLoop = async (): Promise<void> => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      let waitMs: number;
      try {
        const claimed = await store.claimDueTimers(Date.now(), id, leaseMs, batchSize);
        const results = await Promise.allSettled(claimed.map(fire));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
        storeWorked(true);
        failures = 0;
        if (claimed.length === batchSize) continue; // more may be due right now
        const next = await store.nextTimerDue();
        waitMs = next === undefined ? maxSleepMs : Math.min(maxSleepMs, Math.max(0, next - Date.now()));
      } catch (err) {
        if (stopping.signal.aborted) break;
        storeWorked(false);
        waitMs = backoffDelay(failures++);
        log.warn('firing timers failed, retrying', { err, delayMs: waitMs });
      }
      if (waitMs > 0) await alarm.sleep(waitMs, stopping.signal);
    }
  };

  const loops = [
    intakeLoop().catch((err: unknown) => log.error('timer intake loop crashed', { err })),
    fireLoop().catch((err: unknown) => log.error('timer fire loop crashed', { err })),
  ];

  const health = (): ServiceHealth => ({
    live: !bus.nc.isClosed(),
    ready: !stopping.signal.aborted && bus.connected && consuming && storeHealthy && mongoConnected(),
    details: { leaseMs, nats: bus.connected, mongodb: mongoConnected(), consuming, storeHealthy, ...stats },
  });
  let healthSub: Subscription | undefined = serveHealth(bus, 'timer', id, health);
  log.info('timer service started', { leaseMs });

  let stopped: Promise<void> | undefined;
  const stop = (o: StopOptions = {}): Promise<void> => {
    stopped ??= (async () => {
      log.info('timer service stopping');
      stopping.abort();
      if (messages) void messages.close().catch(() => undefined);
      // Store writes and publishes are short; the deadline only bounds a server that hangs. An
      // abandoned claim is safe: its lease expires and another instance fires the timer.
      await Promise.race([Promise.all(loops), sleep(o.deadlineMs ?? 10_000)]);
      healthSub?.unsubscribe();
      healthSub = undefined;
      if (ownsBus) await bus.close();
      await mongo?.close();
      log.info('timer service stopped', { ...stats });
      closed.resolve();
    })();
    return stopped;
  };

  return { name: 'timer', id, stop, closed: closed.promise, health };
}
