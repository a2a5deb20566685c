/**
 * The executor's Prometheus metrics: activity tasks by outcome, how long tasks waited between
 * being scheduled and starting, and how long they ran. Dead letters and NATS events are
 * ServiceMetrics'.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Millis } from '../../shared/history/events.js';
import { LATENCY_BUCKETS, readGauge, ServiceMetrics, secondsSince, WAIT_BUCKETS } from '../common/metrics.js';

/** How a delivered task ended; `dropped`: its attempt was already over (a cancel notice). */
export type TaskOutcome = 'completed' | 'failed' | 'cancelled' | 'dropped' | 'deadLettered';

/** How an attempt that ran ended. */
export type RunOutcome = Extract<TaskOutcome, 'completed' | 'failed' | 'cancelled'>;

/** The metrics of one executor instance. */
export class ExecutorMetrics extends ServiceMetrics {
  readonly #tasks: Counter<'activity' | 'outcome'>;
  readonly #scheduleToStart: Histogram<'activity'>;
  readonly #run: Histogram<'activity' | 'outcome'>;

  constructor(registry: Registry) {
    super(registry);
    const registers = [registry];
    this.#tasks = new Counter({
      name: 'squall_executor_tasks_total',
      help: 'Activity tasks delivered, by activity and outcome (completed, failed, cancelled, dropped, deadLettered)',
      labelNames: ['activity', 'outcome'],
      registers,
    });
    this.#scheduleToStart = new Histogram({
      name: 'squall_executor_schedule_to_start_seconds',
      help: "Time from a task's scheduledAt (the router's decision) to the start of its run here",
      labelNames: ['activity'],
      buckets: [...WAIT_BUCKETS],
      registers,
    });
    this.#run = new Histogram({
      name: 'squall_executor_run_seconds',
      help: 'Time an activity function ran, by activity and outcome',
      labelNames: ['activity', 'outcome'],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
  }

  /** Reports the tasks running right now at each scrape. */
  follow(inFlight: () => number): void {
    readGauge(this.registry, 'squall_executor_tasks_in_flight', 'Activity tasks running now', inFlight);
  }

  /**
   * An attempt of `activity` starts running at `nowMs`: observes its wait since `scheduledAt`;
   * the function returned records how it ended and how long it ran.
   */
  started(activity: string, scheduledAt: Millis, nowMs: Millis): (outcome: RunOutcome) => void {
    const startMs = performance.now();
    // A clock behind the router's would make the wait negative: it counts as none.
    this.#scheduleToStart.observe({ activity }, Math.max(0, nowMs - scheduledAt) / 1000);
    return (outcome) => {
      this.#run.observe({ activity, outcome }, secondsSince(startMs));
      this.#tasks.inc({ activity, outcome });
    };
  }

  /** A task of `activity` was dropped unrun: its attempt was over before it started. */
  dropped(activity: string): void {
    this.#tasks.inc({ activity, outcome: 'dropped' });
  }

  /** A task of `activity` could not be read and was dead-lettered for `reason`. */
  deadLettered(activity: string, reason: string): void {
    this.#tasks.inc({ activity, outcome: 'deadLettered' });
    this.deadLetters.inc({ reason });
  }
}
