/**
 * The pull loop of one activity: fetches tasks from the activity's shared durable consumer, never
 * more than the permits it holds of the executor's semaphore, and hands each to the executor,
 * which releases the permit when the task is done. A failed pull is retried with backoff after
 * looking the consumer up again (it may have been deleted).
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { backoffDelay, sleep } from '../../shared/bus/backoff.js';
import type { Bus } from '../../shared/bus/connect.js';
import { guardedFetch } from '../../shared/bus/fetch-guard.js';
import { ensureActivityConsumer } from '../../shared/bus/streams.js';
import type { ActivityDefinition } from '../../shared/engine/activity.js';
import type { Logger } from '../../shared/log.js';
import { consumerNames } from '../../shared/names.js';
import type { Semaphore } from '../common/semaphore.js';
import { admitFetched } from './decisions.js';

/** What a PullLoop needs. */
export interface PullLoopOptions {
  bus: Bus;
  /** Bounds the tasks running at once across every loop of the executor. */
  permits: Semaphore;
  /** Most tasks one pull asks for (see pullBatchCap). */
  batchCap: number;
  pollExpiresMs: number;
  ackWaitMs: number;
  /** Aborts when the executor stops taking work. */
  stopping: AbortSignal;
  /** Runs one task; it owns one permit from then on and releases it when done. */
  startTask: (msg: JsMsg) => void;
  log: Logger;
}

/** Pulls the tasks of one activity until the executor stops. */
export class PullLoop {
  readonly #def: ActivityDefinition;
  readonly #o: PullLoopOptions;
  #consumer: Consumer | undefined;
  readonly #fetches = new Set<ConsumerMessages>();

  /** Does nothing until open() and run(). */
  constructor(def: ActivityDefinition, o: PullLoopOptions) {
    this.#def = def;
    this.#o = o;
  }

  /** Creates (or updates) the activity's consumer and looks it up. */
  async open(): Promise<Consumer> {
    const { bus, ackWaitMs } = this.#o;
    const max = this.#def.options.maxConcurrency;
    await ensureActivityConsumer(bus.jsm, bus.prefix, this.#def.name, {
      ackWaitMs,
      ...(max ? { maxAckPending: max } : {}),
    });
    this.#consumer = await bus.js.consumers.get(bus.streams.tasks, consumerNames.activity(this.#def.name));
    return this.#consumer;
  }

  /** Pulls until `stopping` aborts; resolves once no pull is left open. */
  async run(): Promise<void> {
    const { permits, stopping } = this.#o;
    let lastFull = false;
    let failures = 0;
    while (!stopping.aborted) {
      if (!(await permits.acquire(stopping))) break;
      // After a full batch more may be waiting: take what permits are free, up to the cap.
      const reserved: number = 1 + (lastFull ? permits.tryAcquireUpTo(this.#o.batchCap - 1) : 0);
      const { taken, failed } = await this.#pullOnce(reserved);
      permits.release(reserved - taken);
      lastFull = taken === reserved;
      if (failed === undefined) {
        failures = 0;
      } else if (!stopping.aborted) {
        // Look it up (or recreate it) again after any failure: a deleted consumer shows up as a
        // fetch's missed heartbeats, not as a JetStream API code (ConsumerNotFound) we could test.
        this.#consumer = undefined;
        const delayMs = backoffDelay(failures++);
        this.#o.log.warn('pulling tasks failed, retrying', { activity: this.#def.name, err: failed, delayMs });
        await sleep(delayMs, stopping);
      }
    }
  }

  /** Ends the open pulls early (stop); run() then sees `stopping` and returns. */
  closeFetches(): void {
    // close() resolves only once the iterator is drained, so it is not awaited here.
    for (const f of this.#fetches) void f.close().catch(() => undefined);
  }

  /** One fetch of up to `reserved` tasks; how many were started, and why it failed if it did. */
  async #pullOnce(reserved: number): Promise<{ taken: number; failed?: unknown }> {
    const { stopping } = this.#o;
    let taken = 0;
    let iter: ConsumerMessages | undefined;
    try {
      const consumer = this.#consumer ?? (await this.open());
      iter = await guardedFetch(consumer, { max_messages: reserved, expires: this.#o.pollExpiresMs }, () =>
        this.#o.log.debug('a pull outlived its expiry (nats-server < 2.10 drops it); pulling again', {
          activity: this.#def.name,
        }),
      );
      this.#fetches.add(iter);
      // stop() may have closed the other fetches while this one was being set up.
      if (stopping.aborted) void iter.close().catch(() => undefined);
      for await (const msg of iter) {
        if (admitFetched(stopping.aborted, taken, reserved) === 'give-back') {
          msg.nak();
          continue;
        }
        taken++;
        this.#o.startTask(msg);
      }
      return { taken };
    } catch (err) {
      return { taken, failed: err };
    } finally {
      if (iter) this.#fetches.delete(iter);
    }
  }
}
