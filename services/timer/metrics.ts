/**
 * The timer service's Prometheus metrics: due timers claimed, firings and how late they went out,
 * and (read at scrape time from TimerStats) schedules, cancels and lost leases. Dead letters and
 * connection events are ServiceMetrics'.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Millis } from '../../shared/history/events.js';
import { readCounter, ServiceMetrics, WAIT_BUCKETS } from '../common/metrics.js';
import type { TimerStats } from './status.js';

/** The metrics of one timer service instance. */
export class TimerMetrics extends ServiceMetrics {
  readonly #due: Counter;
  readonly #lag: Histogram;

  constructor(registry: Registry) {
    super(registry);
    const registers = [registry];
    this.#due = new Counter({
      name: 'squall_timer_due_total',
      help: 'Due timers this instance claimed (leased) to fire',
      registers,
    });
    this.#lag = new Histogram({
      name: 'squall_timer_firing_lag_seconds',
      help: "Time from a timer's due time to the publish of its firing",
      buckets: [...WAIT_BUCKETS],
      registers,
    });
  }

  /** Reports the service's TimerStats at each scrape. */
  follow(stats: TimerStats): void {
    const r = this.registry;
    readCounter(r, 'squall_timer_scheduled_total', 'Timer schedules stored', () => stats.scheduled);
    readCounter(r, 'squall_timer_cancelled_total', 'Timer cancels stored', () => stats.cancelled);
    readCounter(r, 'squall_timer_fired_total', 'Firings published (before JetStream drops a copy)', () => stats.fired);
    readCounter(
      r,
      'squall_timer_lost_leases_total',
      'Published timers not marked fired: their lease ran out or they were cancelled meanwhile',
      () => stats.lostLeases,
    );
  }

  /** A round claimed `count` due timers. */
  claimed(count: number): void {
    this.#due.inc(count);
  }

  /** A firing went out `lagMs` after its timer was due. */
  fired(lagMs: Millis): void {
    this.#lag.observe(Math.max(0, lagMs) / 1000);
  }
}
