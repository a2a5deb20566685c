/**
 * One delivered task, run once: an object with a lifecycle (as Temporal's worker `Activity`).
 * run() reads the task, drops it if a cancel notice already ended its attempt, reports its start
 * when asked, calls the activity, publishes the result and only then acks; a crash anywhere
 * before the ack means the task is delivered again. cancel() (a notice) and abandon() (the stop
 * deadline) abort a running attempt through `ctx.signal`.
 */
import type { JsMsg } from '@nats-io/jetstream';
import { backoffDelay } from '../../shared/bus/backoff.js';
import type { Bus } from '../../shared/bus/connect.js';
import {
  type ActivityCancelMessage,
  type ResultMessage,
  type TaskMessage,
  validateTask,
} from '../../shared/bus/messages.js';
import { sendLazily } from '../../shared/bus/write-coalescing.js';
import type { Clock } from '../../shared/clock.js';
import type { ActivityContext, ActivityDefinition } from '../../shared/engine/activity.js';
import { ActivityFailure, CancelledError, InvalidInputError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { noteAttemptResult, traceAttempt } from '../common/tracing.js';
import type { CancelNotices } from './cancel-notices.js';
import {
  type AttemptRef,
  attemptRef,
  type BadTaskReason,
  deliveredTooOften,
  failureResult,
  interruptedResult,
  noticeCovers,
  type Settlement,
  settleAfterPublishFailure,
  settleAfterResult,
  settleBadTask,
  startAlreadyRecorded,
  successResult,
  tooManyDeliveriesResult,
} from './decisions.js';
import type { Admission, ExecutorFlow } from './flow/gate.js';
import { HeartbeatRelay } from './heartbeats.js';
import type { ExecutorMetrics } from './metrics.js';
import type { ResultPublisher } from './results.js';

/** Counters of what the executor's attempts did, in its health details. */
export interface AttemptStats {
  started: number;
  completed: number;
  failed: number;
  deadLettered: number;
  dropped: number;
}

/** What every attempt of one executor shares. */
export interface AttemptEnv {
  bus: Bus;
  results: ResultPublisher;
  notices: CancelNotices;
  clock: Clock;
  log: Logger;
  stats: AttemptStats;
  ackWaitMs: number;
  heartbeatThrottleMs: number;
  maxDeliveries: number;
  /** Where tasks are counted and timed. @default none */
  metrics?: ExecutorMetrics | undefined;
  /** Flow gates (concurrency keys, rate limits); only activities with those options use them. */
  flow?: ExecutorFlow | undefined;
}

/** A task message read as far as it can be: the task, or why it cannot run. */
type ParsedTask = { task: TaskMessage } | { bad: BadTaskReason; err: unknown };

/** One delivery of one activity task, from reading it to settling its message. */
export class ActivityAttempt {
  readonly #def: ActivityDefinition;
  readonly #msg: JsMsg;
  readonly #env: AttemptEnv;
  readonly #abort = new AbortController();
  #task: TaskMessage | undefined;
  #relay: HeartbeatRelay | undefined;
  /** Set when a cancel notice covered this attempt (its result is still published; the router ignores it). */
  #cancelled = false;
  /** Set when the stop deadline passed: the task was nak'ed and its result must not be published. */
  #abandoned = false;
  /** Set once the attempt published its start or a heartbeat: its result then follows them on the stream. */
  #publishedUpdates = false;
  readonly #onOutcome: (() => void) | undefined;

  /**
   * Does nothing until run(). `onOutcome` is called once the attempt's result is known, before it
   * is delivered: the executor gives the task's permit back then, as delivering a result directly
   * waits for its router's decision (shared/bus/direct-results.ts).
   */
  constructor(def: ActivityDefinition, msg: JsMsg, env: AttemptEnv, onOutcome?: () => void) {
    this.#def = def;
    this.#msg = msg;
    this.#env = env;
    this.#onOutcome = onOutcome;
  }

  /** Runs the attempt to the end (settled, or given back); never throws for the task's own trouble. */
  async run(): Promise<void> {
    const parsed = await this.#parse();
    if ('bad' in parsed) return this.#deadLetter(parsed.bad, parsed.err);
    const task = parsed.task;
    this.#task = task;
    const log = this.#env.log.child({ runId: task.runId, workflowId: task.workflowId, activity: this.#def.name });
    const obsolete = await this.#env.notices.obsoleteBy(task, {
      deliveryCount: this.#msg.info.deliveryCount,
      publishedAtMs: this.#msg.info.timestampNanos / 1e6,
    });
    if (obsolete) {
      // The router timed this attempt out (and retried it) or cancelled the activity: never run it.
      this.#env.stats.dropped++;
      this.#env.metrics?.dropped(this.#def.name);
      log.info('dropping a task whose attempt is already over', {
        activitySeq: task.activitySeq,
        attempt: task.attempt,
        reason: obsolete.reason,
      });
      this.#settle('ack', log);
      return;
    }
    const untrack = this.#env.notices.track(task.runId, task.activitySeq, this);
    try {
      await traceAttempt(this.#msg.headers, task, () => this.#runTask(task, log));
    } finally {
      untrack();
    }
  }

  /** A cancel notice for this activity: aborts the attempt if the notice covers it. */
  cancel(notice: ActivityCancelMessage): void {
    const task = this.#task;
    if (this.#cancelled || !task || !noticeCovers(notice, task.attempt)) return;
    this.#cancelled = true;
    this.#relay?.mute();
    this.#env.log.info('activity cancelled by the router', {
      runId: notice.runId,
      activitySeq: notice.activitySeq,
      attempt: task.attempt,
      reason: notice.reason,
    });
    const why = `activity attempt is over (${notice.reason ?? 'cancelled'})`;
    this.#abort.abort(new CancelledError(why, { details: { ...notice } }));
  }

  /** The stop deadline passed: aborts the attempt and gives the task back for another executor. */
  abandon(): void {
    this.#abandoned = true;
    this.#abort.abort(new ActivityFailure('executor shutting down', { retryable: true }));
    try {
      this.#msg.nak();
    } catch {
      // the connection may already be gone; the ack wait redelivers it anyway
    }
  }

  async #parse(): Promise<ParsedTask> {
    let body: unknown;
    try {
      body = await this.#env.bus.readBody(this.#msg);
    } catch (err) {
      return { bad: 'undecodable', err };
    }
    try {
      const task = validateTask(body);
      if (task.activity !== this.#def.name) {
        throw new InvalidInputError(`task for activity ${task.activity} arrived on ${this.#msg.subject}`);
      }
      return { task };
    } catch (err) {
      return { bad: 'invalid-input', err };
    }
  }

  async #deadLetter(reason: BadTaskReason, err: unknown): Promise<void> {
    this.#env.stats.deadLettered++;
    this.#env.metrics?.deadLettered(this.#def.name, reason);
    let parked = false;
    try {
      await this.#env.bus.parkDeadLetter(reason, this.#msg, err);
      parked = true;
    } catch (parkErr) {
      this.#env.log.warn('could not dead-letter a bad task; it will be delivered again', { err: parkErr });
    }
    this.#settle(settleBadTask(parked), this.#env.log);
  }

  async #runTask(task: TaskMessage, log: Logger): Promise<void> {
    const gate = this.#env.flow?.gateFor(this.#def);
    if (!gate) return this.#runAdmitted(task, log, undefined);
    const admission = await gate.admit(task, this.#msg, this.#abort.signal);
    if (admission.kind === 'givenBack') return;
    try {
      await this.#runAdmitted(task, log, admission);
    } finally {
      if (admission.kind === 'run') admission.release();
    }
  }

  async #runAdmitted(task: TaskMessage, log: Logger, admission: Admission | undefined): Promise<void> {
    const ref = attemptRef(task);
    const deliveries = this.#msg.info.deliveryCount;
    let startedBefore = false;
    if (task.reportStart || task.atMostOnce) {
      try {
        startedBefore = await this.#reportStart(task, ref);
      } catch (err) {
        log.error('could not report the start of a task; it will be delivered again', { err });
        this.#settle(settleAfterPublishFailure(this.#abandoned), log);
        return;
      }
    }
    let result: ResultMessage;
    if (startedBefore) {
      log.warn('not running an at-most-once attempt that already started', { attempt: task.attempt, deliveries });
      result = interruptedResult(ref, deliveries);
    } else if (deliveredTooOften(deliveries, this.#env.maxDeliveries)) {
      log.error('giving up on a task delivered too many times', { deliveries });
      result = tooManyDeliveriesResult(ref, deliveries);
    } else if (admission?.kind === 'refused') {
      log.warn('flow key of a task could not be computed; failing it', { err: admission.error });
      result = failureResult(ref, admission.error);
    } else {
      result = await this.#execute(task, ref, log);
    }
    if (this.#abandoned) return; // nak'ed at the stop deadline; another executor runs it again
    noteAttemptResult(result);
    this.#onOutcome?.();
    // A direct offer may wait its turn at a busy router (kept waiting by its progress notices):
    // the task is told it is being worked on meanwhile, so it is not delivered again.
    const keepAlive = setInterval(
      () => {
        try {
          this.#msg.working();
        } catch (err) {
          log.debug('working() failed', { err }); // the connection closing: the task comes back
        }
      },
      Math.max(1, Math.floor(this.#env.ackWaitMs / 3)),
    );
    keepAlive.unref();
    try {
      const { timestampNanos } = this.#msg.info;
      const { maxConcurrency, concurrency, rateLimit } = this.#def.options;
      await this.#env.results.publishResult(result, {
        // A flow-limited activity's slot (and unacked task) is held until its result is out: the
        // stream's PubAck comes sooner than a router's decision.
        streamOnly: this.#publishedUpdates || maxConcurrency !== undefined || !!concurrency || !!rateLimit,
        // Whatever its delivery count says: a nats-server killed forgets recent deliveries, so a
        // task run before (its result perhaps decided) can come again as a first delivery.
        taskStoredAt: Math.floor(timestampNanos / 1e6),
      });
    } catch (err) {
      log.error('could not publish a result; the task will be delivered again', { err });
      this.#settle(settleAfterPublishFailure(this.#abandoned), log);
      return;
    } finally {
      clearInterval(keepAlive);
    }
    // A failed ack is harmless: the redelivered task re-runs and its result is deduplicated by msg id.
    this.#settle(settleAfterResult(this.#abandoned), log);
    log.debug('task done', { ok: result.ok });
  }

  /**
   * Publishes the attempt's start and waits for its ack. For an at-most-once task, true when an
   * earlier delivery had already recorded that start (the attempt must not run again).
   */
  async #reportStart(task: TaskMessage, ref: AttemptRef): Promise<boolean> {
    this.#publishedUpdates = true;
    const { duplicate, firstTry } = await this.#env.results.publishStart({ ...ref, update: 'started' });
    if (!task.atMostOnce) return false;
    const { deliveryCount, timestampNanos } = this.#msg.info;
    if (deliveryCount <= 1 && !duplicate) return false;
    const taskAgeMs = this.#env.clock.now() - timestampNanos / 1e6;
    const duplicateWindowMs = await this.#env.results.duplicateWindowMs();
    return startAlreadyRecorded({ deliveryCount, duplicate, firstTry, taskAgeMs, duplicateWindowMs });
  }

  /** Calls the activity with its context and heartbeats; its outcome as a result. */
  async #execute(task: TaskMessage, ref: AttemptRef, log: Logger): Promise<ResultMessage> {
    const relay = new HeartbeatRelay({
      ref,
      working: () => this.#msg.working(),
      publish: async (update, n) => {
        this.#publishedUpdates = true;
        await this.#env.results.publishUpdate(update, n);
      },
      reportToRouter: task.reportStart === true,
      heartbeatTimeoutMs: task.heartbeatTimeoutMs,
      ackWaitMs: this.#env.ackWaitMs,
      maxThrottleMs: this.#env.heartbeatThrottleMs,
      clock: this.#env.clock,
      log,
    });
    this.#relay = relay;
    const abort = this.#abort;
    const ctx: ActivityContext = {
      activity: this.#def.name,
      workflowId: task.workflowId,
      runId: task.runId,
      activitySeq: task.activitySeq,
      attempt: task.attempt,
      idempotencyKey: `${task.workflowId}/${task.activitySeq}`,
      // Read on demand: Node builds an AbortController's signal on first access, and most
      // activities never look (0.4% of a busy executor's CPU went to building them). An abort
      // before the first read still shows: abort() builds the signal aborted.
      get signal() {
        return abort.signal;
      },
      heartbeat(value?: unknown) {
        if (value !== undefined) ctx.lastHeartbeat = value;
        relay.beat(value);
      },
      log,
    };
    if (task.lastHeartbeat !== undefined) ctx.lastHeartbeat = task.lastHeartbeat;
    if (this.#cancelled) relay.mute();
    relay.start();
    this.#env.stats.started++;
    const ended = this.#env.metrics?.started(this.#def.name, task.scheduledAt, this.#env.clock.now());
    log.debug('task started', { activitySeq: task.activitySeq, attempt: task.attempt });
    try {
      const output = await this.#def.fn(task.input, ctx);
      this.#env.stats.completed++;
      ended?.('completed');
      return successResult(ref, output);
    } catch (err) {
      this.#env.stats.failed++;
      ended?.(this.#cancelled ? 'cancelled' : 'failed');
      log.info('activity failed', { err, attempt: task.attempt, cancelled: this.#cancelled });
      return failureResult(ref, err, relay.details);
    } finally {
      relay.stop();
    }
  }

  /**
   * Acks the task once its result is published: with the connection's next write (sendLazily),
   * unless the activity's maxConcurrency bounds its unacked tasks, where an ack held back would
   * hold back the next task's delivery.
   */
  #ack(): void {
    if (this.#def.options.maxConcurrency !== undefined) this.#msg.ack();
    else sendLazily(this.#env.bus.nc, () => this.#msg.ack());
  }

  /** Settles the task message as decided; a settle that fails is logged (the ack wait covers it). */
  #settle(s: Settlement, log: Logger): void {
    try {
      if (s === 'ack') this.#ack();
      else if (s === 'term')
        this.#msg.term(); // no reason: `+TERM <reason>` needs nats-server 2.10.4
      else if (s === 'nak-backoff') this.#msg.nak(backoffDelay(this.#msg.info.deliveryCount));
    } catch (err) {
      log.warn(`${s} of a task failed`, { err });
    }
  }
}
