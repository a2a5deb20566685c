/**
 * The router's input side: pulls user inputs (inbox stream) and engine inputs (events stream)
 * from the shared durable consumers, hands each to the decider, and settles the message by what
 * came of it: acked, redelivered later, or parked as a dead letter when the input itself is wrong.
 */
import type { ConsumerMessages } from '@nats-io/jetstream';
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { backoffDelay, sleep } from '../../shared/bus/backoff.js';
import { decodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import { type ChildResultMessage, childResultMsgId } from '../../shared/bus/lifecycle-messages.js';
import {
  CallbackClosedError,
  InvalidInputError,
  type SquallError,
  toErrorInfo,
  toSquallError,
} from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { DecideOutcome, RunDecider } from './decider.js';
import {
  checkInputSize,
  type DeadLetterReason,
  deadLetterReason,
  parseRouterInput,
  type RouterInput,
  type StartInput,
} from './inputs.js';
import type { StartedNotice } from './requests.js';

/** Most messages one pull asks for. */
const FETCH_BATCH = 256;
/** How long one pull waits for messages before the next is sent. */
const FETCH_EXPIRES_MS = 2_000;

/**
 * How far before a redelivered message's stored time its run's commits are re-entered in the
 * outbox: the commit an earlier attempt made carries the deciding router's clock, not the server's.
 */
const REDELIVERY_CLOCK_MARGIN_MS = 10_000;

/** Delivery attempts a signal for a not-yet-visible run waits before being dead-lettered. */
const UNKNOWN_RUN_REDELIVERIES = 6;

/** What the router counts of the inputs it handled (shown in health details and the stop log). */
export type RouterCounters = {
  decided: number;
  deadLettered: number;
  redelivered: number;
  dropped: number;
};

/** What createInputConsumer works with. */
export interface InputConsumerDeps {
  bus: Bus;
  decider: RunDecider;
  log: Logger;
  /** Counted into as inputs are decided, dropped, redelivered and dead-lettered. */
  counters: RouterCounters;
  /** When the inbox stream was created: with a message's stream sequence, the key of a start. */
  inboxEpoch: string;
  /** Largest input body accepted, in bytes; larger ones are dead-lettered as `oversize`. */
  maxInputBytes: number;
  /** Most inputs being decided at once. */
  maxInFlight: number;
  /** Ack wait of the router's consumers (for recreating a lost durable). */
  ackWaitMs: number;
  /** True once the router is stopping: the loops end, and no new pull is sent. */
  isStopping: () => boolean;
}

/** One durable the router pulls from: the inbox's shared one, or an events partition's. */
export interface RouterConsumerSpec {
  stream: string;
  durable: string;
  /** Subject filter of the durable (events partitions); none for the inbox. */
  filter?: string;
}

/** The router's consumption of its streams. */
export interface InputConsumer {
  /**
   * Consumes one durable while the router runs and `wanted()` holds, retrying through failures;
   * resolves when done. Messages already taken are finished after `wanted()` turns false.
   */
  consume(spec: RouterConsumerSpec, wanted?: () => boolean): Promise<void>;
  /** True while the durable is being consumed (its last attempt to get its consumer succeeded). */
  isConsuming(durable: string): boolean;
  /** Ends the durable's pull under way, so its loop sees at once that it is no longer wanted. */
  interrupt(durable: string): void;
  /** Inputs being decided right now. */
  inFlight(): number;
  /** Wakes what waits (backoff sleeps, pulls, slots) so the loops see the router stopping. */
  stop(): void;
}

/** Builds the router's input handling over `deps`. */
export function createInputConsumer(deps: InputConsumerDeps): InputConsumer {
  const { bus, decider, log, counters, inboxEpoch, maxInputBytes, maxInFlight, ackWaitMs, isStopping } = deps;
  const stopSignal = new AbortController();
  const consuming = new Map<string, boolean>();
  let inFlight = 0;
  const slotWaiters: (() => void)[] = [];

  const notifyStarted = (n: StartedNotice): void => {
    try {
      bus.publishCore(bus.subjects.started(n.workflowId), n);
    } catch (err) {
      log.debug('could not publish a started notice', { workflowId: n.workflowId, err });
    }
  };

  const deadLetter = async (m: JsMsg, reason: DeadLetterReason, err: unknown): Promise<void> => {
    counters.deadLettered++;
    await bus.parkDeadLetter(reason, { subject: m.subject, data: m.data, headers: m.headers }, err);
    // No reason argument: nats-server before 2.10.4 ignores `+TERM <reason>` as an unknown ack
    // and redelivers the message after the ack wait, parking it again and again. The reason is
    // on the dead letter.
    m.term();
  };

  /** A child run could not start (id taken, unknown type): its parent gets the failure as the child's. */
  const reportChildStartFailed = async (input: StartInput, e: SquallError): Promise<void> => {
    const parent = input.parent;
    if (!parent) return;
    const body: ChildResultMessage = {
      runId: parent.runId,
      workflowId: parent.workflowId,
      childSeq: parent.childSeq,
      childWorkflowId: input.workflowId ?? 'unknown',
      childRunId: 'not-started',
      status: 'failed',
      error: toErrorInfo(e),
    };
    log.warn('child run could not start; failing it for its parent', {
      workflowId: input.workflowId,
      parentRunId: parent.runId,
      code: e.code,
    });
    await bus.publish(bus.subjects.child(parent.runId), body, {
      msgId: childResultMsgId(parent.runId, parent.childSeq),
    });
  };

  /** Checks size, decodes and parses a consumed message; errors carry their dead-letter reason. */
  const parseInbound = (m: JsMsg): RouterInput => {
    checkInputSize(m.subject, m.data, maxInputBytes);
    let body: unknown;
    try {
      body = decodeBody(m.data, m.headers, m.subject);
    } catch (err) {
      throw new InvalidInputError(toSquallError(err).message, { cause: err, details: { reason: 'undecodable' } });
    }
    return parseRouterInput(bus.subjects, m.subject, body);
  };
  const handle = async (m: JsMsg): Promise<void> => {
    const msgId = m.headers?.get('Nats-Msg-Id') || undefined;
    log.debug('input taken', { subject: m.subject, seq: m.info.streamSequence, deliveries: m.info.deliveryCount });
    let input: RouterInput;
    try {
      input = parseInbound(m);
    } catch (err) {
      await deadLetter(m, deadLetterReason(err), err);
      return;
    }
    try {
      const outcome: DecideOutcome = await decider.process(input, {
        startKey: `${inboxEpoch}/${m.info.streamSequence}`,
        ...(msgId ? { msgId } : {}),
        ...(m.info.deliveryCount > 1
          ? { redeliveredSince: Math.floor(m.info.timestampNanos / 1e6) - REDELIVERY_CLOCK_MARGIN_MS }
          : {}),
      });
      counters.decided++;
      log.debug('input decided', { subject: m.subject, seq: m.info.streamSequence, outcome: outcome.kind });
      if (outcome.kind === 'started') {
        notifyStarted({
          workflowId: outcome.workflowId,
          runId: outcome.runId,
          created: outcome.created,
          ...(msgId ? { msgId } : {}),
        });
      } else if (outcome.kind === 'dropped') {
        counters.dropped++;
        if ((input.kind === 'cancel' || input.kind === 'terminate') && input.byParent !== undefined) {
          // A parent's close policy raced its child's own end, or the id now names another run.
          log.debug("a parent's close request dropped", {
            workflowId: outcome.workflowId,
            kind: input.kind,
            why: outcome.why,
          });
        } else if (
          outcome.why === 'closed' &&
          (input.kind === 'signal' || input.kind === 'cancel' || input.kind === 'terminate')
        ) {
          await deadLetter(m, 'closed-run', new Error(`run ${outcome.runId} of ${outcome.workflowId} is closed`));
          return;
        }
        if (input.kind === 'callback') {
          const why = `callback ${input.callbackSeq} of run ${outcome.runId} (${outcome.workflowId}): the run is closed`;
          await deadLetter(m, 'closed-run', new CallbackClosedError(why, { details: { runId: outcome.runId } }));
          return;
        }
        log.debug(outcome.why === 'duplicate' ? 'input taken before dropped' : 'input for a closed run dropped', {
          workflowId: outcome.workflowId,
          runId: outcome.runId,
          kind: input.kind,
        });
      }
      if (outcome.kind === 'applied' && outcome.ignored === 'stale' && input.kind === 'callback') {
        // Recorded as ignored in history (it moved nothing); parked so the sender can see why.
        const why = `callback ${input.callbackSeq} of run ${outcome.runId} (${outcome.workflowId}) was already completed, failed, timed out or cancelled`;
        await deadLetter(m, 'callback-closed', new CallbackClosedError(why, { details: { runId: outcome.runId } }));
        return;
      }
      m.ack();
    } catch (err) {
      const e = toSquallError(err);
      const reason = deadLetterReason(e);
      if (input.kind === 'start' && !e.retryable) {
        if (input.parent) await reportChildStartFailed(input, e);
        const wfId = input.workflowId;
        if (wfId) notifyStarted({ workflowId: wfId, error: toErrorInfo(e), ...(msgId ? { msgId } : {}) });
        if (e.code === 'ALREADY_STARTED') {
          m.ack();
          return;
        }
      }
      if (
        e.code === 'NOT_FOUND' &&
        reason === 'unknown-run' &&
        e.retryable &&
        m.info.deliveryCount < UNKNOWN_RUN_REDELIVERIES
      ) {
        // A signal may overtake its start on another router: give the start time to land.
        counters.redelivered++;
        m.nak(backoffDelay(m.info.deliveryCount, { initialMs: 200, maxMs: 2_000 }) + 100);
        return;
      }
      if (refusesInput(e, reason)) {
        log.warn('input refused', { subject: m.subject, code: e.code, err: e, reason });
        await deadLetter(m, e.code === 'NONDETERMINISM' ? 'nondeterminism' : reason, e);
        return;
      }
      // Anything else is our trouble, not the input's (a server away, a store error): keep the
      // input and try again later, however many times it takes; only bad input is parked.
      counters.redelivered++;
      const delayMs = backoffDelay(m.info.deliveryCount);
      const fields = { subject: m.subject, code: e.code, err: e, deliveries: m.info.deliveryCount, delayMs };
      if (e.retryable) log.warn('decision failed for a passing reason; redelivering', fields);
      else log.error('decision failed; redelivering', fields);
      m.nak(delayMs);
    }
  };

  /** The pull under way of each durable. */
  const active = new Map<string, ConsumerMessages>();
  const consumeLoop = async (spec: RouterConsumerSpec, wanted: () => boolean = () => true): Promise<void> => {
    const { stream, durable } = spec;
    const running = (): boolean => !isStopping() && wanted();
    let failures = 0;
    while (running()) {
      let messages: ConsumerMessages | undefined;
      try {
        const consumer = await bus.js.consumers.get(stream, durable);
        if (!consuming.get(durable)) log.info('consuming', { stream, durable, afterFailures: failures });
        consuming.set(durable, true);
        // Bounded pulls, not consume(): under a busy event loop consume() can miss its idle
        // heartbeats and sit on a lost pull for a whole heartbeat window (seen as 30 s stalls).
        // A fetch that goes missing costs at most its expiry.
        while (running()) {
          messages = await consumer.fetch({ max_messages: FETCH_BATCH, expires: FETCH_EXPIRES_MS });
          active.set(durable, messages);
          if (!running()) messages.stop();
          for await (const m of messages) {
            failures = 0;
            if (inFlight >= maxInFlight) await new Promise<void>((r) => slotWaiters.push(r));
            inFlight++;
            void handle(m)
              .catch((err: unknown) => {
                log.error('unexpected failure handling an input; redelivering', { subject: m.subject, err });
                m.nak(1000);
              })
              .finally(() => {
                inFlight--;
                slotWaiters.shift()?.();
              });
          }
          active.delete(durable);
        }
      } catch (err) {
        if (!running()) break;
        consuming.set(durable, false);
        const delayMs = backoffDelay(failures++);
        log.warn('consumer loop failed; retrying', { stream, durable, err, delayMs });
        await sleep(delayMs, stopSignal.signal);
        // The durable may have been deleted (or the stream recreated): make sure it exists.
        await ensureRouterConsumer(bus.jsm, spec, ackWaitMs).catch(() => undefined);
      } finally {
        if (messages) {
          active.delete(durable);
          messages.stop();
        }
      }
    }
    consuming.delete(durable);
  };

  return {
    consume: consumeLoop,
    isConsuming: (durable) => consuming.get(durable) === true,
    interrupt: (durable) => active.get(durable)?.stop(),
    inFlight: () => inFlight,
    stop() {
      stopSignal.abort();
      for (const m of active.values()) m.stop();
      for (const w of slotWaiters.splice(0)) w();
    },
  };
}

/** Error codes that say the input itself is wrong: it is parked, never tried again. */
const INPUT_FAULTS: ReadonlySet<string> = new Set(['INVALID_INPUT', 'PAYLOAD_TOO_LARGE', 'NONDETERMINISM']);

/**
 * True when a failed decision is the input's fault and it should be dead-lettered: bad input, a
 * nondeterministic definition, or (past its redeliveries) a run that does not exist. A store or
 * server failure never is, retryable or not: a dead-lettered real input would strand its run.
 */
function refusesInput(e: SquallError, reason: DeadLetterReason): boolean {
  if (e.code === 'NOT_FOUND') return reason === 'unknown-run';
  return INPUT_FAULTS.has(e.code);
}

/** Creates one of the router's durable consumers, or brings an existing one's settings up to date. */
export async function ensureRouterConsumer(
  jsm: JetStreamManager,
  spec: RouterConsumerSpec,
  ackWaitMs: number,
): Promise<void> {
  const config = {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ackWaitMs * 1_000_000,
    max_deliver: -1,
    max_ack_pending: 4096,
    ...(spec.filter ? { filter_subject: spec.filter } : {}),
  };
  try {
    await jsm.consumers.add(spec.stream, config);
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.consumers.update(spec.stream, spec.durable, {
      ack_wait: config.ack_wait,
      max_ack_pending: config.max_ack_pending,
    });
  }
}
