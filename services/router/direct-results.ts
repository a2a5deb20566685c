/**
 * The router's side of direct results (shared/bus/direct-results.ts): for each events partition it
 * holds, a subscription to the partition's direct subject, in a queue group so that two routers
 * holding the same partition for a moment take each offer once. An offer is handled as the
 * stream's message of the same result would be, in one of the same in-flight slots; its ack and
 * term answer `settled`, its nak `retry`. With no slot free, or while stopping, it is answered
 * `retry` at once and the executor publishes it to the stream, whose pulls are paced.
 */
import type { Msg, Subscription } from '@nats-io/transport-node';
import type { Bus } from '../../shared/bus/connect.js';
import { answerDirect, DIRECT_MAX_WAIT_MS, DIRECT_RETRY, DIRECT_SETTLED } from '../../shared/bus/direct-results.js';
import { keepRequesterWaiting } from '../../shared/bus/progress.js';
import type { Logger } from '../../shared/log.js';
import type { InputMessage } from './input-message.js';

/** A direct offer as an input: the stream subject it would have come on, answered once. */
export class DirectInput implements InputMessage {
  readonly subject: string;
  readonly info: InputMessage['info'];
  /** The executor holds its task unacked until answered. */
  readonly awaited = true;
  private answered = false;
  /** Stops the progress notices that keep the executor waiting while the offer waits its turn. */
  private readonly stopProgress: () => void;

  constructor(
    private readonly msg: Pick<Msg, 'data' | 'headers' | 'reply' | 'respond'>,
    resultSubject: string,
    nowMs: number,
  ) {
    this.subject = resultSubject;
    this.info = { streamSequence: 0, deliveryCount: 1, timestampNanos: nowMs * 1e6 };
    this.stopProgress = keepRequesterWaiting(msg, DIRECT_MAX_WAIT_MS);
  }

  get data(): Uint8Array {
    return this.msg.data;
  }

  get headers(): Msg['headers'] {
    return this.msg.headers;
  }

  /** Nothing to extend: the executor waits while progress notices come (up to DIRECT_MAX_WAIT_MS). */
  working(): void {}

  ack(): void {
    this.answer(DIRECT_SETTLED);
  }

  /** Parked as a dead letter: nothing left for the executor to send. */
  term(): void {
    this.answer(DIRECT_SETTLED);
  }

  nak(): void {
    this.answer(DIRECT_RETRY);
  }

  private answer(a: typeof DIRECT_SETTLED | typeof DIRECT_RETRY): void {
    if (this.answered) return;
    this.answered = true;
    this.stopProgress();
    answerDirect(this.msg, a);
  }
}

/** What DirectResults works with. */
export interface DirectResultsDeps {
  bus: Bus;
  log: Logger;
  /** Takes an input into a free in-flight slot; false when none is free (see InputConsumer.offer). */
  offer: (m: InputMessage) => boolean;
  now?: () => number;
}

/** The direct-result subscriptions of the partitions a router holds. */
export class DirectResults {
  private readonly subs = new Map<number, Subscription>();
  private stopped = false;

  constructor(private readonly deps: DirectResultsDeps) {}

  /** Listens on the partitions in `owned`, and stops listening on the others. */
  take(owned: ReadonlySet<number>): void {
    for (const [p, sub] of this.subs) {
      if (owned.has(p) && !this.stopped) continue;
      sub.unsubscribe();
      this.subs.delete(p);
    }
    if (this.stopped) return;
    const { bus } = this.deps;
    for (const p of owned) {
      if (this.subs.has(p)) continue;
      try {
        const sub = bus.nc.subscribe(bus.subjects.directResultsOfPartition(p), {
          queue: `direct_${p}`,
          callback: (err, msg) => {
            if (!err) this.onOffer(msg);
          },
        });
        this.subs.set(p, sub);
      } catch (err) {
        // The connection is closing: the partition's results go through the stream meanwhile.
        this.deps.log.debug('could not listen for direct results', { partition: p, err });
      }
    }
  }

  /** Stops listening; offers already taken are still answered when decided. */
  stop(): void {
    this.stopped = true;
    this.take(new Set());
  }

  private onOffer(msg: Msg): void {
    const { bus } = this.deps;
    const runId = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
    let subject: string;
    try {
      subject = bus.subjects.result(runId);
    } catch {
      // Not a runId: the stream's publish refuses it the same way, with an error the executor logs.
      answerDirect(msg, DIRECT_RETRY);
      return;
    }
    const input = new DirectInput(msg, subject, (this.deps.now ?? Date.now)());
    if (this.stopped || !this.deps.offer(input)) input.nak();
  }
}
