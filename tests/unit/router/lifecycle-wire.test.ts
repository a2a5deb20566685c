/**
 * The wire side of the run lifecycle: terminate, child outcome and lifecycle start bodies as the
 * router parses them (bad ones refused with the dead-letter reason), and the messages the outbox
 * makes of child, close-policy and continue-as-new commands.
 */
import { describe, expect, it } from 'vitest';
import { deadLetterReason, parseInbound } from '../../../services/router/inputs.js';
import { commitMessages } from '../../../services/router/outbox.js';
import { childFailure, validateChildResult } from '../../../shared/bus/lifecycle-messages.js';
import { InvalidInputError } from '../../../shared/errors.js';
import { subjects } from '../../../shared/names.js';

const s = subjects('sq');
const ctx = { runId: 'r1', workflowId: 'w1', workflowType: 'parent', seq: 3, at: 1000 };

function refused(subject: string, body: unknown): { reason: string; message: string } {
  try {
    parseInbound(s, subject, body);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return { reason: deadLetterReason(err), message: (err as Error).message };
  }
  throw new Error('expected a refusal');
}

describe('router inputs', () => {
  it('parses terminate like cancel, with reason and byParent', () => {
    expect(parseInbound(s, 'sq.terminate.w1', undefined)).toEqual({
      kind: 'run',
      workflowId: 'w1',
      decision: { kind: 'terminate' },
    });
    expect(parseInbound(s, 'sq.terminate.w1', { reason: 'ops', byParent: 'p1' })).toEqual({
      kind: 'run',
      workflowId: 'w1',
      byParent: 'p1',
      decision: { kind: 'terminate', reason: 'ops', byParent: 'p1' },
    });
    // A cancel's parent only routes it (the run must still be its child); the engine gets a plain cancel.
    expect(parseInbound(s, 'sq.cancel.w1', { byParent: 'p1' })).toEqual({
      kind: 'run',
      workflowId: 'w1',
      byParent: 'p1',
      decision: { kind: 'cancel' },
    });
    expect(refused('sq.terminate.w1', { reason: 5 })).toEqual({
      reason: 'invalid-input',
      message: 'terminate.reason must be a string, got number',
    });
    expect(refused('sq.terminate.w1', [])).toMatchObject({ reason: 'invalid-input' });
    expect(refused('sq.terminate.w1', { byParent: 'a b' })).toMatchObject({ reason: 'invalid-id' });
  });

  it('parses a start carrying a parent and the run it continues', () => {
    const parent = { workflowId: 'p', runId: 'pr', invokeId: 'kid', childSeq: 2 };
    expect(parseInbound(s, 'sq.start.kid', { workflowId: 'c', parent, continuedFrom: 'r0' })).toEqual({
      kind: 'start',
      workflowType: 'kid',
      workflowId: 'c',
      idReusePolicy: 'returnExisting',
      parent,
      continuedFrom: 'r0',
    });
    expect(refused('sq.start.kid', { parent: { ...parent, childSeq: 0 } }).message).toMatch(
      /start.parent: field 'childSeq' must be a positive integer/,
    );
    expect(refused('sq.start.kid', { parent: 'p' }).message).toMatch(/field 'parent' must be an object/);
    expect(refused('sq.start.kid', { continuedFrom: 'x.y' }).reason).toBe('invalid-id');
  });

  it("parses a child's outcome and refuses a malformed one", () => {
    const body = {
      runId: 'pr',
      workflowId: 'p',
      childSeq: 2,
      childWorkflowId: 'c',
      childRunId: 'cr',
      status: 'completed',
    };
    expect(parseInbound(s, s.child('pr'), { ...body, output: 1 })).toEqual({
      kind: 'run',
      workflowId: 'p',
      runId: 'pr',
      decision: { kind: 'childCompleted', childSeq: 2, output: 1 },
    });
    expect(parseInbound(s, s.child('pr'), { ...body, status: 'cancelled' })).toMatchObject({
      decision: { kind: 'childFailed', childSeq: 2, error: { code: 'CANCELLED' } },
    });
    expect(refused(s.child('pr'), { ...body, status: 'running' }).message).toMatch(/field 'status' must be one of/);
    expect(refused(s.child('pr'), { ...body, childSeq: 'x' }).message).toMatch(/childSeq/);
    expect(refused(s.child('pr'), { ...body, error: 'boom' }).message).toMatch(/ErrorInfo/);
  });

  it("turns a child's failure into a WorkflowFailedError (CancelledError) naming the child", () => {
    const m = validateChildResult({
      runId: 'pr',
      workflowId: 'p',
      childSeq: 2,
      childWorkflowId: 'c',
      childRunId: 'cr',
      status: 'failed',
      error: { name: 'Error', message: 'boom' },
    });
    expect(childFailure(m)).toEqual({
      name: 'WorkflowFailedError',
      code: 'WORKFLOW_FAILED',
      message: 'child run c (cr) failed: boom',
      details: { childWorkflowId: 'c', childRunId: 'cr', status: 'failed', cause: { name: 'Error', message: 'boom' } },
    });
    expect(childFailure({ ...m, status: 'cancelled', error: undefined } as never)).toMatchObject({
      name: 'CancelledError',
      code: 'CANCELLED',
      message: 'child run c (cr) cancelled',
    });
  });
});

describe('outbox', () => {
  it('maps child, close-policy and continue-as-new commands to inbox and events messages', () => {
    const parent = { workflowId: 'p', runId: 'pr', invokeId: 'kid', childSeq: 4 };
    const messages = commitMessages(s, ctx, [
      { kind: 'startChild', childSeq: 1, workflowType: 'kid', childWorkflowId: 'w1-kid-1', invokeId: 'kid', input: 7 },
      { kind: 'detachChild', childSeq: 1, childWorkflowId: 'w1-kid-1', policy: 'terminate' },
      { kind: 'detachChild', childSeq: 2, childWorkflowId: 'w1-kid-2', policy: 'requestCancel' },
      { kind: 'detachChild', childSeq: 3, childWorkflowId: 'w1-kid-3', policy: 'abandon' },
      { kind: 'notifyParent', parent, status: 'completed', output: { ok: true } },
      { kind: 'continueAsNew', input: { n: 1 }, parent },
    ]);
    expect(messages).toEqual([
      {
        subject: 'sq.start.kid',
        msgId: 'r1:3:0',
        inbox: true,
        body: {
          workflowId: 'w1-kid-1',
          idReusePolicy: 'rejectWhileOpen',
          parent: { workflowId: 'w1', runId: 'r1', invokeId: 'kid', childSeq: 1 },
          input: 7,
        },
      },
      {
        subject: 'sq.terminate.w1-kid-1',
        msgId: 'r1:3:1',
        inbox: true,
        body: { reason: 'parent w1 (r1) no longer waits on it', byParent: 'r1' },
      },
      {
        subject: 'sq.cancel.w1-kid-2',
        msgId: 'r1:3:2',
        inbox: true,
        body: { reason: 'parent w1 (r1) no longer waits on it', byParent: 'r1' },
      },
      {
        subject: s.child('pr'),
        msgId: 'r1:3:4',
        body: {
          runId: 'pr',
          workflowId: 'p',
          childSeq: 4,
          childWorkflowId: 'w1',
          childRunId: 'r1',
          status: 'completed',
          output: { ok: true },
        },
      },
      {
        subject: 'sq.start.parent',
        msgId: 'r1:3:5',
        inbox: true,
        body: { workflowId: 'w1', continuedFrom: 'r1', input: { n: 1 }, parent },
      },
    ]);
    // What the outbox sends, the router reads back.
    for (const m of messages) expect(() => parseInbound(s, m.subject, m.body)).not.toThrow();
  });
});
