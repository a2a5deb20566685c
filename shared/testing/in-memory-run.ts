/**
 * The run behind createTestRun(): it folds every input through the real decide(), records the
 * commits as the router would, keeps a virtual clock, and plays the executor (stubbed activities
 * and children) and the timer service (due timers, in order).
 */

import { type CallbackFailure, failCallbackBody } from '../client/bodies.js';
import { attemptFailure } from '../engine/activity.js';
import { activityTimerId, reportsStart } from '../engine/attempts.js';
import { branchDecisions } from '../engine/branch.js';
import { parseCallbackToken } from '../engine/callback.js';
import { decide } from '../engine/decide.js';
import { type WorkflowDefinition, withChildDefinitions } from '../engine/definition.js';
import { replayCommits } from '../engine/replay.js';
import { runTags } from '../engine/run-tags.js';
import { RUN_TIMEOUT_SEND_ID } from '../engine/run-timeouts.js';
import type {
  Command,
  Decision,
  DecisionInput,
  PendingActivity,
  PendingCallback,
  PendingChild,
  PendingTimer,
  RunState,
} from '../engine/types.js';
import type { WorkflowLogLine } from '../engine/workflow-log.js';
import type { ErrorInfo } from '../errors.js';
import { reachesWait, type UserEvent, userEventType, validateEventKey } from '../events/wait.js';
import type { Commit, MessageFrom, Millis, RunOrigin, RunStatus, SignalEvent } from '../history/events.js';
import { type ActivityStub, callStub, type StubResult } from './stubs.js';
import type { SentMessage, TestRun, TestRunOptions } from './types.js';
import { TestWorld, type UndeliveredMessage, type WorldRun } from './world.js';

/** Results or timers one call may go through before the run is taken for a loop. */
const MAX_STEPS = 10_000;

/** A run driven by a test; created started by createTestRun(), which also runs it to idle. */
export class InMemoryRun implements TestRun, WorldRun {
  readonly history: Commit[] = [];
  readonly commands: Command[] = [];
  readonly emitted: SignalEvent[] = [];
  readonly logs: WorkflowLogLine[] = [];
  readonly workflowId: string;
  readonly runId: string;
  private readonly world: TestWorld;
  private clock: Millis;
  private current: RunState | undefined;
  private readonly stubs: Record<string, ActivityStub>;
  private readonly childStubs: Record<string, ActivityStub>;
  private readonly autoRun: boolean;
  /** User events published to this run so far (names the next one's eventId). */
  private published = 0;

  /** `world`: the runs this one is driven with (a child's parent's); a new one for a createTestRun() root. */
  constructor(
    readonly definition: WorkflowDefinition,
    opts: TestRunOptions,
    world?: TestWorld,
  ) {
    this.stubs = opts.activities ?? {};
    this.childStubs = opts.children ?? {};
    this.autoRun = opts.autoRun ?? true;
    this.workflowId = opts.workflowId ?? 'test-workflow';
    this.runId = opts.runId ?? `${this.workflowId}-run-1`;
    this.clock = opts.start ?? 0;
    // Children of the world's types run for real, with the root's stubs and options.
    this.world =
      world ??
      new TestWorld(worldWorkflows(definition, opts.workflows), (def, start) => {
        const child = new InMemoryRun(
          def,
          { ...opts, workflowId: start.workflowId, runId: start.runId, start: start.at },
          this.world,
        );
        child.apply(start);
        return child;
      });
    this.world.add(this);
  }

  get isOpen(): boolean {
    return this.current?.status === 'running';
  }
  get messagesSent(): SentMessage[] {
    return this.commands.flatMap((c) =>
      c.kind === 'sendMessage' ? [{ target: c.target, event: c.event, msgSeq: c.msgSeq }] : [],
    );
  }
  get undelivered(): readonly UndeliveredMessage[] {
    return this.world.undelivered;
  }

  runOf(workflowId: string): TestRun | undefined {
    const run = this.world.runs.get(workflowId);
    return run instanceof InMemoryRun ? run : undefined;
  }

  receive(event: SignalEvent, from: MessageFrom): Promise<Decision> {
    return this.settle(this.apply({ kind: 'signal', at: this.clock, event, from }));
  }

  get state(): RunState {
    return this.current as RunState;
  }
  get status(): RunStatus {
    return this.state.status;
  }
  get output(): unknown {
    return this.state.output;
  }
  get error(): ErrorInfo | undefined {
    return this.state.error;
  }
  get value(): unknown {
    return (this.state.snapshot as { value?: unknown } | undefined)?.value;
  }
  get context(): unknown {
    return (this.state.snapshot as { context?: unknown } | undefined)?.context;
  }
  get tags(): string[] {
    return runTags(this.definition, this.state);
  }
  get now(): Millis {
    return this.clock;
  }

  apply(input: DecisionInput): Decision {
    return this.take(decide(this.definition, this.current, input));
  }

  /** Records a decision as the router would: its commit, logs and commands (routed to the world). */
  private take(decision: Decision): Decision {
    if (decision.events.length > 0) {
      this.history.push({
        runId: this.runId,
        workflowId: this.workflowId,
        seq: decision.state.lastSeq,
        events: decision.events,
      });
    }
    if (decision.logs) this.logs.push(...decision.logs);
    for (const c of decision.commands) {
      this.commands.push(c);
      if (c.kind === 'emit') this.emitted.push(c.event);
    }
    this.current = decision.state;
    this.world.route(this, decision.commands, (type) => Object.hasOwn(this.childStubs, type));
    return decision;
  }

  replay(): RunState {
    return replayCommits(this.definition, this.history);
  }

  pendingActivities(): PendingActivity[] {
    return Object.values(this.state.activities).sort((a, b) => a.activitySeq - b.activitySeq);
  }

  pendingTimers(): PendingTimer[] {
    return liveTimers(this.state);
  }

  pendingChildren(): PendingChild[] {
    return Object.values(this.state.children).sort((a, b) => a.childSeq - b.childSeq);
  }

  signal(event: SignalEvent): Promise<Decision> {
    return this.settle(this.apply({ kind: 'signal', at: this.clock, event }));
  }

  async publishEvent(key: string, payload?: unknown, opts: { eventId?: string } = {}): Promise<Decision | undefined> {
    const wait = this.state.eventWaits?.[validateEventKey(key)];
    if (!wait || !reachesWait(wait, this.clock, payload)) return undefined;
    this.published++;
    const event: UserEvent = {
      type: userEventType(key),
      key,
      eventId: opts.eventId ?? `test-event-${this.published}`,
      publishedAt: this.clock,
    };
    if (payload !== undefined) event.payload = payload;
    if (wait.label !== undefined) event.label = wait.label;
    return this.signal(event as unknown as SignalEvent);
  }

  cancel(reason?: string): Promise<Decision> {
    const at = this.clock;
    return this.settle(this.apply(reason === undefined ? { kind: 'cancel', at } : { kind: 'cancel', at, reason }));
  }

  terminate(reason?: string): Promise<Decision> {
    const at = this.clock;
    return this.settle(
      this.apply(reason === undefined ? { kind: 'terminate', at } : { kind: 'terminate', at, reason }),
    );
  }

  async completeChild(child: string | number, output?: unknown): Promise<Decision> {
    return this.settle(this.deliverChild(this.findChild(child), { output }));
  }

  async failChild(child: string | number, error: unknown): Promise<Decision> {
    return this.settle(this.deliverChild(this.findChild(child), attemptFailure(error)));
  }

  async complete(activity: string | number, output?: unknown): Promise<Decision> {
    return this.settle(this.deliver(this.findActivity(activity), { output }));
  }

  async fail(activity: string | number, error: unknown): Promise<Decision> {
    return this.settle(this.deliver(this.findActivity(activity), attemptFailure(error)));
  }

  async heartbeat(activity: string | number, details?: unknown): Promise<Decision> {
    const a = this.findActivity(activity);
    const input: DecisionInput = {
      kind: 'activityHeartbeat',
      at: this.clock,
      activitySeq: a.activitySeq,
      attempt: a.attempt ?? 1,
    };
    if (details !== undefined) input.details = details;
    return this.settle(this.apply(input));
  }

  pendingCallbacks(): PendingCallback[] {
    return Object.values(this.state.callbacks ?? {}).sort((a, b) => a.callbackSeq - b.callbackSeq);
  }

  completeCallback(callback: string, output?: unknown): Promise<Decision> {
    const { callbackSeq } = this.findCallback(callback);
    const input: DecisionInput = { kind: 'callbackCompleted', at: this.clock, callbackSeq };
    if (output !== undefined) input.output = output;
    return this.settle(this.apply(input));
  }

  failCallback(callback: string, error: CallbackFailure): Promise<Decision> {
    const { callbackSeq, token } = this.findCallback(callback);
    // The error as the client sends it: name, message, code and details, never a stack.
    const sent = failCallbackBody(token, error).error as ErrorInfo;
    return this.settle(this.apply({ kind: 'callbackFailed', at: this.clock, callbackSeq, error: sent }));
  }

  heartbeatCallback(callback: string): Promise<Decision> {
    const { callbackSeq } = this.findCallback(callback);
    return this.settle(this.apply({ kind: 'callbackHeartbeat', at: this.clock, callbackSeq }));
  }

  /** A callback by token (any, even one that is over: the router takes those too) or by pending invoke id. */
  private findCallback(which: string): { callbackSeq: number; token: string } {
    const pending = this.pendingCallbacks().find((c) => c.token === which || c.invokeId === which);
    if (pending) return pending;
    try {
      const t = parseCallbackToken(which);
      if (t.runId === this.runId) return { callbackSeq: t.callbackSeq, token: which };
    } catch {
      // not a token: an invoke id with no pending callback
    }
    const open = this.pendingCallbacks().map((c) => c.invokeId);
    throw new Error(`no pending callback ${which} (pending: ${open.join(', ') || 'none'})`);
  }

  async runUntilIdle(): Promise<void> {
    await this.world.runStubs();
  }

  /** Runs this run's stubbed activities and children (see TestWorld.runStubs); true when it decided anything. */
  async runOwnStubs(): Promise<boolean> {
    const before = this.history.length;
    await this.runStubbed();
    return this.history.length !== before;
  }

  private async runStubbed(): Promise<void> {
    for (let steps = 0; this.state.status === 'running'; steps++) {
      if (steps >= MAX_STEPS) throw new Error(`test run still scheduling activities after ${MAX_STEPS} results`);
      const next = this.running().find((a) => Object.hasOwn(this.stubs, a.activity));
      if (next) {
        const result = await callStub(this.stubs[next.activity], next.input, next.attempt ?? 1, next.heartbeat);
        this.deliver(next, result);
        continue;
      }
      const child = this.pendingChildren().find((c) => Object.hasOwn(this.childStubs, c.workflowType));
      if (child) {
        const result = await callStub(this.childStubs[child.workflowType], this.childInput(child), 1, undefined);
        this.deliverChild(child, 'error' in result ? { error: result.error } : result);
        continue;
      }
      // A stubbed activity waiting for its retry: run the attempt once nothing else is due before it.
      const timer = this.pendingTimers()[0];
      const retrying = this.pendingActivities().find(
        (a) => a.timers?.retry?.timerSeq === timer?.timerSeq && Object.hasOwn(this.stubs, a.activity),
      );
      if (!timer || !retrying) return;
      this.fireNext(timer.fireAt);
    }
  }

  async advanceTo(ms: Millis): Promise<void> {
    if (!Number.isFinite(ms) || ms < this.clock) {
      throw new Error(`cannot move the clock from ${this.clock} back to ${ms}`);
    }
    // One clock for the whole world: a child run's timers fire too, in due order, as the timer service fires them.
    for (let steps = 0; this.world.fireNext(ms); steps++) {
      if (steps >= MAX_STEPS) throw new Error(`more than ${MAX_STEPS} timers fired before ${ms}`);
      if (this.autoRun) await this.runUntilIdle();
    }
    this.world.moveClocksTo(ms);
  }

  advanceBy(ms: number): Promise<void> {
    return this.advanceTo(this.clock + ms);
  }

  async skipToNextTimer(): Promise<boolean> {
    if (!this.world.fireNext(Number.POSITIVE_INFINITY)) return false;
    if (this.autoRun) await this.runUntilIdle();
    return true;
  }

  async runToEnd(): Promise<void> {
    await this.runUntilIdle();
    for (let steps = 0; this.state.status === 'running'; steps++) {
      if (steps >= MAX_STEPS) throw new Error(`test run still running after ${MAX_STEPS} timers`);
      if (!(await this.skipToNextTimer())) return;
    }
  }

  /** Starts the run with the start fields of `opts` (input, signal, memo, search attributes), then settles. */
  async start(opts: TestRunOptions): Promise<this> {
    const input: DecisionInput = { kind: 'start', at: this.clock, workflowId: this.workflowId, runId: this.runId };
    if (opts.input !== undefined) input.input = opts.input;
    if (opts.signal !== undefined) input.signal = opts.signal;
    if (opts.continuedCount !== undefined) input.continuedCount = opts.continuedCount;
    if (opts.memo !== undefined) input.memo = opts.memo;
    if (opts.searchAttributes !== undefined) input.searchAttributes = opts.searchAttributes;
    if (opts.runTimeoutMs !== undefined) input.runTimeoutMs = opts.runTimeoutMs;
    if (opts.executionTimeoutMs !== undefined) input.executionTimeoutMs = opts.executionTimeoutMs;
    if (opts.parent !== undefined) input.parent = { invokeId: 'test', childSeq: 1, ...opts.parent };
    this.apply(input);
    return this.settle(this);
  }

  /**
   * Opens this run from another's history up to `origin.atSeq` (branchDecisions), as a branch,
   * reset or resume does on the router: the copied commits, then the RunBranched one's commands.
   */
  async startFrom(source: readonly Commit[], origin: RunOrigin): Promise<this> {
    const at = Math.max(this.clock, ...source.slice(0, origin.atSeq).flatMap((c) => c.events.map((e) => e.at)));
    const target = { workflowId: this.workflowId, runId: this.runId, origin, at };
    const decisions = branchDecisions(this.definition, source.slice(0, origin.atSeq), target);
    this.clock = at;
    for (const d of decisions) this.take(d);
    return this.settle(this);
  }

  /** Runs stubbed work after an input when autoRun is on, then hands back `value`. */
  private async settle<T>(value: T): Promise<T> {
    if (this.autoRun) await this.runUntilIdle();
    return value;
  }

  /** Activities whose attempt is running (not waiting for a retry). */
  private running(): PendingActivity[] {
    return this.pendingActivities().filter((a) => !a.timers?.retry);
  }

  private findActivity(which: string | number): PendingActivity {
    const found = this.running().find((a) => (typeof which === 'number' ? a.activitySeq : a.activity) === which);
    if (!found) {
      const pending = this.pendingActivities().map(
        (a) => `${a.activity}#${a.activitySeq}${a.timers?.retry ? ' (waiting to retry)' : ''}`,
      );
      throw new Error(`no pending activity ${String(which)} (pending: ${pending.join(', ') || 'none'})`);
    }
    return found;
  }

  private findChild(which: string | number): PendingChild {
    const found = this.pendingChildren().find(
      (c) => (typeof which === 'number' ? c.childSeq : c.workflowType) === which,
    );
    if (!found) {
      const open = this.pendingChildren().map((c) => `${c.workflowType}#${c.childSeq}`);
      throw new Error(`no open child ${String(which)} (open: ${open.join(', ') || 'none'})`);
    }
    return found;
  }

  /** Delivers an attempt's result as an executor would: its start first when the policy needs one. */
  private deliver(a: PendingActivity, result: StubResult): Decision {
    if (a.policy && reportsStart(a.policy) && a.startedAt === undefined) {
      this.apply({ kind: 'activityStarted', at: this.clock, activitySeq: a.activitySeq, attempt: a.attempt ?? 1 });
    }
    const attempt = a.attempt ?? 1;
    if (!('error' in result)) {
      return this.apply({
        kind: 'activityCompleted',
        at: this.clock,
        activitySeq: a.activitySeq,
        output: result.output,
        attempt,
      });
    }
    const input: DecisionInput = {
      kind: 'activityFailed',
      at: this.clock,
      activitySeq: a.activitySeq,
      error: result.error,
      attempt,
    };
    if (result.retryAfterMs !== undefined) input.retryAfterMs = result.retryAfterMs;
    return this.apply(input);
  }

  private deliverChild(c: PendingChild, result: { output: unknown } | { error: ErrorInfo }): Decision {
    return this.apply(
      'error' in result
        ? { kind: 'childFailed', at: this.clock, childSeq: c.childSeq, error: result.error }
        : { kind: 'childCompleted', at: this.clock, childSeq: c.childSeq, output: result.output },
    );
  }

  /** The input a child was started with, as its ChildStarted event recorded it. */
  private childInput(c: PendingChild): unknown {
    for (const commit of this.history) {
      for (const e of commit.events) if (e.type === 'ChildStarted' && e.childSeq === c.childSeq) return e.input;
    }
    return undefined;
  }

  /** When this run's earliest live timer is due, or undefined when it has none (or is closed). */
  nextTimerAt(): Millis | undefined {
    return this.state.status === 'running' ? this.pendingTimers()[0]?.fireAt : undefined;
  }

  /** Moves this run's clock forward to `ms` (never back). */
  moveClockTo(ms: Millis): void {
    this.clock = Math.max(this.clock, ms);
  }

  /** Fires the earliest live timer if it is due by `limit`, moving the clock to it; false when none is. */
  fireNext(limit: Millis): boolean {
    const next = this.pendingTimers()[0];
    if (!next || next.fireAt > limit || this.state.status !== 'running') return false;
    this.clock = Math.max(this.clock, next.fireAt);
    this.apply({ kind: 'timerFired', at: this.clock, timerSeq: next.timerSeq });
    return true;
  }
}

/**
 * Every live timer of `state`, earliest first: the machine's, activities' retry and timeout
 * timers, callbacks' timeouts and heartbeat windows, and the run's timeout.
 */
function liveTimers(state: RunState): PendingTimer[] {
  const engine: PendingTimer[] = Object.values(state.activities).flatMap((a) =>
    Object.entries(a.timers ?? {}).map(([purpose, t]) => ({
      timerSeq: t.timerSeq,
      fireAt: t.fireAt,
      sendId: activityTimerId(a.activitySeq, purpose as 'retry'),
    })),
  );
  const callbacks: PendingTimer[] = Object.values(state.callbacks ?? {}).flatMap((c) => [
    ...(c.timerSeq === undefined || c.fireAt === undefined
      ? []
      : [{ timerSeq: c.timerSeq, fireAt: c.fireAt, sendId: `squall.callback.${c.callbackSeq}.timeout` }]),
    ...(c.heartbeat === undefined ? [] : [{ ...c.heartbeat, sendId: `squall.callback.${c.callbackSeq}.heartbeat` }]),
  ]);
  const run = state.runTimeout;
  const deadline: PendingTimer[] = run
    ? [{ timerSeq: run.timerSeq, fireAt: run.fireAt, sendId: RUN_TIMEOUT_SEND_ID }]
    : [];
  return [...Object.values(state.timers), ...engine, ...callbacks, ...deadline].sort(
    (a, b) => a.fireAt - b.fireAt || a.timerSeq - b.timerSeq,
  );
}

/** The workflows a test world runs for real: `workflows`, and the child workflows of the root's and their machines. */
function worldWorkflows(root: WorkflowDefinition, workflows: readonly WorkflowDefinition[] = []): WorkflowDefinition[] {
  return [...withChildDefinitions(root).slice(1), ...workflows.flatMap(withChildDefinitions)];
}
