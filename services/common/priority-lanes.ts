/**
 * Pulling by priority (docs/flow-control.md#priorities), for executors (an activity's tasks) and
 * routers (starts). Work of the default level takes its caller's plain pull loop and costs nothing
 * more; work of the other levels sits on subjects and durables of its own, a level's durable
 * created only once work at that level is seen. The lanes hear such work as it is published (a
 * core subscription, silent while no priority is used) and look for it at open and every
 * `recheckMs` (redeliveries publish nothing): one stream info request while no priority is used.
 * While any level but the default has work the lanes take over the pulling of every level, the
 * default one included: each pull goes to a level with work picked by weighted round-robin
 * (PriorityRotation: higher first, the lowest still one pull in 17 against the highest), by the
 * levels' pending counts (read again at most every 250 ms, or sooner: see #rounds).
 */
import type { Consumer } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { sleep } from '../../shared/bus/backoff.js';
import { DEFAULT_PRIORITY, PriorityRotation } from '../../shared/flow/priority.js';
import type { Logger } from '../../shared/log.js';

/** What one pull of the lanes did: how many messages it asked for, and how many it took. */
export interface LanePull {
  asked: number;
  taken: number;
}

/** What the lanes need of their caller. */
export interface PriorityLanesOptions {
  nc: NatsConnection;
  /** The core subject a publish at any level but the default is heard on. */
  hintSubject: string;
  /** Longest the lanes go without looking for work at the other levels (a redelivery publishes nothing). */
  recheckMs: number;
  /** Most messages one pull asks for. */
  batchCap: number;
  stopping: AbortSignal;
  log: Logger;
  /** Fields that name what the lanes pull, in their logs. */
  logFields: Record<string, unknown>;
  /**
   * The levels but the default that may have work: those with messages on their subjects (one
   * stream info request), whether or not their durables exist yet.
   */
  levelsInStream(): Promise<number[]>;
  /** Creates (or updates) a level's durable and looks it up: called once a level is seen to have work. */
  openLevel(level: number): Promise<Consumer>;
  /** The default level's consumer (the plain loop's). */
  defaultConsumer(): Promise<Consumer>;
  /** One pull of up to `want` messages from `consumer`, each handed on. */
  pull(consumer: Consumer, want: number): Promise<LanePull>;
}

/** Longest a pending count is trusted while pulling by priority (messages redelivered meanwhile publish nothing). */
const COUNTS_TTL_MS = 250;

/** The prioritised pulling of one queue; inactive (the plain loop pulls) while no level but the default has work. */
export class PriorityLanes {
  readonly #o: PriorityLanesOptions;
  readonly #consumers = new Map<number, Consumer>();
  readonly #rotation = new PriorityRotation();
  #sub: Subscription | undefined;
  /** Some level but the default may have work: look. */
  #hinted = true;
  /** A prioritised message was published since the levels were counted. */
  #recount = false;
  #wake: (() => void) | undefined;
  #active = false;
  #idle: Array<() => void> = [];

  constructor(o: PriorityLanesOptions) {
    this.#o = o;
  }

  /** Listens for prioritised publishes and looks for work once (no durable is created unless work is found). */
  async open(): Promise<void> {
    this.#sub ??= this.#o.nc.subscribe(this.#o.hintSubject, {
      callback: () => {
        this.#hinted = true;
        this.#recount = true;
        this.#wake?.();
      },
    });
    this.#active = (await this.#levelsWithWork()).some(([level]) => level !== DEFAULT_PRIORITY);
  }

  /** True while the lanes pull every level (the plain loop waits: whenIdle). */
  get active(): boolean {
    return this.#active;
  }

  /** Resolves once the lanes are inactive (or at once). */
  whenIdle(): Promise<void> {
    if (!this.#active) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Pulls by priority whenever a level but the default has work, until `stopping` aborts. */
  async run(): Promise<void> {
    const { stopping, log, logFields } = this.#o;
    try {
      while (!stopping.aborted) {
        if (!this.#hinted) await this.#hintOrTimeout();
        if (stopping.aborted) break;
        this.#hinted = false;
        try {
          await this.#rounds();
        } catch (err) {
          if (stopping.aborted) break;
          this.#hinted = true;
          // A durable may have been deleted: look each up (or create it) again.
          this.#consumers.clear();
          log.warn('pulling by priority failed, retrying', { ...logFields, err });
          await sleep(1_000, stopping);
        } finally {
          this.#setActive(false);
        }
      }
    } finally {
      this.#sub?.unsubscribe();
      this.#sub = undefined;
      this.#setActive(false);
    }
  }

  /**
   * Pulls, one level per round, while some level but the default has work. The levels' pending
   * counts are read again when a prioritised message is heard, when a pull found fewer messages
   * than it asked for, when no counted work is left, and at least every COUNTS_TTL_MS.
   */
  async #rounds(): Promise<void> {
    const { stopping, batchCap } = this.#o;
    let counts = new Map<number, number>();
    let countedAt = Number.NEGATIVE_INFINITY;
    while (!stopping.aborted) {
      const now = Date.now();
      if (this.#recount || now - countedAt > COUNTS_TTL_MS || ![...counts.values()].some((n) => n > 0)) {
        this.#recount = false;
        counts = new Map(await this.#levelsWithWork());
        countedAt = now;
      }
      const work = [...counts].filter(([, n]) => n > 0).map(([level]) => level);
      if (!work.some((level) => level !== DEFAULT_PRIORITY)) {
        if (countedAt === now) return;
        this.#recount = true; // counted down to nothing: make sure before handing back
        continue;
      }
      this.#setActive(true);
      const level = this.#rotation.next(work) as number;
      const { asked, taken } = await this.#o.pull(
        await this.#consumer(level),
        Math.min(batchCap, counts.get(level) ?? 1),
      );
      // Fewer than asked for: another puller took some, so the count is off.
      counts.set(level, taken < asked ? 0 : (counts.get(level) ?? 0) - taken);
      if (taken < asked) this.#recount = true;
    }
  }

  /**
   * The levels with messages waiting (num_pending of their durables), each with its count; the
   * default level's is read only when another level has work, and a level whose subjects hold
   * nothing costs no request.
   */
  async #levelsWithWork(): Promise<Array<[number, number]>> {
    const levels = await this.#o.levelsInStream();
    if (levels.length === 0) return [];
    const counts = await Promise.all(
      [...levels, DEFAULT_PRIORITY].map(async (level): Promise<[number, number]> => {
        const info = await (await this.#consumer(level)).info();
        return [level, info.num_pending];
      }),
    );
    return counts.filter(([, n]) => n > 0);
  }

  async #consumer(level: number): Promise<Consumer> {
    if (level === DEFAULT_PRIORITY) return this.#o.defaultConsumer();
    let c = this.#consumers.get(level);
    if (!c) {
      c = await this.#o.openLevel(level);
      this.#consumers.set(level, c);
      this.#o.log.info('pulling a priority level', { ...this.#o.logFields, level });
    }
    return c;
  }

  /** Waits for a prioritised publish, or `recheckMs` (a redelivered message publishes nothing). */
  #hintOrTimeout(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#o.stopping.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(() => {
        this.#hinted = true;
        done();
      }, this.#o.recheckMs);
      timer.unref();
      this.#wake = done;
      this.#o.stopping.addEventListener('abort', done, { once: true });
    });
  }

  #setActive(active: boolean): void {
    this.#active = active;
    if (active) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }
}
