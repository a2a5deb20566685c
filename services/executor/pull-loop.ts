/**
 * The pull loop of one activity: fetches tasks from the activity's shared durable consumer and
 * hands each to the executor, which releases its permit of the executor's semaphore when the task
 * is done. An idle loop polls for one task holding no permit (once one is free), and the task
 * takes a permit when it arrives: a poll holding a permit would keep every other activity's tasks
 * waiting for its expiry when the permits are few. After a full batch a loop takes the permits
 * free, up to its cap, and pulls that many. A failed pull is retried with backoff after looking
 * the consumer up again (it may have been deleted). Tasks of the other priority levels are pulled
 * by its PriorityLanes, which take over the pulling while they have work.
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { backoffDelay, sleep } from '../../shared/bus/backoff.js';
import type { Bus } from '../../shared/bus/connect.js';
import { guardedFetch } from '../../shared/bus/fetch-guard.js';
import { ensureActivityConsumer, levelsWithMessages } from '../../shared/bus/streams.js';
import type { ActivityDefinition } from '../../shared/engine/activity.js';
import { OTHER_LEVELS } from '../../shared/flow/priority.js';
import type { Logger } from '../../shared/log.js';
import { consumerNames } from '../../shared/names.js';
import { type LanePull, PriorityLanes } from '../common/priority-lanes.js';
import type { Semaphore } from '../common/semaphore.js';
import { admitFetched } from './decisions.js';

/**
 * Expiry of a pull that holds permits: one expected to find tasks (a level known to have work, or
 * after a full batch), which returns at once unless another executor took them. The least nats.js takes.
 */
const HOLDING_PULL_EXPIRES_MS = 1_000;

/** What one fetch did: how many tasks it asked for and started, and why it failed if it did. */
interface PullOutcome extends LanePull {
  failed?: unknown;
}

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
  readonly #lanes: PriorityLanes;
  #lanesOpen = false;

  /** Does nothing until open() and run(). */
  constructor(def: ActivityDefinition, o: PullLoopOptions) {
    this.#def = def;
    this.#o = o;
    const { bus } = o;
    const levelOfSubject = new Map(OTHER_LEVELS.map((level) => [bus.subjects.taskAt(def.name, level), level]));
    this.#lanes = new PriorityLanes({
      nc: bus.nc,
      hintSubject: bus.subjects.taskLevelsOf(def.name),
      recheckMs: o.ackWaitMs,
      batchCap: o.batchCap,
      stopping: o.stopping,
      log: o.log,
      logFields: { activity: def.name },
      levelsInStream: () =>
        levelsWithMessages(bus.jsm, bus.streams.tasks, bus.subjects.taskLevelsOf(def.name), (subject) =>
          levelOfSubject.get(subject),
        ),
      openLevel: async (level) => {
        await ensureActivityConsumer(bus.jsm, bus.prefix, def.name, this.#consumerOptions(), level);
        return bus.js.consumers.get(bus.streams.tasks, consumerNames.activityAt(def.name, level));
      },
      defaultConsumer: async () => this.#consumer ?? (await this.open()),
      pull: async (consumer, want) => {
        const r = await this.#pullHolding(want, consumer);
        if (r.failed !== undefined) throw r.failed;
        return r;
      },
    });
  }

  /** Creates (or updates) the activity's consumer and looks it up (the priority levels' wait for work). */
  async open(): Promise<Consumer> {
    const { bus } = this.#o;
    await ensureActivityConsumer(bus.jsm, bus.prefix, this.#def.name, this.#consumerOptions());
    this.#consumer = await bus.js.consumers.get(bus.streams.tasks, consumerNames.activity(this.#def.name));
    if (!this.#lanesOpen) {
      await this.#lanes.open();
      this.#lanesOpen = true;
    }
    return this.#consumer;
  }

  /** Pulls until `stopping` aborts; resolves once no pull is left open. */
  async run(): Promise<void> {
    const { permits, stopping, batchCap } = this.#o;
    let lastFull = false;
    let failures = 0;
    const lanes = this.#lanes.run();
    while (!stopping.aborted) {
      if (this.#lanes.active) {
        await this.#lanes.whenIdle();
        continue;
      }
      let r: PullOutcome;
      if (lastFull && batchCap > 1) {
        // After a full batch more may be waiting: take what permits are free, up to the cap.
        r = await this.#pullHolding(batchCap);
      } else {
        if (!(await permits.whenFree(stopping))) break;
        r = await this.#pullOnce(1, { holding: false });
      }
      lastFull = r.taken === r.asked && r.asked > 0;
      if (r.failed === undefined) {
        failures = 0;
      } else if (!stopping.aborted) {
        // Look it up (or recreate it) again after any failure: a deleted consumer shows up as a
        // fetch's missed heartbeats, not as a JetStream API code (ConsumerNotFound) we could test.
        this.#consumer = undefined;
        const delayMs = backoffDelay(failures++);
        this.#o.log.warn('pulling tasks failed, retrying', { activity: this.#def.name, err: r.failed, delayMs });
        await sleep(delayMs, stopping);
      }
    }
    await lanes;
  }

  /** Ends the open pulls early (stop); run() then sees `stopping` and returns. */
  closeFetches(): void {
    // close() resolves only once the iterator is drained, so it is not awaited here.
    for (const f of this.#fetches) void f.close().catch(() => undefined);
  }

  /** Settings of the activity's durables, at every level. */
  #consumerOptions(): { ackWaitMs: number; maxAckPending?: number } {
    const max = this.#def.options.maxConcurrency;
    return { ackWaitMs: this.#o.ackWaitMs, ...(max ? { maxAckPending: max } : {}) };
  }

  /** Waits for a permit, takes the others free up to `want`, and pulls that many tasks holding them. */
  async #pullHolding(want: number, from?: Consumer): Promise<PullOutcome> {
    const { permits, stopping } = this.#o;
    if (!(await permits.acquire(stopping))) return { asked: 0, taken: 0 };
    const reserved = 1 + permits.tryAcquireUpTo(want - 1);
    const r = await this.#pullOnce(reserved, { holding: true, from, expires: HOLDING_PULL_EXPIRES_MS });
    permits.release(reserved - r.taken);
    return r;
  }

  /**
   * One fetch of up to `asked` tasks, each started: on a permit the caller holds (`holding`), or
   * on one taken as it arrives, waiting for it (the task kept alive) if none is free by then.
   */
  async #pullOnce(
    asked: number,
    how: { holding: boolean; from?: Consumer | undefined; expires?: number },
  ): Promise<PullOutcome> {
    const { stopping } = this.#o;
    let taken = 0;
    let iter: ConsumerMessages | undefined;
    try {
      const consumer = how.from ?? this.#consumer ?? (await this.open());
      iter = await guardedFetch(consumer, { max_messages: asked, expires: how.expires ?? this.#o.pollExpiresMs }, () =>
        this.#o.log.debug('a pull outlived its expiry (nats-server < 2.10 drops it); pulling again', {
          activity: this.#def.name,
        }),
      );
      this.#fetches.add(iter);
      // stop() may have closed the other fetches while this one was being set up.
      if (stopping.aborted) void iter.close().catch(() => undefined);
      for await (const msg of iter) {
        if (admitFetched(stopping.aborted, taken, asked) === 'give-back') {
          msg.nak();
          continue;
        }
        taken++;
        if (how.holding || this.#o.permits.tryAcquireUpTo(1) === 1) this.#o.startTask(msg);
        else void this.#startWhenPermitted(msg);
      }
      return { asked, taken };
    } catch (err) {
      return { asked, taken, failed: err };
    } finally {
      if (iter) this.#fetches.delete(iter);
    }
  }

  /**
   * Starts a task that arrived while every permit was taken once one frees, telling JetStream it
   * is being worked on meanwhile so it is not redelivered; given back if the executor stops first.
   */
  async #startWhenPermitted(msg: JsMsg): Promise<void> {
    const keepAlive = setInterval(() => msg.working(), Math.max(1, Math.floor(this.#o.ackWaitMs / 3)));
    keepAlive.unref();
    try {
      if (await this.#o.permits.acquire(this.#o.stopping)) this.#o.startTask(msg);
      else msg.nak();
    } finally {
      clearInterval(keepAlive);
    }
  }
}
