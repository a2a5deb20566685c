/**
 * Cancel notices as the executor sees them. A notice (the router timed an attempt out, or the
 * activity is over) aborts the matching running attempts, and is remembered so a task still
 * queued behind it is dropped unrun. A task that may have missed its notice (redelivered, or
 * queued for a while) is checked against the notices stream, which keeps the last notice per
 * activity: the executor cannot know the current attempt otherwise.
 */
import type { Subscription } from '@nats-io/transport-node';
import { decodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import { type ActivityCancelMessage, type TaskMessage, validateActivityCancel } from '../../shared/bus/messages.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import { activityKey, isLateTask, noticeCovers } from './decisions.js';

/** Notices remembered for tasks still queued; older ones are looked up in the stream when needed. */
const RECENT_NOTICES_KEPT = 10_000;

/** Something running that a notice may end. */
export interface Cancellable {
  /** Ends the work if `notice` covers it; a notice that does not is ignored. */
  cancel(notice: ActivityCancelMessage): void;
}

/** Where a task came from, as far as deciding whether it is late goes. */
export interface Delivery {
  deliveryCount: number;
  /** When JetStream stored the task, in ms since the epoch. */
  publishedAtMs: number;
}

/** The executor's subscription to cancel notices, and the attempts it may end. */
export class CancelNotices {
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** Latest notice per activity key, oldest first (a Map keeps insertion order). */
  readonly #recent = new Map<string, ActivityCancelMessage>();
  readonly #running = new Map<string, Set<Cancellable>>();
  readonly #sub: Subscription;

  /** Subscribes to every activity cancel notice of the bus's prefix. */
  constructor(bus: Bus, clock: Clock, log: Logger) {
    this.#bus = bus;
    this.#clock = clock;
    this.#log = log;
    this.#sub = bus.nc.subscribe(bus.subjects.all.activityCancel, {
      callback: (err, m) => {
        if (err) return;
        try {
          this.#heard(validateActivityCancel(decodeBody(m.data, m.headers, m.subject)));
        } catch (e) {
          log.debug('ignoring a malformed activity cancel notice', { err: e });
        }
      },
    });
  }

  #heard(n: ActivityCancelMessage): void {
    const key = activityKey(n.runId, n.activitySeq);
    this.#recent.delete(key); // re-inserted below as the newest
    this.#recent.set(key, n);
    if (this.#recent.size > RECENT_NOTICES_KEPT) this.#recent.delete(this.#recent.keys().next().value as string);
    for (const r of this.#running.get(key) ?? []) r.cancel(n);
  }

  /** Lets notices of activity (runId, activitySeq) reach `work` until the returned function is called. */
  track(runId: string, activitySeq: number, work: Cancellable): () => void {
    const key = activityKey(runId, activitySeq);
    const peers = this.#running.get(key) ?? new Set<Cancellable>();
    peers.add(work);
    this.#running.set(key, peers);
    return () => {
      peers.delete(work);
      if (peers.size === 0 && this.#running.get(key) === peers) this.#running.delete(key);
    };
  }

  /**
   * The notice that makes `task` obsolete, if any: from memory, else (for a late task) from the
   * stream. A failed look-up runs the task: running twice is allowed, losing it is not.
   */
  async obsoleteBy(task: TaskMessage, delivery: Delivery): Promise<ActivityCancelMessage | undefined> {
    const known = this.#recent.get(activityKey(task.runId, task.activitySeq));
    if (known) return noticeCovers(known, task.attempt) ? known : undefined;
    if (!isLateTask(delivery.deliveryCount, delivery.publishedAtMs, this.#clock.now())) return undefined;
    try {
      const stored = await this.#bus.jsm.streams.getMessage(this.#bus.streams.notices, {
        last_by_subj: this.#bus.subjects.activityCancel(task.runId, task.activitySeq),
      });
      if (!stored) return undefined; // no notice for this activity (NoMessageFound)
      const n = validateActivityCancel(decodeBody(stored.data, stored.header, stored.subject));
      return noticeCovers(n, task.attempt) ? n : undefined;
    } catch (err) {
      this.#log.debug('could not look up cancel notices; running the task', { err });
      return undefined;
    }
  }

  /** Stops listening. */
  close(): void {
    this.#sub.unsubscribe();
  }
}
