/**
 * Publishing what attempts report: their start, heartbeats and result, each on the run's result
 * subject with a msg id naming the attempt, so JetStream drops the copy a redelivered task (or a
 * retried publish) sends again. Publishes wait out a NATS outage until the executor's hard stop.
 */
import type { PubAck } from '@nats-io/jetstream';
import type { Bus } from '../../shared/bus/connect.js';
import { type ActivityUpdateMessage, type ResultMessage, resultMsgId, updateMsgId } from '../../shared/bus/messages.js';
import { fallbackResult } from './decisions.js';

/** Publishes attempts' reports on one bus, giving up when `hardStop` aborts. */
export class ResultPublisher {
  readonly #bus: Bus;
  readonly #hardStop: AbortSignal;
  #duplicateWindowMs: Promise<number> | undefined;

  /** `hardStop` aborts the publishes still waiting (the stop deadline passed). */
  constructor(bus: Bus, hardStop: AbortSignal) {
    this.#bus = bus;
    this.#hardStop = hardStop;
  }

  /**
   * Publishes update number `n` of the attempt (0 is its start, heartbeats count from 1); its
   * PubAck says (`duplicate`) whether the same update was already published.
   */
  async publishUpdate(update: ActivityUpdateMessage, n: number): Promise<PubAck> {
    return await this.#bus.publish(this.#bus.subjects.result(update.runId), update, {
      msgId: updateMsgId(update.runId, update.activitySeq, update.attempt, n),
      signal: this.#hardStop,
    });
  }

  /**
   * The events stream's duplicate window in ms (read once): how far back a duplicate start shows.
   * A failed read is not cached.
   */
  duplicateWindowMs(): Promise<number> {
    this.#duplicateWindowMs ??= this.#bus.jsm.streams.info(this.#bus.streams.events).then(
      (info) => info.config.duplicate_window / 1e6,
      (err: unknown) => {
        this.#duplicateWindowMs = undefined;
        throw err;
      },
    );
    return this.#duplicateWindowMs;
  }

  /**
   * Publishes the attempt's result; a result that cannot travel as it is (an output too large) is
   * published as the attempt's failure instead. Throws when neither could be published.
   */
  async publishResult(result: ResultMessage): Promise<void> {
    try {
      await this.#publish(result);
    } catch (err) {
      const fallback = fallbackResult(result, err);
      if (!fallback) throw err;
      await this.#publish(fallback);
    }
  }

  async #publish(result: ResultMessage): Promise<void> {
    await this.#bus.publish(this.#bus.subjects.result(result.runId), result, {
      msgId: resultMsgId(result.runId, result.activitySeq, result.attempt),
      signal: this.#hardStop,
    });
  }
}
