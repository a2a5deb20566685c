/**
 * The schedule/cancel consumer: one durable consumer shared by every timer service, whose
 * messages are stored in batches (their cost is per command). A schedule and a cancel of one timer
 * commute (an early cancel leaves a tombstone), so messages are handled many at once, in any order.
 */
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { backoffDelay, sleep } from '../../shared/bus/backoff.js';
import { decodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import type { TimerCancelMessage, TimerScheduleMessage } from '../../shared/bus/messages.js';
import { ensureTimerConsumer } from '../../shared/bus/streams.js';
import type { Logger } from '../../shared/log.js';
import { consumerNames } from '../../shared/names.js';
import { SINGLE_UPDATE_CONCURRENCY } from '../../shared/store/server-profile.js';
import type { Store } from '../../shared/store/types.js';
import { Batcher } from '../common/batcher.js';
import type { Alarm } from './alarm.js';
import { parseTimerMessage } from './decisions.js';
import type { TimerMetrics } from './metrics.js';
import type { StoreHealth, TimerStats } from './status.js';

/** How long one pull of the intake waits (see run()). */
const INTAKE_PULL_EXPIRES_MS = 2_000;
/** Schedule/cancel messages handled at once (each waits for its batch's store write). */
const INTAKE_CONCURRENCY = 1000;
/** Most schedules stored by one insert. */
const SCHEDULE_BATCH = 500;

/** What the intake needs from the service. */
export interface TimerIntakeDeps {
  bus: Bus;
  store: Pick<Store, 'scheduleTimers' | 'cancelTimer'>;
  log: Logger;
  /** Woken when a schedule is due before the due-timer loop's current sleep ends. */
  alarm: Alarm;
  stats: TimerStats;
  storeHealth: StoreHealth;
  /** Ack wait of the shared consumer, re-ensured after a failure. */
  ackWaitMs: number;
  /** Where dead letters are counted. @default none */
  metrics?: TimerMetrics | undefined;
}

/** Consumes timer schedules and cancels into the store until stopped. */
export class TimerIntake {
  readonly #d: TimerIntakeDeps;
  readonly #stopping = new AbortController();
  #messages: ConsumerMessages | undefined;
  #consuming = false;
  // Cancels run a few at a time: each may be an update, and FerretDB 1.x's SQL pool runs dry under
  // many concurrent updates (see SINGLE_UPDATE_CONCURRENCY).
  readonly #cancels: Batcher<TimerCancelMessage, undefined>;
  // Schedules that arrive while a write is in flight go together in the next one.
  readonly #schedules: Batcher<TimerScheduleMessage, undefined>;

  constructor(deps: TimerIntakeDeps) {
    this.#d = deps;
    const { store } = deps;
    this.#cancels = new Batcher<TimerCancelMessage, undefined>(
      async ([c]) => {
        if (c) await store.cancelTimer(c.runId, c.timerSeq);
        return [undefined];
      },
      { maxBatch: 1, concurrency: SINGLE_UPDATE_CONCURRENCY },
    );
    this.#schedules = new Batcher<TimerScheduleMessage, undefined>(
      async (ts) => {
        await store.scheduleTimers(ts);
        return ts.map(() => undefined);
      },
      { maxBatch: SCHEDULE_BATCH, concurrency: 2 },
    );
  }

  /** True while the consumer delivers (false after a failure until it is back). */
  get consuming(): boolean {
    return this.#consuming;
  }

  /** Stops taking messages; the promise of run() resolves once the ones in hand are handled. */
  stop(): void {
    this.#stopping.abort();
    if (this.#messages) void this.#messages.close().catch(() => undefined);
  }

  /** Consumes until stop(), re-opening the consumer with backoff after any failure. Never rejects. */
  async run(): Promise<void> {
    const signal = this.#stopping.signal;
    const { bus, log } = this.#d;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const consumer = await bus.js.consumers.get(bus.streams.timers, consumerNames.timer);
        // Short pulls: on nats-server < 2.10 a pull a message reaches just after it expired is
        // dropped silently, and consume() notices only after two missed idle heartbeats (half the
        // expiry each), so a 30 s default would leave schedules unread that long.
        this.#messages = await consumer.consume({ max_messages: INTAKE_CONCURRENCY, expires: INTAKE_PULL_EXPIRES_MS });
        if (signal.aborted) void this.#messages.close().catch(() => undefined);
        if (!this.#consuming) log.info('consuming timer schedules', { afterFailures: failures });
        this.#consuming = true;
        await this.#drain(this.#messages, () => {
          failures = 0;
        });
        if (!signal.aborted) throw new Error('the timer consumer ended');
      } catch (err) {
        if (signal.aborted) break;
        this.#consuming = false;
        const delayMs = backoffDelay(failures++);
        log.warn('consuming timer schedules failed, retrying', { err, delayMs });
        await sleep(delayMs, signal);
        // The consumer may be gone (a stream re-created, a server that lost its state).
        await ensureTimerConsumer(bus.jsm, bus.prefix, { ackWaitMs: this.#d.ackWaitMs }).catch(() => undefined);
      }
    }
  }

  /** Handles messages up to INTAKE_CONCURRENCY at once until the iterator ends, then waits for them. */
  async #drain(messages: ConsumerMessages, onMessage: () => void): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    try {
      for await (const msg of messages) {
        const handled: Promise<void> = this.#handle(msg)
          .catch((err: unknown) => this.#d.log.warn('handling a timer message failed', { subject: msg.subject, err }))
          .finally(() => inFlight.delete(handled));
        inFlight.add(handled);
        if (inFlight.size >= INTAKE_CONCURRENCY) await Promise.race(inFlight);
        onMessage();
      }
    } finally {
      await Promise.all(inFlight);
    }
  }

  /** Stores one schedule or cancel and acks it; dead-letters a bad one; naks on a store failure. */
  async #handle(msg: JsMsg): Promise<void> {
    const { bus, stats, alarm, storeHealth, log } = this.#d;
    const parsed = bus.subjects.parse(msg.subject);
    const op = parsed?.kind === 'timer' ? parsed.tokens[0] : undefined;
    const m = parseTimerMessage(op, msg.subject, () => decodeBody(msg.data, msg.headers, msg.subject));
    if (m.kind === 'dead-letter') {
      stats.deadLettered++;
      this.#d.metrics?.deadLetters.inc({ reason: m.reason });
      try {
        await bus.parkDeadLetter(m.reason, msg, m.err);
        msg.term(); // no reason argument: nats-server < 2.10.4 ignores `+TERM <reason>`
      } catch (parkErr) {
        log.warn('could not dead-letter a bad timer message; it will be delivered again', { err: parkErr });
        msg.nak(backoffDelay(msg.info.deliveryCount));
      }
      return;
    }
    try {
      if (m.kind === 'schedule') {
        await this.#schedules.add(m.timer);
        stats.scheduled++;
        alarm.wakeBy(m.timer.fireAt); // earlier than the current wake-up: look again now
      } else {
        await this.#cancels.add(m.timer);
        stats.cancelled++;
      }
      storeHealth.worked(true);
      msg.ack();
    } catch (err) {
      storeHealth.worked(false);
      const delayMs = backoffDelay(msg.info.deliveryCount);
      log.warn('store write failed; timer message will be delivered again', { subject: msg.subject, err, delayMs });
      msg.nak(delayMs);
    }
  }
}
