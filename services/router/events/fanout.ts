/**
 * The fan-out of user events (docs/events.md): the routers share one durable on the user events
 * stream; the router that takes an event reads the wait index by its key (one equality read, no
 * scan of runs) and delivers it to every waiting run it reaches (deliver.ts), then acks. A router
 * killed mid-fan-out leaves the event unacked: it is redelivered after the ack wait and delivered
 * again, the repeats dropped by message id. An undecodable event is dead-lettered.
 */
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JsMsg } from '@nats-io/jetstream';
import { backoffDelay, sleep } from '../../../shared/bus/backoff.js';
import type { Bus } from '../../../shared/bus/connect.js';
import { toSquallError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/log.js';
import { consumerNames } from '../../../shared/names.js';
import type { EventWaitStore } from '../../../shared/store/events.js';
import { deliverEvent, type StoredUserEvent, storedUserEvent } from './deliver.js';

/** Options of an EventFanout. */
export interface EventFanoutOptions {
  bus: Bus;
  index: EventWaitStore;
  log: Logger;
  /** How long a taken event stays with a router that stopped answering. */
  ackWaitMs: number;
  /** Events fanned out at once. @default 4 */
  concurrency?: number;
}

/** Fans out user events to the runs waiting on them; one per router. */
export class EventFanout {
  private stopping = false;
  private messages: { stop(): void | Promise<void> } | undefined;
  private readonly loop: Promise<void>;
  /** Events fanned out, and deliveries made, since start (health details). */
  readonly counters = { events: 0, deliveries: 0 };

  constructor(private readonly o: EventFanoutOptions) {
    this.loop = this.run();
  }

  /** Stops taking events; resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.messages?.stop();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { bus, log } = this.o;
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        await this.ensureConsumer();
        const consumer = await bus.js.consumers.get(bus.streams.userEvents, consumerNames.eventFanout);
        const messages = await consumer.consume({ max_messages: this.o.concurrency ?? 4 });
        this.messages = messages;
        if (this.stopping) await messages.stop();
        attempt = 0;
        const inFlight = new Set<Promise<void>>();
        for await (const m of messages) {
          const p = this.handle(m).finally(() => inFlight.delete(p));
          inFlight.add(p);
          if (inFlight.size >= (this.o.concurrency ?? 4)) await Promise.race(inFlight);
        }
        await Promise.all(inFlight);
      } catch (err) {
        if (this.stopping) return;
        const delayMs = backoffDelay(attempt);
        log.warn('event fan-out consumer failed; retrying', { err, attempt, delayMs });
        await sleep(delayMs);
      }
    }
  }

  private async ensureConsumer(): Promise<void> {
    const { bus } = this.o;
    const config = {
      durable_name: consumerNames.eventFanout,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: this.o.ackWaitMs * 1_000_000,
      max_deliver: -1,
      max_ack_pending: 256,
    };
    try {
      await bus.jsm.consumers.add(bus.streams.userEvents, config);
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      await bus.jsm.consumers.update(bus.streams.userEvents, consumerNames.eventFanout, { ack_wait: config.ack_wait });
    }
  }

  /** One event: read its waiting runs, deliver, ack; a failure naks it for a later try. */
  private async handle(m: JsMsg): Promise<void> {
    const { bus, log, index } = this.o;
    let event: StoredUserEvent;
    try {
      const publishedAt = Math.floor(m.info.timestampNanos / 1e6);
      event = storedUserEvent(bus, { subject: m.subject, data: m.data, headers: m.headers, seq: m.seq, publishedAt });
    } catch (err) {
      await bus.parkDeadLetter('invalid-input', { subject: m.subject, data: m.data, headers: m.headers }, err);
      m.term();
      return;
    }
    try {
      const waits = await index.waiting(event.key);
      m.working();
      const sent = await deliverEvent(bus, event, waits);
      m.ack();
      this.counters.events++;
      this.counters.deliveries += sent;
      log.debug('event fanned out', { key: event.key, eventId: event.eventId, waiting: waits.length, delivered: sent });
    } catch (err) {
      const e = toSquallError(err);
      log.warn('event fan-out failed; redelivering', { key: event.key, eventId: event.eventId, code: e.code, err: e });
      m.nak(backoffDelay(Math.min(m.info.deliveryCount, 8)));
    }
  }
}
