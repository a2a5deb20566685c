/**
 * Heartbeats of one running attempt. JetStream is told the task is in progress (so its ack wait
 * never lapses while this process lives); the router is told the attempt is alive, throttled: the
 * first heartbeat at once, then at most one per interval, the latest details sent at the end of
 * it, so a tight loop of heartbeats costs one message per interval.
 */
import type { ActivityUpdateMessage } from '../../shared/bus/messages.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import {
  type AttemptRef,
  heartbeatReportDelayMs,
  heartbeatReportIntervalMs,
  keepAliveIntervalMs,
  workingThrottleMs,
} from './decisions.js';

/** What a HeartbeatRelay needs. */
export interface HeartbeatRelayOptions {
  /** The attempt the heartbeats are of. */
  ref: AttemptRef;
  /** Marks the task in progress with JetStream (`JsMsg.working`). */
  working: () => void;
  /** Publishes heartbeat report number `n` (counting from 1) to the router. */
  publish: (update: ActivityUpdateMessage, n: number) => Promise<void>;
  /**
   * Whether the router hears heartbeats before the result: only a policy with a start-bound
   * timeout can retry after a silent attempt, so only then (`task.reportStart`) are they sent.
   */
  reportToRouter: boolean;
  /** The task's heartbeat timeout, enforced by the router. */
  heartbeatTimeoutMs: number | undefined;
  ackWaitMs: number;
  /** Longest gap between reports (see ExecutorOptions.heartbeatThrottleMs). */
  maxThrottleMs: number;
  clock: Clock;
  log: Logger;
}

/** Relays one attempt's heartbeats to JetStream (in progress) and to the router (throttled). */
export class HeartbeatRelay {
  readonly #o: HeartbeatRelayOptions;
  readonly #reportEveryMs: number;
  readonly #workingEveryMs: number;
  #lastWorking: number;
  #lastReportAt = 0;
  #reported = 0;
  #details: { value: unknown } | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  #trailing: NodeJS.Timeout | undefined;
  /** Set once the attempt is over or cancelled: no more reports are scheduled. */
  #muted = false;

  /** Does nothing until start(). */
  constructor(o: HeartbeatRelayOptions) {
    this.#o = o;
    this.#reportEveryMs = heartbeatReportIntervalMs(o.heartbeatTimeoutMs, o.maxThrottleMs);
    this.#workingEveryMs = workingThrottleMs(o.ackWaitMs);
    this.#lastWorking = o.clock.now();
  }

  /** The latest details given to beat(), to travel with a failed result. */
  get details(): { value: unknown } | undefined {
    return this.#details;
  }

  /**
   * Keeps the task alive with JetStream for as long as this process runs it: the router's
   * heartbeat timeout, not the ack wait, decides when a silent attempt is given up.
   */
  start(): void {
    this.#keepAlive ??= setInterval(() => this.#markWorking(), keepAliveIntervalMs(this.#o.ackWaitMs));
  }

  /** One heartbeat of the activity (`ctx.heartbeat`), with new details unless `value` is undefined. */
  beat(value?: unknown): void {
    if (value !== undefined) this.#details = { value };
    if (this.#o.clock.now() - this.#lastWorking >= this.#workingEveryMs) this.#markWorking();
    if (!this.#o.reportToRouter || this.#muted || this.#trailing) return;
    const wait = heartbeatReportDelayMs(this.#lastReportAt, this.#reportEveryMs, this.#o.clock.now());
    if (wait <= 0) this.#report();
    else this.#trailing = setTimeout(() => this.#report(), wait);
  }

  /** Schedules no more reports (the attempt was cancelled); one already scheduled still goes. */
  mute(): void {
    this.#muted = true;
  }

  /** The attempt is over: stops keeping it alive and drops a scheduled report. */
  stop(): void {
    this.#muted = true;
    clearInterval(this.#keepAlive);
    clearTimeout(this.#trailing);
    this.#keepAlive = undefined;
    this.#trailing = undefined;
  }

  #markWorking(): void {
    this.#lastWorking = this.#o.clock.now();
    try {
      this.#o.working();
    } catch (err) {
      this.#o.log.debug('working() failed', { err });
    }
  }

  #report(): void {
    this.#trailing = undefined;
    this.#lastReportAt = this.#o.clock.now();
    const update: ActivityUpdateMessage = { ...this.#o.ref, update: 'heartbeat' };
    if (this.#details) update.details = this.#details.value;
    this.#o
      .publish(update, ++this.#reported)
      .catch((err: unknown) => this.#o.log.debug('could not report a heartbeat', { err }));
  }
}
