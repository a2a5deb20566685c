/**
 * One consumed input message, from its bytes to its settlement: checked for size, decoded and
 * parsed once, decided, then acked, redelivered or dead-lettered as settle.ts chooses. A decision
 * resolves only once its commit's commands are published, so an ack always follows the publish;
 * a failed publish fails the decision and redelivers the input. The notices a settlement carries
 * (a start's reply, a child's failed start) go out before it.
 */
import type { Bus } from '../../shared/bus/connect.js';
import { maybeDecidedSince } from '../../shared/bus/direct-results.js';
import { type ChildResultMessage, childResultMsgId } from '../../shared/bus/lifecycle-messages.js';
import { sendLazily } from '../../shared/bus/write-coalescing.js';
import { InvalidInputError, type SquallError, toErrorInfo, toSquallError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { noteDecisionFailed, traceDecision } from '../common/tracing.js';
import type { DecideOutcome, RunDecider } from './decider.js';
import { gateStart, type StartGate } from './flow/index.js';
import type { InputMessage } from './input-message.js';
import { checkInputSize, type DeadLetterReason, deadLetterReason, type InboundInput, parseInbound } from './inputs.js';
import type { RouterMetrics } from './metrics.js';
import type { StartedNotice, TakenNotice } from './notices.js';
import { type SettleDecision, settleFailure, settleOutcome } from './settle.js';

/**
 * How far before a message's stored time its run's commits are republished (see
 * Outbox.republishSince): the commit an earlier attempt made carries the deciding router's clock,
 * not the server's.
 */
const REDELIVERY_CLOCK_MARGIN_MS = 10_000;

/**
 * Since when a message's run may hold commits an earlier handling of it stored without
 * publishing them (see Outbox.republishSince), less the clock margin: when the message was
 * stored, or what a result says of itself (MAYBE_DECIDED_HEADER: when its task was stored, or its
 * direct offer went unanswered), whichever is earlier. `foundInSince` is always set: an input
 * found already in its run republishes since then, whatever its delivery count says, as a
 * nats-server that was killed forgets the deliveries of its last moments (a consumer's state is
 * written behind, every 100 ms at most), and their redeliveries then come as first deliveries.
 * `redelivered` says whether the message says it was handled before (a delivery count over one,
 * the header): a start takes it as the sign to claim before appending.
 */
export function inputTimes(m: Pick<InputMessage, 'info' | 'headers'>): {
  foundInSince: number;
  redelivered: boolean;
} {
  const stored = Math.floor(m.info.timestampNanos / 1e6);
  const said = maybeDecidedSince(m.headers);
  const since = (said === undefined ? stored : Math.min(stored, said)) - REDELIVERY_CLOCK_MARGIN_MS;
  return { foundInSince: since, redelivered: m.info.deliveryCount > 1 || said !== undefined };
}

/** What the router counts of the inputs it handled (shown in health details and the stop log). */
export type RouterCounters = {
  decided: number;
  deadLettered: number;
  redelivered: number;
  dropped: number;
};

/** What an InputHandler works with. */
export interface InputHandlerDeps {
  bus: Bus;
  decider: RunDecider;
  log: Logger;
  /** When the inbox stream was created: with a message's stream sequence, the key of a start. */
  inboxEpoch: string;
  /** Largest input body accepted, in bytes; larger ones are dead-lettered as `oversize`. */
  maxInputBytes: number;
  /** Where decisions and dead letters are counted. @default none */
  metrics?: RouterMetrics | undefined;
  /** Debounce, singleton and workflow concurrency of starts; only starts that use them reach it. */
  startGate?: StartGate | undefined;
}

/** Decides consumed input messages and settles them; one per router. */
export class InputHandler {
  /** Counted into as inputs are decided, dropped, redelivered and dead-lettered. */
  readonly counters: RouterCounters = { decided: 0, deadLettered: 0, redelivered: 0, dropped: 0 };

  constructor(private readonly deps: InputHandlerDeps) {}

  /** Handles one message to its settlement; throws only on a failure to settle it. */
  async handle(m: InputMessage): Promise<void> {
    const { log } = this.deps;
    const msgId = m.headers?.get('Nats-Msg-Id') || undefined;
    log.debug('input taken', { subject: m.subject, seq: m.info.streamSequence, deliveries: m.info.deliveryCount });
    let input: InboundInput;
    try {
      input = await this.parse(m);
    } catch (err) {
      await this.deadLetter(m, deadLetterReason(err), err);
      return;
    }
    const gate = this.deps.startGate;
    if (input.kind === 'start' && gate?.applies(input)) {
      const held = await gateStart(gate, input, m, this.deps.inboxEpoch, this.deps.log);
      if (held.kind === 'refuse') {
        if (input.workflowId !== undefined)
          this.notify(this.deps.bus.subjects.started(input.workflowId), {
            workflowId: input.workflowId,
            error: toErrorInfo(held.error),
            ...(msgId ? { msgId } : {}),
          });
        if (held.error instanceof InvalidInputError) await this.deadLetter(m, deadLetterReason(held.error), held.error);
        else m.ack();
      }
      if (held.kind !== 'pass') return;
    }
    // Decided and settled in the input's span (see services/common/tracing.ts), so its lines carry the trace.
    await traceDecision(m.headers, input, this.deps.decider, () => this.decideAndSettle(m, input, msgId));
  }

  /** Decides a parsed input and settles its message; resolves with the outcome, undefined when deciding failed. */
  private async decideAndSettle(
    m: InputMessage,
    input: InboundInput,
    msgId: string | undefined,
  ): Promise<DecideOutcome | undefined> {
    const { log } = this.deps;
    let decision: SettleDecision;
    let outcome: DecideOutcome | undefined;
    const decided = this.deps.metrics?.decision(input);
    try {
      outcome = await this.deps.decider.process(input, {
        startKey: `${this.deps.inboxEpoch}/${m.info.streamSequence}`,
        ...(msgId ? { msgId } : {}),
        working: () => m.working(),
        ...inputTimes(m),
      });
      this.counters.decided++;
      decided?.(outcome);
      log.debug('input decided', { subject: m.subject, seq: m.info.streamSequence, outcome: outcome.kind });
      if (outcome.kind === 'dropped') {
        this.counters.dropped++;
        log.debug(outcome.why === 'duplicate' ? 'input taken before dropped' : 'input dropped', {
          workflowId: outcome.workflowId,
          runId: outcome.runId,
          kind: input.kind === 'run' ? input.decision.kind : input.kind,
          why: outcome.why,
        });
      }
      decision = settleOutcome(input, outcome, msgId);
    } catch (err) {
      decided?.('failed');
      noteDecisionFailed(err);
      decision = settleFailure(input, err, m.info.deliveryCount, msgId);
      this.logFailure(m, toSquallError(err), decision);
    }
    await this.carryOut(m, input, decision);
    return outcome;
  }

  /**
   * Checks size, loads (when sent out of band), decodes and parses a consumed message; errors
   * carry their dead-letter reason.
   */
  private async parse(m: InputMessage): Promise<InboundInput> {
    checkInputSize(m.subject, m.data, this.deps.maxInputBytes);
    let body: unknown;
    try {
      body = await this.deps.bus.readBody(m);
    } catch (err) {
      throw new InvalidInputError(toSquallError(err).message, { cause: err, details: { reason: 'undecodable' } });
    }
    return parseInbound(this.deps.bus.subjects, m.subject, body);
  }

  private async carryOut(m: InputMessage, input: InboundInput, d: SettleDecision): Promise<void> {
    if (d.failChildStart && input.kind === 'start') await this.reportChildStartFailed(input, d.failChildStart);
    const { subjects } = this.deps.bus;
    if (d.startedNotice) this.notify(subjects.started(d.startedNotice.workflowId), d.startedNotice);
    if (d.takenNotice) this.notify(subjects.taken(d.takenNotice.workflowId), d.takenNotice);
    const s = d.settlement;
    if (s.action === 'ack') {
      // Its commands are out. Unless someone waits for it, it goes with the connection's next write.
      if (m.awaited) m.ack();
      else sendLazily(this.deps.bus.nc, () => m.ack());
    } else if (s.action === 'nak') {
      this.counters.redelivered++;
      m.nak(s.delayMs);
    } else {
      await this.deadLetter(m, s.reason, s.error);
    }
  }

  private logFailure(m: InputMessage, e: SquallError, d: SettleDecision): void {
    const s = d.settlement;
    if (s.action === 'deadLetter') {
      this.deps.log.warn('input refused', { subject: m.subject, code: e.code, err: e, reason: s.reason });
    } else if (s.action === 'nak' && s.why === 'retry') {
      const fields = { subject: m.subject, code: e.code, err: e, deliveries: m.info.deliveryCount, delayMs: s.delayMs };
      if (e.retryable) this.deps.log.warn('decision failed for a passing reason; redelivering', fields);
      else this.deps.log.error('decision failed; redelivering', fields);
    }
  }

  /** A core notice for the router answering the input's request (see notices.ts); lost if NATS is away. */
  private notify(subject: string, n: StartedNotice | TakenNotice): void {
    try {
      this.deps.bus.publishCore(subject, n);
    } catch (err) {
      this.deps.log.debug('could not publish a notice', { subject, workflowId: n.workflowId, err });
    }
  }

  private async deadLetter(m: InputMessage, reason: DeadLetterReason, err: unknown): Promise<void> {
    this.counters.deadLettered++;
    this.deps.metrics?.deadLetters.inc({ reason });
    await this.deps.bus.parkDeadLetter(reason, { subject: m.subject, data: m.data, headers: m.headers }, err);
    // No reason argument: nats-server before 2.10.4 ignores `+TERM <reason>` as an unknown ack
    // and redelivers the message after the ack wait, parking it again and again. The reason is
    // on the dead letter.
    m.term();
  }

  /** A child run could not start (id taken, unknown type): its parent gets the failure as the child's. */
  private async reportChildStartFailed(input: Extract<InboundInput, { kind: 'start' }>, e: SquallError): Promise<void> {
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
    this.deps.log.warn('child run could not start; failing it for its parent', {
      workflowId: input.workflowId,
      parentRunId: parent.runId,
      code: e.code,
    });
    const { bus } = this.deps;
    await bus.publish(bus.subjects.child(parent.runId), body, {
      msgId: childResultMsgId(parent.runId, parent.childSeq),
    });
  }
}
