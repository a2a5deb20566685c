/**
 * decide(): the pure core. One input plus the run's state in, the events to append, the new state
 * and the commands to publish out. No clock but `input.at`, no randomness, no I/O; replaying a
 * run's inputs through it rebuilds the same state and the same commands.
 */
import type { AnyActorRef, AnyMachineSnapshot } from 'xstate';
import { InvalidInputError } from '../errors.js';
import type { HistoryEvent, SignalEvent } from '../history/events.js';
import type { applyActions } from './actions.js';
import { type DecisionScope, withDecisionScope } from './decision-context.js';
import type { WorkflowDefinition } from './definition.js';
import {
  accepts,
  advance,
  closeRun,
  type Draft,
  finish,
  keepLive,
  newDraft,
  openDraft,
  record,
  seesUnhandled,
  settle,
  step,
} from './draft.js';
import { foldRunInput, type RunInput } from './fold-input.js';
import { validateDecisionInput } from './input.js';
import { invocationOf } from './invocation.js';
import { initialTransitionOf } from './messages.js';
import { armRunTimeout, startTiming } from './run-timeouts.js';
import { sideEffectRecorder } from './side-effects.js';
import { CURRENT_ENGINE, type Decision, type DecisionInput, type RunState } from './types.js';
import { explainSendFailure } from './unsupported.js';
import { workflowLogRecorder } from './workflow-log.js';

/** Options of decide(). */
export interface DecideOptions {
  /**
   * The recorded commit when replaying it: side effects take their values from its
   * SideEffectRecorded events instead of running. Undefined when deciding live.
   */
  recorded?: readonly HistoryEvent[];
}

/**
 * Folds one input into a run. `state` is undefined exactly for `start`. A closed run takes no
 * input: the result is `{ events: [], commands: [], state }` and nothing is to be appended.
 * Throws InvalidInputError for a malformed input; never throws for what the machine does.
 * While it runs, `now()` answers `input.at`, and `sideEffect()` and `workflowLog` record into this
 * decision (its lines in `logs`, see workflow-log.ts).
 */
export function decide(
  definition: WorkflowDefinition,
  state: RunState | undefined,
  input: DecisionInput,
  opts: DecideOptions = {},
): Decision {
  validateDecisionInput(input);
  const scope: DecisionScope = { at: input.at, invocation: () => invocationOf(definition, state, input) };
  const logs = workflowLogRecorder(opts.recorded !== undefined);
  const bind = (d: Draft): Draft => {
    scope.sideEffect = sideEffectRecorder(d, opts.recorded);
    scope.log = logs.bind(d);
    return d;
  };
  const decision = withDecisionScope(scope, () => decideInScope(definition, state, input, bind));
  // A decision with nothing to append is no commit: its lines (if any) were never decided.
  if (logs.lines.length > 0 && decision.events.length > 0) decision.logs = logs.lines;
  return decision;
}

function decideInScope(
  definition: WorkflowDefinition,
  state: RunState | undefined,
  input: DecisionInput,
  bind: (d: Draft) => Draft,
): Decision {
  if (input.kind === 'start') {
    if (state !== undefined) {
      throw new InvalidInputError(`run ${state.runId} already exists; start opens a new run only`, {
        details: { runId: state.runId, workflowId: state.workflowId },
      });
    }
    return start(definition, input, bind);
  }
  const run = runTakingInput(definition, state, input);
  if (run.status !== 'running') return { events: [], commands: [], state: run };
  const inputId = outsideInputId(input);
  // The same outside message again (its router died before acking it): taken already.
  if (inputId !== undefined && run.recentInputs?.includes(inputId)) return { events: [], commands: [], state: run };

  const d = bind(openDraft(definition, run, input.at));
  if (inputId !== undefined) d.state.recentInputs = [...(d.state.recentInputs ?? []), inputId].slice(-RECENT_INPUTS);
  return foldRunInput(d, input);
}

/** The state a non-start input folds into; InvalidInputError when there is none or it is another workflow's. */
function runTakingInput(definition: WorkflowDefinition, state: RunState | undefined, input: RunInput): RunState {
  if (state === undefined) {
    throw new InvalidInputError(`a ${input.kind} input needs the run's state; only start opens a run`);
  }
  if (state.workflowType !== definition.name || state.version !== definition.version) {
    throw new InvalidInputError(
      `run ${state.runId} is ${state.workflowType} v${state.version}, not ${definition.name} v${definition.version}`,
      { details: { runId: state.runId } },
    );
  }
  return state;
}

function start(
  definition: WorkflowDefinition,
  input: Extract<DecisionInput, { kind: 'start' }>,
  bind: (d: Draft) => Draft,
): Decision {
  const state: RunState = {
    workflowId: input.workflowId,
    runId: input.runId,
    workflowType: definition.name,
    version: definition.version,
    status: 'running',
    snapshot: undefined,
    lastSeq: 1,
    nextSeq: 1,
    activities: {},
    timers: {},
    children: {},
    mailbox: [],
    startedAt: input.at,
    updatedAt: input.at,
  };
  if (input.parent) state.parent = { ...input.parent };
  if (input.continuedFrom !== undefined) state.continuedFrom = input.continuedFrom;
  if (input.continuedCount) state.continuedCount = input.continuedCount;
  if (input.origin !== undefined) state.origin = { ...input.origin };
  if (input.memo !== undefined) state.memo = input.memo;
  if (input.priority !== undefined) state.priority = input.priority;
  if (input.trace !== undefined) state.trace = input.trace;
  if (input.searchAttributes !== undefined) state.searchAttributes = { ...input.searchAttributes };
  Object.assign(state, startTiming(input.at, input));
  const engine = input.engine ?? CURRENT_ENGINE;
  if (engine !== 1) state.engine = engine;
  const d: Draft = bind(newDraft(definition, input.at, state));
  record(d, input);
  let next: AnyMachineSnapshot;
  let actions: Parameters<typeof applyActions>[1];
  let actor: AnyActorRef;
  try {
    [next, actions, actor] = initialTransitionOf(definition.machine, input.input, input.parent !== undefined);
  } catch (err) {
    closeRun(d, 'failed', explainSendFailure(definition.name, err));
    return finish(d);
  }
  advance(d, next, actions);
  settle(d);
  if (d.state.status === 'running') armRunTimeout(d);
  if (input.signal) deliverStartSignal(d, input.signal);
  const decision = finish(d);
  // Without a step of its own (one restores a scope, which finish() keeps), the start's actor is kept.
  if (!d.scope) keepLive(d, decision.state.snapshot, actor);
  return decision;
}

/**
 * Signal-with-start: the signal is folded in the start's own decision, right after the machine
 * settled in its initial state, and recorded as a SignalReceived after the start's outcome. One
 * commit holds both, so a start is never seen without its signal.
 */
function deliverStartSignal(d: Draft, signal: SignalEvent): void {
  const { at } = d;
  if (d.state.status !== 'running') {
    d.events.push({ type: 'SignalReceived', at, signal, ignored: 'closed' });
    return;
  }
  const accepted = accepts(d, signal);
  if (accepted === 'failed') return;
  if (!accepted) {
    if (!d.definition.deferred.includes(signal.type)) {
      d.events.push({ type: 'SignalReceived', at, signal, ignored: 'unhandled' });
      // Unhandled, yet seen: XState re-checks eventless transitions after every event (foldSignal).
      if (seesUnhandled(d)) {
        step(d, signal);
        settle(d);
      }
      return;
    }
    d.events.push({ type: 'SignalReceived', at, signal, deferred: true });
    d.state.mailbox.push(signal);
    return;
  }
  d.events.push({ type: 'SignalReceived', at, signal });
  step(d, signal);
  settle(d);
}

/** How many outside input ids a run remembers to recognise redeliveries (see RunState.recentInputs). */
export const RECENT_INPUTS = 64;

function outsideInputId(input: DecisionInput): string | undefined {
  return input.kind === 'signal' || input.kind === 'cancel' || input.kind === 'terminate' ? input.inputId : undefined;
}
