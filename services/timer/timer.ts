/**
 * The timer service: keeps durable timers in the store and publishes their firing when due.
 * Schedules and cancels arrive on one durable consumer shared by every timer service; any of them
 * may fire any timer, and a lease in the store decides which one does. A firing is published with
 * msg id `fired:<runId>:<timerSeq>` before it is marked fired, so a crash in between re-publishes
 * it and JetStream drops the copy (and the router ignores a firing whose timer is no longer live).
 *
 * Store writes go in batches, as their cost is per command: schedules arriving together are
 * stored by one insert, each round's claims are leased by one insert, and a round's published
 * timers are marked fired by one update per 2,500 while the next round is claimed and published.
 */
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import { backoffDelay, retryWithBackoff, sleep } from '../../shared/bus/backoff.js';
import { decodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import { isRetryableNatsError } from '../../shared/bus/errors.js';
import {
  type FiredMessage,
  firedMsgId,
  type TimerCancelMessage,
  type TimerScheduleMessage,
  validateTimerCancel,
  validateTimerSchedule,
} from '../../shared/bus/messages.js';
import { ensureTimerConsumer, type StreamOptions } from '../../shared/bus/streams.js';
import { settleLimited } from '../../shared/concurrency.js';
import { ConfigError, InvalidInputError } from '../../shared/errors.js';
import { type Logger, silentLogger } from '../../shared/log.js';
import { consumerNames, DEFAULT_PREFIX } from '../../shared/names.js';
import { SINGLE_UPDATE_CONCURRENCY } from '../../shared/store/server-profile.js';
import type { Store, TimerRecord } from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
import {
  connectStore,
  deferred,
  newServiceId,
  resolveBus,
  type ServiceHandle,
  type ServiceHealth,
  type StopOptions,
  serveHealth,
} from '../common/service.js';

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
  /**
   * Most timers claimed per round. Where a due scan reads the whole collection (FerretDB 1.x), it
   * is paid once per round, so rounds are large. @default 5_000
   */
  batchSize?: number;
  /** Longest sleep between looks at the store (new timers from other instances show up by then). @default 1_000 */
  maxSleepMs?: number;
  /** Ack wait of the shared schedule/cancel consumer. @default 30_000 */
  ackWaitMs?: number;
  /** Stream settings when this service connects itself. */
  streams?: Partial<StreamOptions>;
}

/** Schedule/cancel messages handled at once (each waits for its batch's store write). */
const INTAKE_CONCURRENCY = 1000;
/** Most schedules stored by one insert. */
const SCHEDULE_BATCH = 500;

/** Firings being published at once. */
const PUBLISH_CONCURRENCY = 500;

/** A sleep that can be cut short, remembering when it is due to end. */
class Alarm {
  #wake: (() => void) | undefined;
  /** The earliest wake-up asked for while awake: the next sleep ends by then. */
  #asked = Number.POSITIVE_INFINITY;
  /** When the current sleep ends (Infinity while awake). */
  until = Number.POSITIVE_INFINITY;

  sleep(ms: number, signal: AbortSignal): Promise<void> {
    const now = Date.now();
    const end = Math.min(now + ms, this.#asked);
    this.#asked = Number.POSITIVE_INFINITY;
    if (end <= now) return Promise.resolve();
    this.until = end;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        this.until = Number.POSITIVE_INFINITY;
        resolve();
      };
      const timer = setTimeout(done, end - now);
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  /**
   * Ends the current sleep now when `at` comes before its end. Asked while awake (a timer stored
   * while the loop looks at the store, after its look), the next sleep ends by `at` instead.
   */
  wakeBy(at: number): void {
    if (!this.#wake) this.#asked = Math.min(this.#asked, at);
    else if (at < this.until) this.#wake();
  }
}

/** Starts a timer service; resolves once it consumes schedules and watches the store. */
export async function startTimer(opts: TimerServiceOptions): Promise<ServiceHandle> {
  const id = opts.id ?? newServiceId('timer');
  const log = (opts.log ?? silentLogger).child({ service: 'timer', instance: id });
  const leaseMs = opts.leaseMs ?? 30_000;
  const batchSize = opts.batchSize ?? 5_000;
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
  // Cancels run a few at a time: each may be an update, and FerretDB 1.x's SQL pool runs dry under
  // many concurrent updates (see SINGLE_UPDATE_CONCURRENCY).
  const cancels = new Batcher<TimerCancelMessage, undefined>(
    async ([c]) => {
      if (c) await store.cancelTimer(c.runId, c.timerSeq);
      return [undefined];
    },
    { maxBatch: 1, concurrency: SINGLE_UPDATE_CONCURRENCY },
  );
  // Schedules that arrive while a write is in flight go together in the next one.
  const schedules = new Batcher<TimerScheduleMessage, undefined>(
    async (ts) => {
      await store.scheduleTimers(ts);
      return ts.map(() => undefined);
    },
    { maxBatch: SCHEDULE_BATCH, concurrency: 2 },
  );

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
          await schedules.add(t);
          stats.scheduled++;
          alarm.wakeBy(t.fireAt); // earlier than the current wake-up: look again now
        };
      } else if (op === 'cancel') {
        const t = validateTimerCancel(body);
        apply = async () => {
          await cancels.add(t);
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
        messages = await consumer.consume({ max_messages: INTAKE_CONCURRENCY });
        if (stopping.signal.aborted) void messages.close().catch(() => undefined);
        if (!consuming) log.info('consuming timer schedules', { afterFailures: failures });
        consuming = true;
        // Many at once, in no particular order: a schedule and a cancel of one timer commute (an
        // early cancel leaves a tombstone), and concurrent schedules share one store write.
        const inFlight = new Set<Promise<void>>();
        try {
          for await (const msg of messages) {
            const handled: Promise<void> = handleIntake(msg)
              .catch((err: unknown) => log.warn('handling a timer message failed', { subject: msg.subject, err }))
              .finally(() => inFlight.delete(handled));
            inFlight.add(handled);
            if (inFlight.size >= INTAKE_CONCURRENCY) await Promise.race(inFlight);
            failures = 0;
          }
        } finally {
          await Promise.all(inFlight);
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

  const publishFiring = async (t: TimerRecord): Promise<void> => {
    const body: FiredMessage = { runId: t.runId, workflowId: t.workflowId, timerSeq: t.timerSeq, firedAt: Date.now() };
    await bus.publish(bus.subjects.fired(t.runId), body, {
      msgId: firedMsgId(t.runId, t.timerSeq),
      signal: stopping.signal,
    });
    stats.fired++;
  };

  /** Timers published and not yet marked (`runId:timerSeq`): the next claims pass over them. */
  const unmarked = new Set<string>();
  const unmarkedKey = (t: { runId: string; timerSeq: number }): string => `${t.runId}:${t.timerSeq}`;
  /** The marks of published rounds, one after another. Never rejects. */
  let marking: Promise<void> = Promise.resolve();

  /** Marks published timers fired, trying a few times; on giving up they fire again once their lease ends. */
  const markFired = async (published: TimerRecord[]): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const marked = await store.markTimersFired(published, id, Date.now());
        if (marked < published.length) {
          // Leases ran out (or timers were cancelled) while publishing: the msg id dedupes a second
          // firing within the duplicate window, and the router ignores a firing that is not live.
          stats.lostLeases += published.length - marked;
          log.warn('timers fired but not marked: lease lost or cancelled meanwhile', {
            count: published.length - marked,
          });
        }
        return;
      } catch (err) {
        if (attempt >= 2 || stopping.signal.aborted) {
          storeWorked(false);
          log.warn('marking fired timers failed; they fire again when their lease ends', {
            err,
            count: published.length,
          });
          return;
        }
        await sleep(backoffDelay(attempt), stopping.signal);
      }
    }
  };

  /**
   * Publishes each claimed timer's firing, then queues one mark of the published ones. The mark
   * runs while the next round is claimed and published (a firing's lag is its publish, and a mark
   * updates every document, the slow write on FerretDB); one round's mark at most waits queued.
   */
  const fire = async (claimed: TimerRecord[]): Promise<void> => {
    const results = await settleLimited(claimed, PUBLISH_CONCURRENCY, publishFiring);
    const published = claimed.filter((_, i) => results[i]?.status === 'fulfilled');
    if (published.length > 0) {
      for (const t of published) unmarked.add(unmarkedKey(t));
      const previous = marking;
      marking = previous
        .then(() => markFired(published))
        .finally(() => {
          for (const t of published) unmarked.delete(unmarkedKey(t));
        });
      await previous;
    }
    // Unpublished ones stay leased to us until the lease ends; then any instance claims them.
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };

  const fireLoop = async (): Promise<void> => {
    let failures = 0;
    while (!stopping.signal.aborted) {
      let waitMs: number;
      try {
        const claimed = await store.claimDueTimers(Date.now(), id, leaseMs, batchSize, (t) =>
          unmarked.has(unmarkedKey(t)),
        );
        await fire(claimed);
        storeWorked(true);
        failures = 0;
        if (claimed.length === batchSize) continue; // more may be due right now
        if (unmarked.size > 0) {
          // The earliest pending timers are mostly ours, published and being marked: nextDue would
          // say when their leases end, at the cost of two more scans on FerretDB while marks run.
          // Look again once the marks are done, or within maxSleepMs.
          void marking.then(() => alarm.wakeBy(Number.NEGATIVE_INFINITY));
          waitMs = maxSleepMs;
        } else {
          const next = await store.nextTimerDue();
          waitMs = next === undefined ? maxSleepMs : Math.min(maxSleepMs, Math.max(0, next - Date.now()));
        }
      } catch (err) {
        if (stopping.signal.aborted) break;
        storeWorked(false);
        waitMs = backoffDelay(failures++);
        log.warn('firing timers failed, retrying', { err, delayMs: waitMs });
      }
      if (waitMs > 0) await alarm.sleep(waitMs, stopping.signal);
    }
    await marking;
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
