/**
 * Inline steps (Temporal's local activities, DBOS steps): activities a workflow declares
 * `inline`, which the router runs in its own process instead of publishing a task.
 *
 * Chain folding: once decide() has produced a decision that schedules inline steps, the router
 * runs them at once (side by side when parallel) and feeds each outcome back through decide() as
 * the input an executor's result would have been, and so on until a decision has no inline step
 * left. Each decision stays one commit (replay takes one input per commit); the chain's commits
 * are appended together, in one ordered insert, by the caller. Nothing is stored before the
 * chain ends and the input is acked only after, so a crash mid-chain redelivers the input and
 * the steps run again: at least once, as an executor's.
 * A step at most once (`semantics: 'at-most-once'`) is not run in the chain that schedules it: the
 * chain is cut there (`deferred`), and once its commits are stored a chain of its own runs exactly
 * those steps; a crash mid-step leaves the attempt to its startToClose timer, never to a rerun.
 *
 * A chain is cut after MAX_CHAIN_DECISIONS decisions or CHAIN_BUDGET_MS of wall time; the steps
 * its last commit leaves pending are run by a chain of their own (`pendingSteps`), and if the
 * router dies first, their startToClose timer (armed when they were scheduled) times the attempt
 * out and the retry runs it again.
 */
import type { Clock } from '../../shared/clock.js';
import { type ActivityContext, type ActivityDefinition, attemptFailure } from '../../shared/engine/activity.js';
import type { WorkflowDefinition, WorkflowRegistry } from '../../shared/engine/index.js';
import { decide } from '../../shared/engine/index.js';
import type { Command, Decision, DecisionInput, PendingActivity, RunState } from '../../shared/engine/types.js';
import { ConfigError, TimeoutError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';

/** Decisions one chain folds at most before it is committed. */
export const MAX_CHAIN_DECISIONS = 100;
/**
 * Wall time after which a chain is committed, its steps still running or not: kept well under
 * a client's start timeout (5 s), since a start is answered once its chain is stored.
 */
export const CHAIN_BUDGET_MS = 2_000;

/** A scheduleActivity command of an inline step. */
export type InlineStep = Extract<Command, { kind: 'scheduleActivity' }>;

/** The input a step's outcome is fed back as: its result, or the firing of the timer it ran out of. */
export type StepOutcome = WithoutAt<
  Extract<DecisionInput, { kind: 'activityCompleted' | 'activityFailed' | 'timerFired' }>
>;
type WithoutAt<T> = T extends unknown ? Omit<T, 'at'> : never;

/** What one chain folded: its decisions in order (the first is the one it started from, if any). */
export interface InlineChain {
  decisions: Decision[];
  /**
   * Per decision (same index), the indexes of its commands not to publish: timers armed and ended
   * within the chain (cancelled, or fired in-process), and cancels of the chain's own steps.
   */
  elided: Set<number>[];
  /** True when the last decision leaves inline steps the chain did not finish (it was cut). */
  cut: boolean;
  /**
   * Steps still running when the chain's wall-time budget ran out: their outcomes, for the chain
   * that resumes it (see fold's `work`). Absent when the cut steps were never started.
   */
  inFlight?: Promise<StepOutcome[]>;
  /**
   * Steps the chain left unrun because one of them runs at most once and its schedule was not
   * stored yet: the chain that resumes it runs exactly these (never pendingSteps, which would let
   * two resumed chains run one attempt twice).
   */
  deferred?: InlineStep[];
}

/** Options of InlineSteps. */
export interface InlineStepsOptions {
  /** The activities the router runs inline, by name. */
  activities: ReadonlyMap<string, ActivityDefinition>;
  clock: Clock;
  log: Logger;
  /** Called every `keepAliveMs` while steps run (the input message's `working()`). */
  keepAliveMs: number;
  /** @default MAX_CHAIN_DECISIONS */
  maxDecisions?: number;
  /** @default CHAIN_BUDGET_MS */
  budgetMs?: number;
}

/** The inline steps a decision's commands schedule. */
export function inlineStepsOf(commands: readonly Command[]): InlineStep[] {
  return commands.filter((c): c is InlineStep => c.kind === 'scheduleActivity' && c.inline === true);
}

/**
 * The inline steps a stored state leaves running (a cut chain's last commit): started, not
 * waiting on a retry. The command each was scheduled with is rebuilt from the pending activity.
 */
export function pendingSteps(state: RunState): InlineStep[] {
  const steps: InlineStep[] = [];
  for (const a of Object.values(state.activities)) {
    // An at-most-once step is run only by the chain that stored its schedule (InlineChain.deferred).
    if (!a.policy?.inline || a.policy.atMostOnce || a.timers?.retry || a.startedAt === undefined) continue;
    const step: InlineStep = {
      kind: 'scheduleActivity',
      activitySeq: a.activitySeq,
      activity: a.activity,
      invokeId: a.invokeId,
      attempt: a.attempt ?? 1,
      inline: true,
    };
    if (a.input !== undefined) step.input = a.input;
    if (a.heartbeat !== undefined) step.lastHeartbeat = a.heartbeat;
    steps.push(step);
  }
  return steps.sort((x, y) => x.activitySeq - y.activitySeq);
}

/** The steps of `steps` the run in `state` still waits on (the same attempt, not waiting on a retry). */
export function stillPendingSteps(state: RunState, steps: readonly InlineStep[]): InlineStep[] {
  return steps.filter((step) => {
    const a = Object.values(state.activities).find((p) => p.activitySeq === step.activitySeq);
    return a !== undefined && (a.attempt ?? 1) === (step.attempt ?? 1) && a.timers?.retry === undefined;
  });
}

/**
 * Throws ConfigError naming the workflow and activity when a registered workflow declares an
 * inline activity that `activities` lacks: the router could never run it.
 */
export function checkInlineActivities(registry: WorkflowRegistry, activities: ReadonlyMap<string, unknown>): void {
  for (const name of registry.names()) {
    for (const version of registry.versions(name)) {
      const def = registry.require(name, version);
      for (const activity of def.inlineActivities ?? []) {
        if (activities.has(activity)) continue;
        throw new ConfigError(
          `workflow ${def.name} v${def.version} declares activity ${activity} inline, but the router was given no activity ${activity} (pass it in the router's activities)`,
          { details: { workflowType: def.name, version: def.version, activity } },
        );
      }
    }
  }
}

/** Runs inline steps and folds their outcomes into chains of decisions; one per router. */
export class InlineSteps {
  private readonly maxDecisions: number;
  private readonly budgetMs: number;

  constructor(private readonly opts: InlineStepsOptions) {
    this.maxDecisions = opts.maxDecisions ?? MAX_CHAIN_DECISIONS;
    this.budgetMs = opts.budgetMs ?? CHAIN_BUDGET_MS;
  }

  /**
   * Runs `work` (steps of the run in `state`, or the outcomes of steps a cut chain left running)
   * and what their outcomes schedule, folding every outcome through decide(). `first`, when
   * given, is the decision that scheduled the steps and opens the chain; without it the chain
   * holds only the decisions the outcomes lead to. Past the budget the chain is cut, steps still
   * running or not: a step that outlives it does not hold its input (or a start's reply) back.
   */
  async fold(
    def: WorkflowDefinition,
    state: RunState,
    work: InlineStep[] | Promise<StepOutcome[]>,
    opts: { first?: Decision; keepAlive?: () => void; stored?: boolean } = {},
  ): Promise<InlineChain> {
    const decisions: Decision[] = opts.first ? [opts.first] : [];
    const fired = new Set<number>();
    const ranSeqs = new Set<number>();
    const began = Date.now();
    let current = state;
    let next: InlineStep[] = [];
    const launch = (steps: InlineStep[]): Promise<StepOutcome[]> => {
      for (const step of steps) ranSeqs.add(step.activitySeq);
      const at = current;
      return Promise.all(steps.map((step) => this.run(at, step)));
    };
    // An at-most-once step runs only from a stored state: its start must be durable first.
    if (Array.isArray(work) && !opts.stored && work.some((s) => s.atMostOnce)) {
      return { decisions, elided: elisions(decisions, fired, ranSeqs), cut: true, deferred: work };
    }
    let running: Promise<StepOutcome[]> | undefined = Array.isArray(work)
      ? work.length > 0
        ? launch(work)
        : undefined
      : work;
    const alive = opts.keepAlive ? setInterval(opts.keepAlive, this.opts.keepAliveMs) : undefined;
    try {
      while (running) {
        const outcomes = await withinBudget(running, this.budgetMs - (Date.now() - began));
        if (!outcomes) return { decisions, elided: elisions(decisions, fired, ranSeqs), cut: true, inFlight: running };
        next = [];
        for (const outcome of outcomes) {
          if (current.status !== 'running' || !stillWanted(current, outcome)) continue;
          const d = decide(def, current, { ...outcome, at: this.opts.clock.now() } as DecisionInput);
          if (d.events.length === 0) continue;
          if (outcome.kind === 'timerFired') fired.add(outcome.timerSeq);
          decisions.push(d);
          current = d.state;
          next.push(...inlineStepsOf(d.commands));
        }
        const room = decisions.length < this.maxDecisions && Date.now() - began < this.budgetMs;
        const onceFirst = next.some((s) => s.atMostOnce);
        running = next.length > 0 && current.status === 'running' && room && !onceFirst ? launch(next) : undefined;
      }
    } finally {
      if (alive) clearInterval(alive);
    }
    const cut = next.length > 0 && current.status === 'running';
    const chain: InlineChain = { decisions, elided: elisions(decisions, fired, ranSeqs), cut };
    if (cut && next.some((s) => s.atMostOnce)) chain.deferred = next;
    return chain;
  }

  /** Runs one attempt of a step under its deadline; its outcome as the input to feed back. */
  private async run(state: RunState, step: InlineStep): Promise<StepOutcome> {
    const attempt = step.attempt ?? 1;
    const ref = { activitySeq: step.activitySeq, attempt };
    const pending = Object.values(state.activities).find((a) => a.activitySeq === step.activitySeq);
    const impl = this.opts.activities.get(step.activity);
    const log = this.opts.log.child({ runId: state.runId, workflowId: state.workflowId, activity: step.activity });
    if (!impl) {
      // checkInlineActivities refuses this at start; a definition changed under a live run can still.
      const err = new ConfigError(`the router has no inline activity ${step.activity}`, {
        details: { workflowType: state.workflowType, activity: step.activity },
      });
      return { kind: 'activityFailed', ...ref, ...attemptFailure(err) };
    }
    const abort = new AbortController();
    const ctx: ActivityContext = {
      activity: step.activity,
      workflowId: state.workflowId,
      runId: state.runId,
      activitySeq: step.activitySeq,
      attempt,
      idempotencyKey: `${state.workflowId}/${step.activitySeq}`,
      signal: abort.signal,
      // Heartbeats of an inline step keep nothing alive (the router holds the input); their
      // details travel with a failure, so the next attempt resumes from them.
      heartbeat(details?: unknown) {
        if (details !== undefined) ctx.lastHeartbeat = details;
      },
      log,
    };
    if (step.lastHeartbeat !== undefined) ctx.lastHeartbeat = step.lastHeartbeat;
    const deadline = pending ? earliestTimeout(pending) : undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timedOut'>((resolve) => {
      if (!deadline) return;
      timer = setTimeout(() => resolve('timedOut'), Math.max(0, deadline.fireAt - this.opts.clock.now()));
    });
    try {
      const result = await Promise.race([Promise.resolve().then(() => impl.fn(step.input, ctx)), timedOut]);
      if (result === 'timedOut' && deadline) {
        abort.abort(new TimeoutError(`inline step ${step.activity} (seq ${step.activitySeq}) ran out of time`));
        log.info('inline step timed out', { ...ref, timerSeq: deadline.timerSeq });
        // Its timer fires in-process: the engine records the same ActivityTimedOut an executor's would get.
        return { kind: 'timerFired', timerSeq: deadline.timerSeq };
      }
      return result === undefined
        ? { kind: 'activityCompleted', ...ref }
        : { kind: 'activityCompleted', ...ref, output: result };
    } catch (err) {
      log.info('inline step failed', { ...ref, err });
      const failed: Extract<StepOutcome, { kind: 'activityFailed' }> = {
        kind: 'activityFailed',
        ...ref,
        ...attemptFailure(err),
      };
      if (ctx.lastHeartbeat !== undefined) failed.heartbeat = ctx.lastHeartbeat;
      return failed;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }
}

/** The outcomes of `running`, or undefined when `budgetMs` runs out first. */
async function withinBudget(running: Promise<StepOutcome[]>, budgetMs: number): Promise<StepOutcome[] | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const out = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, budgetMs));
  });
  try {
    return await Promise.race([running, out]);
  } finally {
    clearTimeout(timer);
  }
}

/** The activity's timeout timer due first: startToClose of this attempt, or scheduleToClose of all. */
function earliestTimeout(a: PendingActivity): { timerSeq: number; fireAt: number } | undefined {
  const timers = [a.timers?.startToClose, a.timers?.scheduleToClose].filter((t) => t !== undefined);
  return timers.sort((x, y) => x.fireAt - y.fireAt)[0];
}

/** False when the run no longer waits on this outcome (a sibling's outcome moved the machine on). */
function stillWanted(state: RunState, outcome: StepOutcome): boolean {
  if (outcome.kind === 'timerFired') {
    return Object.values(state.activities).some((a) =>
      Object.values(a.timers ?? {}).some((t) => t.timerSeq === outcome.timerSeq),
    );
  }
  const a = Object.values(state.activities).find((p) => p.activitySeq === outcome.activitySeq);
  return a !== undefined && a.attempt === outcome.attempt && a.timers?.retry === undefined;
}

/**
 * The commands of a chain no one needs to receive: timers both armed and ended (cancelled, or
 * fired in-process) within it, and cancels of the steps it ran itself (no executor has them).
 */
function elisions(decisions: Decision[], fired: ReadonlySet<number>, ranSeqs: ReadonlySet<number>): Set<number>[] {
  const armed = new Set<number>();
  const ended = new Set<number>(fired);
  for (const d of decisions) {
    for (const c of d.commands) {
      if (c.kind === 'scheduleTimer') armed.add(c.timerSeq);
      else if (c.kind === 'cancelTimer') ended.add(c.timerSeq);
    }
  }
  return decisions.map((d) => {
    const out = new Set<number>();
    d.commands.forEach((c, i) => {
      const timer = c.kind === 'scheduleTimer' || c.kind === 'cancelTimer' ? c.timerSeq : undefined;
      if (timer !== undefined && armed.has(timer) && ended.has(timer)) out.add(i);
      if (c.kind === 'cancelActivity' && ranSeqs.has(c.activitySeq)) out.add(i);
    });
    return out;
  });
}
