/** The consumer's settlement of an input: a pure function of its outcome or error and its deliveries. */
import { describe, expect, it } from 'vitest';
import type { DecideOutcome } from '../../../services/router/decider.js';
import type { InboundInput, RunDecisionInput, RunInput } from '../../../services/router/inputs.js';
import { settleFailure, settleOutcome, UNKNOWN_RUN_REDELIVERIES } from '../../../services/router/settle.js';
import {
  AlreadyStartedError,
  ConflictError,
  InvalidInputError,
  NondeterminismError,
  NotFoundError,
  PayloadTooLargeError,
  SquallError,
} from '../../../shared/errors.js';

const delay = (n: number, shape?: { initialMs: number; maxMs: number }): number => (shape ? 1000 : 0) + n;
const run = (decision: RunDecisionInput, byParent?: string): RunInput => ({
  kind: 'run',
  workflowId: 'w',
  ...(byParent === undefined ? {} : { byParent }),
  decision,
});
const start = (workflowId?: string, parent?: boolean): InboundInput => ({
  kind: 'start',
  workflowType: 't',
  idReusePolicy: 'returnExisting',
  ...(workflowId === undefined ? {} : { workflowId }),
  ...(parent ? { parent: { runId: 'p', workflowId: 'pw', invokeId: 'kid', childSeq: 1 } } : {}),
});
const signal = run({ kind: 'signal', event: { type: 'go' } });
const callback = run({ kind: 'callbackCompleted', callbackSeq: 3 });
const applied: DecideOutcome = { kind: 'applied', workflowId: 'w', runId: 'r', seq: 2 };

describe('settleOutcome', () => {
  it('acks an applied input and a start, telling the start its run', () => {
    expect(settleOutcome(signal, applied)).toEqual({ settlement: { action: 'ack' } });
    const started: DecideOutcome = { kind: 'started', workflowId: 'w', runId: 'r', created: true };
    expect(settleOutcome(start(), started, 'm1')).toEqual({
      settlement: { action: 'ack' },
      startedNotice: { workflowId: 'w', runId: 'r', created: true, msgId: 'm1' },
    });
  });

  it('dead-letters a signal, cancel or terminate for a closed run, but not a duplicate', () => {
    const closed: DecideOutcome = { kind: 'dropped', workflowId: 'w', runId: 'r', why: 'closed' };
    for (const d of [signal.decision, { kind: 'cancel' }, { kind: 'terminate' }] as RunDecisionInput[]) {
      expect(settleOutcome(run(d), closed).settlement).toMatchObject({ action: 'deadLetter', reason: 'closed-run' });
    }
    const dup: DecideOutcome = { kind: 'dropped', workflowId: 'w', runId: 'r', why: 'duplicate' };
    expect(settleOutcome(signal, dup).settlement).toEqual({ action: 'ack' });
    expect(settleOutcome(run({ kind: 'timerFired', timerSeq: 1 }), closed).settlement).toEqual({ action: 'ack' });
  });

  it("tells a signal's, cancel's or terminate's request it is taken, or why not, when it has a message id", () => {
    expect(settleOutcome(signal, applied, 'm1')).toEqual({
      settlement: { action: 'ack' },
      takenNotice: { workflowId: 'w', runId: 'r', msgId: 'm1' },
    });
    const dup: DecideOutcome = { kind: 'dropped', workflowId: 'w', runId: 'r', why: 'duplicate' };
    expect(settleOutcome(run({ kind: 'cancel' }), dup, 'm2').takenNotice).toEqual({
      workflowId: 'w',
      runId: 'r',
      msgId: 'm2',
    });
    const closed: DecideOutcome = { kind: 'dropped', workflowId: 'w', runId: 'r', why: 'closed' };
    expect(settleOutcome(signal, closed, 'm3').takenNotice).toMatchObject({
      msgId: 'm3',
      error: { code: 'NOT_FOUND', message: 'run r of w is closed' },
    });
    const nd = new NondeterminismError('nd');
    expect(settleFailure(signal, nd, 1, 'm4', delay).takenNotice).toMatchObject({
      msgId: 'm4',
      error: { code: 'NONDETERMINISM' },
    });
    // Nothing to tell: no message id, an engine input, or a redelivery still to come.
    expect(settleOutcome(signal, applied).takenNotice).toBeUndefined();
    expect(settleOutcome(run({ kind: 'timerFired', timerSeq: 1 }), applied, 'm5').takenNotice).toBeUndefined();
    expect(settleFailure(signal, new ConflictError('race'), 1, 'm6', delay).takenNotice).toBeUndefined();
    // Nobody waits on the engine's own signals: a message from another run, a user event's delivery.
    const from = { workflowId: 'p', runId: 'pr', msgSeq: 1 };
    const message = run({ kind: 'signal', event: { type: 'PING' }, from });
    expect(settleOutcome(message, applied, 'm7').takenNotice).toBeUndefined();
    expect(settleOutcome(message, closed, 'm8').takenNotice).toBeUndefined();
    expect(settleFailure(message, nd, 1, 'm9', delay).takenNotice).toBeUndefined();
    const delivery = run({ kind: 'signal', event: { type: 'squall.event.order-paid', key: 'order-paid' } });
    expect(settleOutcome(delivery, applied, 'm10').takenNotice).toBeUndefined();
  });

  it("acks a parent's close request whatever became of it", () => {
    const closed: DecideOutcome = { kind: 'dropped', workflowId: 'w', runId: 'r', why: 'closed' };
    expect(settleOutcome(run({ kind: 'cancel' }, 'p'), closed).settlement).toEqual({ action: 'ack' });
  });

  it('parks a callback for a closed run, and one its run had already settled', () => {
    const dropped: DecideOutcome = { kind: 'dropped', workflowId: 'w', runId: 'r', why: 'duplicate' };
    expect(settleOutcome(callback, dropped).settlement).toMatchObject({ action: 'deadLetter', reason: 'closed-run' });
    const stale: DecideOutcome = { ...applied, ignored: 'stale' };
    expect(settleOutcome(callback, stale).settlement).toMatchObject({
      action: 'deadLetter',
      reason: 'callback-closed',
    });
    expect(settleOutcome(signal, stale).settlement).toEqual({ action: 'ack' });
  });
});

describe('settleFailure', () => {
  const unknownRun = new NotFoundError('no run', { retryable: true, details: { reason: 'unknown-run' } });

  it('redelivers a signal for a run not visible yet a few times, then parks it', () => {
    const early = settleFailure(signal, unknownRun, 1, undefined, delay);
    expect(early.settlement).toEqual({ action: 'nak', delayMs: 1101, why: 'waitForRun' });
    const late = settleFailure(signal, unknownRun, UNKNOWN_RUN_REDELIVERIES, undefined, delay);
    expect(late.settlement).toMatchObject({ action: 'deadLetter', reason: 'unknown-run' });
  });

  it("parks the input's own faults under their reason", () => {
    const bad = new InvalidInputError('bad', { details: { reason: 'invalid-id' } });
    expect(settleFailure(signal, bad, 1, undefined, delay).settlement).toMatchObject({ reason: 'invalid-id' });
    const big = new PayloadTooLargeError('big', { details: { reason: 'oversize' } });
    expect(settleFailure(signal, big, 1, undefined, delay).settlement).toMatchObject({ reason: 'oversize' });
    const nd = new NondeterminismError('nd');
    expect(settleFailure(signal, nd, 1, undefined, delay).settlement).toMatchObject({ reason: 'nondeterminism' });
  });

  it('redelivers our own trouble with backoff, retryable or not, however many times', () => {
    for (const err of [new ConflictError('race'), new SquallError('INTERNAL', 'boom'), new Error('plain')]) {
      expect(settleFailure(signal, err, 40, undefined, delay).settlement).toEqual({
        action: 'nak',
        delayMs: 40,
        why: 'retry',
      });
    }
  });

  it('tells a failed start its error and fails a child start for its parent', () => {
    const taken = new AlreadyStartedError('taken');
    const d = settleFailure(start('w', true), taken, 1, 'm', delay);
    expect(d.settlement).toEqual({ action: 'ack' });
    expect(d.startedNotice).toMatchObject({ workflowId: 'w', msgId: 'm', error: { code: 'ALREADY_STARTED' } });
    expect(d.failChildStart).toBe(taken);
    const unknownType = new InvalidInputError('no type', { details: { reason: 'unknown-type' } });
    const refused = settleFailure(start(), unknownType, 1, undefined, delay);
    expect(refused.settlement).toMatchObject({ action: 'deadLetter', reason: 'unknown-type' });
    expect(refused.startedNotice).toBeUndefined();
  });
});
