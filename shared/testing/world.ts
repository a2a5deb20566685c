/**
 * The runs one createTestRun() drives together, and what travels between them as the router and
 * the bus would carry it: a child workflow whose type is in `workflows` runs for real, its outcome
 * reaches its parent, a parent's close policy reaches it, and messages between runs
 * (sendParent, sendTo a child, sendToWorkflow) reach the open run of their target workflowId, once
 * and in order. A message for a workflowId the world does not run is kept in `undelivered` (the
 * router would dead-letter it).
 */
import { childResultInput } from '../bus/lifecycle-messages.js';
import type { WorkflowDefinition } from '../engine/definition.js';
import type { Command, DecisionInput } from '../engine/types.js';
import type { Millis, SignalEvent } from '../history/events.js';

/** What the world needs of a run it drives (implemented by InMemoryRun). */
export interface WorldRun {
  readonly workflowId: string;
  readonly runId: string;
  readonly now: Millis;
  readonly isOpen: boolean;
  apply(input: DecisionInput): unknown;
  /** Runs the run's own stubbed activities and children; true when it decided anything. */
  runOwnStubs(): Promise<boolean>;
  /** When the run's earliest live timer is due; undefined when it has none or is closed. */
  nextTimerAt(): Millis | undefined;
  /** Fires the run's earliest live timer if due by `limit` (see InMemoryRun). */
  fireNext(limit: Millis): boolean;
  /** Moves the run's clock forward to `ms`. */
  moveClockTo(ms: Millis): void;
}

/** A message sent to a workflowId no run of the world holds open. */
export interface UndeliveredMessage {
  from: { workflowId: string; runId: string; msgSeq: number };
  to: string;
  event: SignalEvent;
  reason: 'unknown-run' | 'closed-run';
}

/** Starts a child run of a type the world runs (an InMemoryRun, made by the caller). */
export type ChildFactory = (
  definition: WorkflowDefinition,
  start: Extract<DecisionInput, { kind: 'start' }>,
) => WorldRun;

/** The runs of one test and the queue of what travels between them. */
export class TestWorld {
  /** Runs by workflowId; a workflowId's latest run. */
  readonly runs = new Map<string, WorldRun>();
  readonly undelivered: UndeliveredMessage[] = [];
  private readonly queue: (() => void)[] = [];
  private draining = false;

  constructor(
    private readonly workflows: readonly WorkflowDefinition[],
    private readonly makeChild: ChildFactory,
  ) {}

  /** Adds a run (a createTestRun() root, or a child). */
  add(run: WorldRun): void {
    this.runs.set(run.workflowId, run);
  }

  /**
   * Routes the commands of one of `from`'s decisions, then (unless already doing so) delivers
   * everything queued, in order: a message's delivery can make its receiver send in turn.
   */
  route(from: WorldRun, commands: readonly Command[], stubbedChild: (type: string) => boolean): void {
    for (const c of commands) {
      if (c.kind === 'sendMessage') {
        this.queue.push(() => this.deliverMessage(from, c));
      } else if (c.kind === 'startChild' && !stubbedChild(c.workflowType)) {
        const def = this.workflows.find(
          (w) => w.name === c.workflowType && (c.version === undefined || w.version === c.version),
        );
        if (def) this.queue.push(() => this.startChild(from, def, c));
      } else if (c.kind === 'notifyParent') {
        this.queue.push(() => this.notifyParent(from, c));
      } else if (c.kind === 'detachChild' && c.policy !== 'abandon') {
        this.queue.push(() => this.detach(from, c));
      }
    }
    if (this.draining) return;
    this.draining = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) next();
    } finally {
      this.draining = false;
    }
  }

  /**
   * Fires the earliest timer due by `limit` among the open runs (ties: the run added first), as
   * one timer service would; false when none is due.
   */
  fireNext(limit: Millis): boolean {
    let first: WorldRun | undefined;
    let at = Number.POSITIVE_INFINITY;
    for (const run of this.runs.values()) {
      const due = run.nextTimerAt();
      if (due !== undefined && due <= limit && due < at) {
        first = run;
        at = due;
      }
    }
    if (!first) return false;
    for (const run of this.runs.values()) run.moveClockTo(at);
    return first.fireNext(limit);
  }

  /** Moves every run's clock forward to `ms`. */
  moveClocksTo(ms: Millis): void {
    for (const run of this.runs.values()) run.moveClockTo(ms);
  }

  /** Runs every run's stubbed work until none decides anything more. */
  async runStubs(): Promise<void> {
    for (let again = true; again; ) {
      again = false;
      for (const run of [...this.runs.values()]) if (await run.runOwnStubs()) again = true;
    }
  }

  private deliverMessage(from: WorldRun, c: Extract<Command, { kind: 'sendMessage' }>): void {
    const to = this.runs.get(c.target.workflowId);
    const sender = { workflowId: from.workflowId, runId: from.runId, msgSeq: c.msgSeq };
    if (!to?.isOpen) {
      const reason = to ? 'closed-run' : 'unknown-run';
      this.undelivered.push({ from: sender, to: c.target.workflowId, event: c.event, reason });
      return;
    }
    to.apply({ kind: 'signal', at: from.now, event: c.event, from: sender });
  }

  private startChild(parent: WorldRun, def: WorkflowDefinition, c: Extract<Command, { kind: 'startChild' }>): void {
    const start: Extract<DecisionInput, { kind: 'start' }> = {
      kind: 'start',
      at: parent.now,
      workflowId: c.childWorkflowId,
      runId: `${c.childWorkflowId}-run-1`,
      parent: { workflowId: parent.workflowId, runId: parent.runId, invokeId: c.invokeId, childSeq: c.childSeq },
    };
    if (c.input !== undefined) start.input = c.input;
    this.add(this.makeChild(def, start));
  }

  private notifyParent(child: WorldRun, c: Extract<Command, { kind: 'notifyParent' }>): void {
    const parent = this.runs.get(c.parent.workflowId);
    if (!parent?.isOpen || parent.runId !== c.parent.runId) return;
    // The input the router builds from the child's outcome message (its error, its last message).
    const input = childResultInput({
      runId: parent.runId,
      workflowId: parent.workflowId,
      childSeq: c.parent.childSeq,
      childWorkflowId: child.workflowId,
      childRunId: child.runId,
      status: c.status,
      ...(c.output === undefined ? {} : { output: c.output }),
      ...(c.error ? { error: c.error } : {}),
      ...(c.lastMsgSeq === undefined ? {} : { lastMsgSeq: c.lastMsgSeq }),
    });
    parent.apply({ ...input, at: child.now });
  }

  private detach(parent: WorldRun, c: Extract<Command, { kind: 'detachChild' }>): void {
    const child = this.runs.get(c.childWorkflowId);
    if (!child?.isOpen) return;
    const reason = `parent ${parent.workflowId} (${parent.runId}) no longer waits on it`;
    child.apply(
      c.policy === 'terminate'
        ? { kind: 'terminate', at: parent.now, reason, byParent: parent.runId }
        : { kind: 'cancel', at: parent.now, reason },
    );
  }
}
