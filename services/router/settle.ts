/**
 * How the router settles a consumed input message, as pure functions of what came of it (the
 * decision's outcome, or the error it failed with) and the message's delivery count: ack it,
 * redeliver it after a delay (nak), or park it as a dead letter (then term it). No I/O here: the
 * consumer carries the settlement out, so every branch is unit-tested without servers.
 */
import { backoffDelay } from '../../shared/bus/backoff.js';
import {
  CallbackClosedError,
  NotFoundError,
  type SquallError,
  toErrorInfo,
  toSquallError,
} from '../../shared/errors.js';
import type { DecideOutcome } from './decider.js';
import {
  type DeadLetterReason,
  deadLetterReason,
  type InboundInput,
  isOutsideInput,
  isRequestedInput,
} from './inputs.js';
import type { StartedNotice, TakenNotice } from './notices.js';

/** Delivery attempts a signal for a not-yet-visible run waits before being dead-lettered. */
export const UNKNOWN_RUN_REDELIVERIES = 6;

/** Error codes that say the input itself is wrong: it is parked, never tried again. */
const INPUT_FAULTS: ReadonlySet<string> = new Set(['INVALID_INPUT', 'PAYLOAD_TOO_LARGE', 'NONDETERMINISM']);

/** What is done with the message. */
export type Settlement =
  | { action: 'ack' }
  /** `waitForRun`: a run not visible yet (a signal overtook its start); `retry`: our trouble. */
  | { action: 'nak'; delayMs: number; why: 'waitForRun' | 'retry' }
  | { action: 'deadLetter'; reason: DeadLetterReason; error: unknown };

/** A settlement, with the notices that go out before it. */
export interface SettleDecision {
  settlement: Settlement;
  /** Published on `started.<workflowId>` for whoever waits on the start's reply. */
  startedNotice?: StartedNotice;
  /** Published on `taken.<workflowId>` for whoever waits on a signal's (cancel's, terminate's) reply. */
  takenNotice?: TakenNotice;
  /** A child run could not start: its parent gets this failure as the child's. */
  failChildStart?: SquallError;
}

/** The wait before a redelivery, by delivery count; injected so tests need no randomness. */
export type RedeliveryDelay = (deliveryCount: number, shape?: { initialMs: number; maxMs: number }) => number;

const jittered: RedeliveryDelay = (n, shape) => backoffDelay(n, shape ?? {});

/** Settles an input its decision went through for: `msgId` is the message's Nats-Msg-Id. */
export function settleOutcome(input: InboundInput, outcome: DecideOutcome, msgId?: string): SettleDecision {
  if (outcome.kind === 'started') {
    const notice: StartedNotice = {
      workflowId: outcome.workflowId,
      runId: outcome.runId,
      created: outcome.created,
      ...(msgId ? { msgId } : {}),
    };
    return { settlement: { action: 'ack' }, startedNotice: notice };
  }
  if (input.kind === 'start') return ack();
  const d = input.decision;
  const taken = (error?: unknown): Pick<SettleDecision, 'takenNotice'> =>
    msgId === undefined || !isRequestedInput(d)
      ? {}
      : {
          takenNotice: {
            workflowId: outcome.workflowId,
            msgId,
            ...(outcome.runId === undefined ? {} : { runId: outcome.runId }),
            ...(error === undefined ? {} : { error: toErrorInfo(error) }),
          },
        };
  const callbackSeq =
    d.kind === 'callbackCompleted' || d.kind === 'callbackFailed' || d.kind === 'callbackHeartbeat'
      ? d.callbackSeq
      : undefined;
  if (outcome.kind === 'dropped') {
    // A parent's close policy raced its child's own end, or the id now names another run: fine.
    if (input.byParent !== undefined) return ack();
    if (outcome.why === 'closed' && isOutsideInput(d)) {
      const error = new NotFoundError(`run ${outcome.runId} of ${outcome.workflowId} is closed`, {
        details: { workflowId: outcome.workflowId, runId: outcome.runId },
      });
      return { ...deadLetter('closed-run', error), ...taken(error) };
    }
    if (callbackSeq !== undefined) {
      const why = `callback ${callbackSeq} of run ${outcome.runId} (${outcome.workflowId}): the run is closed`;
      return deadLetter('closed-run', new CallbackClosedError(why, { details: { runId: outcome.runId } }));
    }
    return { ...ack(), ...taken() };
  }
  if (outcome.ignored === 'stale' && callbackSeq !== undefined) {
    // Recorded as ignored in history (it moved nothing); parked so the sender can see why.
    const why = `callback ${callbackSeq} of run ${outcome.runId} (${outcome.workflowId}) was already completed, failed, timed out or cancelled`;
    return deadLetter('callback-closed', new CallbackClosedError(why, { details: { runId: outcome.runId } }));
  }
  return { ...ack(), ...taken() };
}

/**
 * Settles an input whose decision failed. Only the input's own fault parks it (see refusesInput);
 * anything else is our trouble (a server away, a store error): it is redelivered, however many
 * times it takes. A signal for a run not visible yet waits a few short redeliveries first.
 */
export function settleFailure(
  input: InboundInput,
  err: unknown,
  deliveryCount: number,
  msgId?: string,
  delay: RedeliveryDelay = jittered,
): SettleDecision {
  const e = toSquallError(err);
  const reason = deadLetterReason(e);
  const notices: Omit<SettleDecision, 'settlement'> = {};
  if (input.kind === 'start' && !e.retryable) {
    if (input.parent) notices.failChildStart = e;
    if (input.workflowId) {
      notices.startedNotice = { workflowId: input.workflowId, error: toErrorInfo(e), ...(msgId ? { msgId } : {}) };
    }
    if (e.code === 'ALREADY_STARTED') return { settlement: { action: 'ack' }, ...notices };
  }
  if (e.code === 'NOT_FOUND' && reason === 'unknown-run' && e.retryable && deliveryCount < UNKNOWN_RUN_REDELIVERIES) {
    // A signal may overtake its start on another router: give the start time to land.
    const delayMs = delay(deliveryCount, { initialMs: 200, maxMs: 2_000 }) + 100;
    return { settlement: { action: 'nak', delayMs, why: 'waitForRun' }, ...notices };
  }
  if (refusesInput(e, reason)) {
    if (input.kind === 'run' && isRequestedInput(input.decision) && msgId !== undefined) {
      notices.takenNotice = { workflowId: input.workflowId, msgId, error: toErrorInfo(e) };
    }
    return { settlement: deadLetterOf(e.code === 'NONDETERMINISM' ? 'nondeterminism' : reason, e), ...notices };
  }
  return { settlement: { action: 'nak', delayMs: delay(deliveryCount), why: 'retry' }, ...notices };
}

/**
 * True when a failed decision is the input's fault and it should be dead-lettered: bad input, a
 * nondeterministic definition, or (past its redeliveries) a run that does not exist. A store or
 * server failure never is, retryable or not: a dead-lettered real input would strand its run.
 */
export function refusesInput(e: SquallError, reason: DeadLetterReason): boolean {
  if (e.code === 'NOT_FOUND') return reason === 'unknown-run';
  return INPUT_FAULTS.has(e.code);
}

function ack(): SettleDecision {
  return { settlement: { action: 'ack' } };
}

function deadLetterOf(reason: DeadLetterReason, error: unknown): Settlement {
  return { action: 'deadLetter', reason, error };
}

function deadLetter(reason: DeadLetterReason, error: unknown): SettleDecision {
  return { settlement: deadLetterOf(reason, error) };
}
