/**
 * The transactional outbox: a commit's commands become NATS messages with deterministic
 * `Nats-Msg-Id`s (`<runId>:<seq>:<index>`), so a re-publish after a crash is deduplicated by
 * JetStream. Commands are published only after their commit is stored.
 */
import type { ChildResultMessage } from '../../shared/bus/lifecycle-messages.js';
import type {
  ActivityCancelMessage,
  TaskMessage,
  TimerCancelMessage,
  TimerScheduleMessage,
} from '../../shared/bus/messages.js';
import type { Command } from '../../shared/engine/types.js';
import type { Millis } from '../../shared/history/events.js';
import type { Subjects } from '../../shared/names.js';

/** A message ready to publish to JetStream. */
export interface OutboundMessage {
  subject: string;
  body: unknown;
  msgId: string;
  /**
   * For a subject of the inbox stream (start, cancel, terminate): its `no_ack` means JetStream
   * sends no PubAck, so it is published on core NATS, with the msg id header, and flushed.
   */
  inbox?: true;
}

/** What a command needs besides itself to become a message. */
export interface CommandContext {
  runId: string;
  workflowId: string;
  workflowType: string;
  seq: number;
  at: Millis;
}

/** The deterministic message id of the `index`-th command of commit `seq`. */
export function commandMsgId(runId: string, seq: number, index: number): string {
  return `${runId}:${seq}:${index}`;
}

/**
 * Maps one command to its message, or undefined for commands that only live in history (a child
 * abandoned by its parent). An activity cancel becomes a notice on the notices stream, which
 * executors also receive on core NATS. Child starts, continue-as-new and parent close policies
 * become start, cancel and terminate messages on the inbox, as a user would send them.
 */
export function commandToMessage(
  subjects: Subjects,
  ctx: CommandContext,
  cmd: Command,
  index: number,
): OutboundMessage | undefined {
  const msgId = commandMsgId(ctx.runId, ctx.seq, index);
  switch (cmd.kind) {
    case 'scheduleActivity': {
      const body: TaskMessage = {
        runId: ctx.runId,
        workflowId: ctx.workflowId,
        workflowType: ctx.workflowType,
        activity: cmd.activity,
        activitySeq: cmd.activitySeq,
        invokeId: cmd.invokeId,
        input: cmd.input,
        attempt: cmd.attempt ?? 1,
        scheduledAt: ctx.at,
      };
      if (cmd.reportStart) body.reportStart = true;
      if (cmd.startToCloseTimeoutMs !== undefined) body.startToCloseTimeoutMs = cmd.startToCloseTimeoutMs;
      if (cmd.heartbeatTimeoutMs !== undefined) body.heartbeatTimeoutMs = cmd.heartbeatTimeoutMs;
      if (cmd.lastHeartbeat !== undefined) body.lastHeartbeat = cmd.lastHeartbeat;
      return { subject: subjects.task(cmd.activity), msgId, body };
    }
    case 'cancelActivity': {
      const body: ActivityCancelMessage = {
        runId: ctx.runId,
        workflowId: ctx.workflowId,
        activitySeq: cmd.activitySeq,
      };
      if (cmd.attempt !== undefined) body.attempt = cmd.attempt;
      if (cmd.reason !== undefined) body.reason = cmd.reason;
      return { subject: subjects.activityCancel(ctx.runId, cmd.activitySeq), msgId, body };
    }
    case 'scheduleTimer':
      return {
        subject: subjects.timerSchedule(ctx.runId),
        msgId,
        body: {
          runId: ctx.runId,
          workflowId: ctx.workflowId,
          timerSeq: cmd.timerSeq,
          fireAt: cmd.fireAt,
        } satisfies TimerScheduleMessage,
      };
    case 'cancelTimer':
      return {
        subject: subjects.timerCancel(ctx.runId),
        msgId,
        body: { runId: ctx.runId, timerSeq: cmd.timerSeq } satisfies TimerCancelMessage,
      };
    case 'emit':
      return {
        subject: subjects.emit(ctx.workflowId),
        msgId,
        body: { workflowId: ctx.workflowId, runId: ctx.runId, event: cmd.event },
      };
    case 'runClosed':
      return {
        subject: subjects.done(ctx.workflowType, ctx.workflowId),
        msgId,
        body: {
          workflowId: ctx.workflowId,
          runId: ctx.runId,
          workflowType: ctx.workflowType,
          status: cmd.status,
          ...(cmd.output === undefined ? {} : { output: cmd.output }),
          ...(cmd.error === undefined ? {} : { error: cmd.error }),
        },
      };
    case 'startChild': {
      const body: Record<string, unknown> = {
        workflowId: cmd.childWorkflowId,
        idReusePolicy: 'rejectWhileOpen',
        parent: { workflowId: ctx.workflowId, runId: ctx.runId, invokeId: cmd.invokeId, childSeq: cmd.childSeq },
      };
      if (cmd.input !== undefined) body.input = cmd.input;
      return { subject: subjects.start(cmd.workflowType), msgId, body, inbox: true };
    }
    case 'detachChild': {
      if (cmd.policy === 'abandon') return undefined;
      const body = { reason: `parent ${ctx.workflowId} (${ctx.runId}) no longer waits on it`, byParent: ctx.runId };
      const subject =
        cmd.policy === 'terminate' ? subjects.terminate(cmd.childWorkflowId) : subjects.cancel(cmd.childWorkflowId);
      return { subject, msgId, body, inbox: true };
    }
    case 'notifyParent': {
      const body: ChildResultMessage = {
        runId: cmd.parent.runId,
        workflowId: cmd.parent.workflowId,
        childSeq: cmd.parent.childSeq,
        childWorkflowId: ctx.workflowId,
        childRunId: ctx.runId,
        status: cmd.status,
      };
      if (cmd.output !== undefined) body.output = cmd.output;
      if (cmd.error !== undefined) body.error = cmd.error;
      return { subject: subjects.child(cmd.parent.runId), msgId, body };
    }
    case 'continueAsNew': {
      const body: Record<string, unknown> = { workflowId: ctx.workflowId, continuedFrom: ctx.runId };
      if (cmd.input !== undefined) body.input = cmd.input;
      if (cmd.parent) body.parent = cmd.parent;
      return { subject: subjects.start(ctx.workflowType), msgId, body, inbox: true };
    }
  }
}

/** All messages of a commit, in command order. */
export function commitMessages(subjects: Subjects, ctx: CommandContext, commands: Command[]): OutboundMessage[] {
  const out: OutboundMessage[] = [];
  commands.forEach((cmd, i) => {
    const m = commandToMessage(subjects, ctx, cmd, i);
    if (m) out.push(m);
  });
  return out;
}
