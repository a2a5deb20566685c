/**
 * Publishing what attempts report: their start, heartbeats and result, each on the run's result
 * subject with a msg id naming the attempt, so JetStream drops the copy a redelivered task (or a
 * retried publish) sends again. Publishes wait out a NATS outage until the executor's hard stop.
 * A result is first offered to the router holding its run (shared/bus/direct-results.ts) and
 * published only when that router does not settle it.
 */
import type { PubAck } from '@nats-io/jetstream';
import { encodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import { MAYBE_DECIDED_HEADER, offerDirect } from '../../shared/bus/direct-results.js';
import { type ActivityUpdateMessage, type ResultMessage, resultMsgId, updateMsgId } from '../../shared/bus/messages.js';
import { fallbackResult } from './decisions.js';

/** Publishes attempts' reports on one bus, giving up when `hardStop` aborts. */
export class ResultPublisher {
  readonly #bus: Bus;
  readonly #hardStop: AbortSignal;
  readonly #direct: boolean;
  readonly #now: () => number;
  #duplicateWindowMs: Promise<number> | undefined;

  /**
   * `hardStop` aborts the publishes still waiting (the stop deadline passed); `direct: false`
   * publishes every result to the stream without offering it to a router first; `now` stamps
   * unanswered offers (MAYBE_DECIDED_HEADER).
   */
  constructor(bus: Bus, hardStop: AbortSignal, opts: { direct?: boolean; now?: () => number } = {}) {
    this.#bus = bus;
    this.#hardStop = hardStop;
    this.#direct = opts.direct ?? true;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Publishes update number `n` of the attempt (0 is its start, heartbeats count from 1); its
   * PubAck says (`duplicate`) whether the same update was already published. `deadlineMs: 0`
   * tries once, without retrying a passing failure.
   */
  async publishUpdate(update: ActivityUpdateMessage, n: number, opts: { deadlineMs?: number } = {}): Promise<PubAck> {
    return await this.#bus.publish(this.#bus.subjects.result(update.runId), update, {
      msgId: updateMsgId(update.runId, update.activitySeq, update.attempt, n),
      signal: this.#hardStop,
      ...opts,
    });
  }

  /**
   * Publishes the attempt's start (update 0). `duplicate`: the same start was published already;
   * `firstTry`: said by the first publish, not a retry (whose duplicate may be that first publish
   * having landed unacknowledged).
   */
  async publishStart(update: ActivityUpdateMessage): Promise<{ duplicate: boolean; firstTry: boolean }> {
    try {
      const ack = await this.publishUpdate(update, 0, { deadlineMs: 0 });
      return { duplicate: ack.duplicate, firstTry: true };
    } catch {
      // Retried as any update is: a failure that does not pass is thrown from there.
      const ack = await this.publishUpdate(update, 0);
      return { duplicate: ack.duplicate, firstTry: false };
    }
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
   * published as the attempt's failure instead. Throws when neither could be published. With
   * `streamOnly` the result goes to the stream without a direct offer (the attempt published its
   * start or a heartbeat, which the result must follow; or its activity is flow-limited).
   * `taskStoredAt` (when the task was first stored) is the earliest a router may have decided a
   * result of it already: a router that finds this result in history republishes since then.
   */
  async publishResult(
    result: ResultMessage,
    opts: { streamOnly?: boolean; taskStoredAt?: number } = {},
  ): Promise<void> {
    const direct = this.#direct && opts.streamOnly !== true;
    try {
      await this.#publish(result, direct, opts.taskStoredAt);
    } catch (err) {
      const fallback = fallbackResult(result, err);
      if (!fallback) throw err;
      await this.#publish(fallback, direct, opts.taskStoredAt);
    }
  }

  async #publish(result: ResultMessage, direct: boolean, maybeDecidedSince: number | undefined): Promise<void> {
    const msgId = resultMsgId(result.runId, result.activitySeq, result.attempt);
    let since = maybeDecidedSince;
    const headers = (): Record<string, string> | undefined =>
      since === undefined ? undefined : { [MAYBE_DECIDED_HEADER]: String(since) };
    if (direct && !this.#hardStop.aborted) {
      const subject = this.#bus.subjects.directResult(result.runId);
      const at = this.#now();
      const h = headers();
      const offer = await offerDirect(this.#bus.nc, subject, encodeBody(result), {
        msgId,
        signal: this.#hardStop,
        ...(h ? { headers: h } : {}),
      });
      if (offer === 'settled') return;
      // The task's stored time, when known, is before this offer: the earlier of the two.
      if (offer === 'unanswered') since ??= at;
    }
    const h = headers();
    await this.#bus.publish(this.#bus.subjects.result(result.runId), result, {
      msgId,
      signal: this.#hardStop,
      ...(h ? { headers: h } : {}),
    });
  }
}
