/**
 * The decision draft: the private working copy a decision writes to, and the steps that drive the
 * machine through it. decide() opens a draft on the run's state, feeds it events, lets it settle,
 * then finishes it into the Decision. Ending a run (completed, failed, cancelled, terminated or
 * continued as new) lives here too, since any step can end it.
 */
import {
  type AnyActorRef,
  type AnyActorScope,
  type AnyMachineSnapshot,
  createActor,
  createMachine,
  type EventObject,
  type ExecutableActionObject,
} from 'xstate';
import { CorruptHistoryError, TerminatedError, toErrorInfo } from '../errors.js';
import type { HistoryEvent, IgnoredReason, SignalEvent } from '../history/events.js';
import { type ActionTarget, applyActions, detachChild, scheduleAssignSpawns } from './actions.js';
import { cancelPendingActivity } from './attempts.js';
import { cancelAllCallbacks } from './callback.js';
import { withoutWorkflowLog } from './decision-context.js';
import type { WorkflowDefinition } from './definition.js';
import { inputEvent } from './input.js';
import { attachParent } from './messages.js';
import { continuedTiming, disarmRunTimeout } from './run-timeouts.js';
import { holdsActorRef, withStoppedRefs } from './stopped-refs.js';
import {
  ATOMIC_STEP_ENGINE,
  type Command,
  type Decision,
  type DecisionInput,
  type RunState,
  XSTATE_FIDELITY_ENGINE,
} from './types.js';
import { explainSendFailure } from './unsupported.js';
import { syncEventWaits } from './wait-for-event.js';

/** A decision in progress: a private working copy of the state plus what it produced so far. */
export interface Draft extends ActionTarget {
  readonly definition: WorkflowDefinition;
  /** The machine snapshot as of the last successful step; undefined only if start failed. */
  live: AnyMachineSnapshot | undefined;
  /** Inert actor scope transitions run in; `actions` collects what they ask for, unexecuted. */
  scope: AnyActorScope | undefined;
  actions: ExecutableActionObject[];
}

/** A draft of a decision on `state` with nothing produced yet. */
export function newDraft(definition: WorkflowDefinition, at: number, state: RunState): Draft {
  return {
    definition,
    at,
    state,
    events: [],
    commands: [],
    selfEvents: [],
    live: undefined,
    scope: undefined,
    actions: [],
  };
}

/** What a decision's actions change in place: pending work, counters and what was sent. */
type PendingParts = Pick<
  RunState,
  'nextSeq' | 'activities' | 'timers' | 'children' | 'callbacks' | 'sent' | 'searchAttributes'
>;

/**
 * Copies of the parts of `state` that actions change in place. Pending activities are updated in
 * place too (attempts, their timers): each is copied, never shared with `state`.
 */
function copyPending(state: RunState): PendingParts {
  const parts: PendingParts = {
    nextSeq: state.nextSeq,
    activities: Object.fromEntries(
      Object.entries(state.activities).map(([id, a]) => [id, a.timers ? { ...a, timers: { ...a.timers } } : { ...a }]),
    ),
    timers: { ...state.timers },
    children: { ...state.children },
  };
  if (state.callbacks !== undefined) parts.callbacks = { ...state.callbacks };
  if (state.sent !== undefined) parts.sent = { ...state.sent };
  if (state.searchAttributes !== undefined) parts.searchAttributes = { ...state.searchAttributes };
  return parts;
}

/** A draft of a decision on a working copy of `state`, its machine restored. */
export function openDraft(definition: WorkflowDefinition, state: RunState, at: number): Draft {
  const copy: RunState = {
    ...state,
    ...copyPending(state),
    lastSeq: state.lastSeq + 1,
    updatedAt: at,
    mailbox: [...state.mailbox],
  };
  const d = newDraft(definition, at, copy);
  restore(d, state);
  return d;
}

/**
 * Rebuilds the live snapshot from its persisted form and an inert scope to transition in.
 * `machine.resolveState()` is not enough: it drops the invoked children (so `stopChild` loses its
 * target) and cannot revive history states. Creating (never starting) an actor from the snapshot
 * runs XState's own `restoreSnapshot`. XState's `transition()` would build a fresh actor, and
 * with it the machine's initial state, on every call; one scope per decision avoids that. A
 * snapshot the previous decision left (see keepLive) is taken as it is, without a restore.
 */
function restore(d: Draft, state: RunState): void {
  const kept = takeKept(state.snapshot, d.definition);
  if (kept) {
    d.live = kept.live;
    d.scope = inertScope(d, kept.actor);
    return;
  }
  try {
    // A ref in context to a child that has stopped is revived as a stopped actor (stopped-refs.ts).
    const actor = createActor(d.definition.machine, { snapshot: withStoppedRefs(state.snapshot) as never });
    // A child run's `sendParent` resolves to the stand-in parent and becomes a message (messages.ts).
    if (state.parent) attachParent(actor);
    d.live = actor.getSnapshot() as AnyMachineSnapshot;
    d.scope = inertScope(d, actor);
  } catch (err) {
    throw new CorruptHistoryError(
      `run ${state.runId}: its snapshot does not fit ${d.definition.name} v${d.definition.version}; rebuild it from history`,
      { cause: err, details: { runId: state.runId } },
    );
  }
}

/** The scope a draft's transitions run in: `actor`'s system, nothing executed, actions collected. */
function inertScope(d: Draft, actor: AnyActorRef): AnyActorScope {
  return {
    self: actor,
    id: '',
    sessionId: '',
    logger: () => {},
    defer: () => {},
    emit: () => {},
    system: actor.system,
    stopChild: () => {},
    actionExecutor: (action) => {
      d.actions.push(action);
    },
  };
}

/** A run's machine as a decision left it: its live snapshot and the (never started) actor it ran in. */
interface KeptLive {
  definition: WorkflowDefinition;
  live: AnyMachineSnapshot;
  actor: AnyActorRef;
}

/**
 * Live snapshots by the persisted snapshot a decision stored from them, the most recent
 * MAX_KEPT_LIVE. The next decision on a state holding that very object (the router's hot run)
 * transitions the live one instead of restoring it: restoring an actor was 5-8% of a router's
 * CPU. A state read back from the store or the cache's packed form holds a new object and
 * restores, as does one whose entry was pushed out.
 */
const keptLive = new Map<object, KeptLive>();

/**
 * How many live snapshots are kept, across runs: a kept one holds about 6 KB more than its run's
 * state (noop3), so this bounds them to about 12 MB, far more runs than are decided at once.
 */
const MAX_KEPT_LIVE = 2048;

/**
 * Keeps `live` for the next decision on `persisted` (see keptLive), when restoring `persisted`
 * would give the same machine: no actor ref in context (a restore turns refs to stopped children
 * into stand-ins, stopped-refs.ts) and no child registered under a `systemId` (a restore gives a
 * fresh system, where a kept actor's still holds the ids of children that have stopped).
 */
export function keepLive(d: Draft, persisted: unknown, actor: AnyActorRef): void {
  if (d.state.status !== 'running' || !d.live || typeof persisted !== 'object' || persisted === null) return;
  if (!actorsHoldSnapshotField()) return;
  const p = persisted as { context?: unknown; children?: Record<string, { systemId?: unknown } | undefined> };
  for (const id in p.children) if (p.children[id]?.systemId !== undefined) return;
  if (holdsActorRef(p.context)) return;
  if (keptLive.size >= MAX_KEPT_LIVE) {
    const oldest = keptLive.keys().next().value;
    if (oldest !== undefined) keptLive.delete(oldest);
  }
  keptLive.set(persisted, { definition: d.definition, live: d.live, actor });
}

let snapshotField: boolean | undefined;

/**
 * Whether an actor answers `getSnapshot()` from its `_snapshot` field, which takeKept sets: true
 * of xstate 5 as pinned. Checked once, on a never-started actor; if an xstate upgrade renames the
 * field, nothing is kept and every decision restores its actor, as before keepLive.
 */
function actorsHoldSnapshotField(): boolean {
  if (snapshotField === undefined) {
    const actor = createActor(createMachine({}));
    const marker = { probe: true };
    const fields = actor as unknown as { _snapshot?: unknown };
    snapshotField = '_snapshot' in fields;
    if (snapshotField) {
      fields._snapshot = marker;
      snapshotField = actor.getSnapshot() === (marker as unknown);
    }
  }
  return snapshotField;
}

/** Whether a decision on a state holding `persisted` would transition a kept live snapshot (tests). */
export function holdsKeptLive(persisted: unknown): boolean {
  return typeof persisted === 'object' && persisted !== null && keptLive.has(persisted);
}

/** The live snapshot kept for `persisted`, taken once: a second decision on the same state restores. */
function takeKept(persisted: unknown, definition: WorkflowDefinition): KeptLive | undefined {
  if (typeof persisted !== 'object' || persisted === null) return undefined;
  const kept = keptLive.get(persisted);
  if (!kept || kept.definition !== definition) return undefined;
  keptLive.delete(persisted);
  // What `self.getSnapshot()` answers in a restored actor: the state the decision starts from.
  (kept.actor as unknown as { _snapshot: unknown })._snapshot = kept.live;
  return kept;
}

export function pendingBySeq(d: Draft, activitySeq: number) {
  return Object.values(d.state.activities).find((a) => a.activitySeq === activitySeq);
}

/** Records the input event of this decision (first event of the commit). */
export function record(d: Draft, input: DecisionInput): void {
  d.events.push(inputEvent(input, d.definition.name, d.definition.version));
}

/** A no-op decision: the input is recorded with why it changed nothing. */
export function ignore(d: Draft, input: DecisionInput, ignored: IgnoredReason): Decision {
  d.events.push(inputEvent(input, d.definition.name, d.definition.version, { ignored }));
  return finish(d);
}

/** Does the current state take `event`? 'failed' when asking threw (a guard threw) and the run failed. */
export function accepts(d: Draft, event: EventObject): boolean | 'failed' {
  try {
    // can() evaluates guards without taking the transition: a guard's log line waits for step().
    return withoutWorkflowLog(() => d.live?.can(event) ?? false);
  } catch (err) {
    closeRun(d, 'failed', err);
    return 'failed';
  }
}

/**
 * Whether the machine is given a signal no transition takes (runs of XSTATE_FIDELITY_ENGINE on);
 * runs of earlier engines dropped it before the machine saw it, and replay as they ran.
 */
export function seesUnhandled(d: Draft): boolean {
  return (d.state.engine ?? 1) >= XSTATE_FIDELITY_ENGINE;
}

/**
 * Whether a timer's firing first fires the machine's timers due before it (runs of
 * XSTATE_FIDELITY_ENGINE on); runs of earlier engines took firings in arrival order.
 */
export function firesInOrder(d: Draft): boolean {
  return (d.state.engine ?? 1) >= XSTATE_FIDELITY_ENGINE;
}

/** Whether a step whose action throws drops what its earlier actions did (ATOMIC_STEP_ENGINE on). */
function atomicSteps(d: Draft): boolean {
  return (d.state.engine ?? 1) >= ATOMIC_STEP_ENGINE;
}

/**
 * Remembers what the draft holds before a step's actions run and returns the undo: it drops the
 * events, commands and self-sends recorded since and puts the pending work back, so that a step
 * whose action throws leaves only the run's failure, as XState drops a throwing transition's
 * deferred sends, emits, timers and spawns. Copies are taken every step; undoing is rare.
 */
function checkpoint(d: Draft): () => void {
  const events = d.events.length;
  const commands = d.commands.length;
  const selfEvents = d.selfEvents.length;
  const parts = copyPending(d.state);
  return () => {
    d.events.length = events;
    d.commands.length = commands;
    d.selfEvents.length = selfEvents;
    d.continueAsNew = undefined;
    for (const key of ['callbacks', 'sent', 'searchAttributes'] as const) delete d.state[key];
    Object.assign(d.state, parts);
  };
}

/** Feeds one event to the machine and maps what it did. */
export function step(d: Draft, event: EventObject): void {
  // The start decision has no scope yet (initialTransition needs none); its own events
  // (sendTo self, side effect values) need one.
  if (d.state.status === 'running' && d.live && !d.scope) {
    restore(d, { ...d.state, snapshot: d.definition.machine.getPersistedSnapshot(d.live) });
  }
  if (d.state.status !== 'running' || !d.live || !d.scope) return;
  let next: AnyMachineSnapshot;
  d.actions = [];
  try {
    next = d.definition.machine.transition(d.live, event, d.scope) as AnyMachineSnapshot;
  } catch (err) {
    closeRun(d, 'failed', explainSendFailure(d.definition.name, err));
    return;
  }
  advance(d, next, d.actions);
}

export function advance(d: Draft, next: AnyMachineSnapshot, actions: Parameters<typeof applyActions>[1]): void {
  if (next.status === 'error') {
    // XState's generic send failure (sendParent without a parent, even in the initial state's entry) named.
    closeRun(d, 'failed', explainSendFailure(d.definition.name, next.error));
    return;
  }
  const undo = atomicSteps(d) ? checkpoint(d) : undefined;
  try {
    applyActions(d.definition, actions, d);
    scheduleAssignSpawns(d.definition, actions, d.live?.children ?? {}, next.children, d);
  } catch (err) {
    undo?.();
    closeRun(d, 'failed', err);
    return;
  }
  d.live = next;
  const next_ = d.continueAsNew;
  if (next_) {
    d.continueAsNew = undefined;
    closeRun(d, 'continued', next_.input);
    return;
  }
  if (next.status === 'done') closeRun(d, 'completed', next.output);
}

/** After a step: feed the machine's own sends, then every mailbox event the new state accepts, oldest first. */
export function settle(d: Draft): void {
  while (d.state.status === 'running') {
    const own = d.selfEvents.shift();
    if (own) {
      step(d, own);
      continue;
    }
    let index = -1;
    for (let i = 0; i < d.state.mailbox.length; i++) {
      const accepted = accepts(d, d.state.mailbox[i] as SignalEvent);
      if (accepted === 'failed') return;
      if (accepted) {
        index = i;
        break;
      }
    }
    if (index < 0) return;
    const [event] = d.state.mailbox.splice(index, 1);
    step(d, event as SignalEvent);
  }
}

/** How a run can end; `detail` of closeRun is the output, the thrown value, the reason or the next input. */
export type CloseStatus = 'completed' | 'failed' | 'cancelled' | 'terminated' | 'continued';

/**
 * Ends the run: cancels every pending activity and timer (scheduling order), applies each open
 * child's parent close policy, then records the end and, for a child run, tells its parent.
 * `detail` is the output (completed), the thrown value (failed), the reason (cancelled,
 * terminated) or the next run's input (continued).
 */
export function closeRun(d: Draft, status: CloseStatus, detail: unknown): void {
  const { state, at } = d;
  disarmRunTimeout(d);
  for (const a of Object.values(state.activities).sort((x, y) => x.activitySeq - y.activitySeq)) {
    cancelPendingActivity(d, a, 'runClosed');
  }
  for (const t of Object.values(state.timers).sort((x, y) => x.timerSeq - y.timerSeq)) {
    d.events.push({ type: 'TimerCancelled', at, timerSeq: t.timerSeq });
    d.commands.push({ kind: 'cancelTimer', timerSeq: t.timerSeq });
  }
  for (const c of Object.values(state.children).sort((x, y) => x.childSeq - y.childSeq)) detachChild(d, c);
  cancelAllCallbacks(d);
  state.activities = {};
  state.timers = {};
  state.children = {};
  state.status = status;
  state.closedAt = at;
  d.selfEvents.length = 0;
  d.continueAsNew = undefined;
  const reason = typeof detail === 'string' ? detail : undefined;
  let event: HistoryEvent;
  let command: Command;
  let notify: Command | undefined;
  if (status === 'completed') {
    event = detail === undefined ? { type: 'RunCompleted', at } : { type: 'RunCompleted', at, output: detail };
    command = detail === undefined ? { kind: 'runClosed', status } : { kind: 'runClosed', status, output: detail };
    if (detail !== undefined) state.output = detail;
  } else if (status === 'failed') {
    const error = toErrorInfo(detail);
    state.error = error;
    event = { type: 'RunFailed', at, error };
    command = { kind: 'runClosed', status, error };
  } else if (status === 'continued') {
    event = detail === undefined ? { type: 'RunContinuedAsNew', at } : { type: 'RunContinuedAsNew', at, input: detail };
    command = { kind: 'runClosed', status };
    const next: Extract<Command, { kind: 'continueAsNew' }> =
      detail === undefined ? { kind: 'continueAsNew' } : { kind: 'continueAsNew', input: detail };
    next.continuedCount = (state.continuedCount ?? 0) + 1;
    Object.assign(next, continuedTiming(state));
    // The next run inherits the parent: it is the one that reports back.
    if (state.parent) next.parent = { ...state.parent };
    if (state.priority !== undefined) next.priority = state.priority;
    d.events.push(event);
    d.commands.push(next, command);
    return;
  } else {
    const type = status === 'cancelled' ? 'RunCancelled' : 'RunTerminated';
    event = reason === undefined ? { type, at } : { type, at, reason };
    command = { kind: 'runClosed', status };
    if (status === 'terminated') {
      const error = toErrorInfo(
        new TerminatedError(`run ${state.workflowId} was terminated${reason ? `: ${reason}` : ''}`),
      );
      delete error.stack; // made here, not thrown: a stack would only point at the engine
      state.error = error;
      command.error = error;
    }
  }
  if (state.parent) {
    notify = { kind: 'notifyParent', parent: { ...state.parent }, status };
    if (state.output !== undefined && status === 'completed') notify.output = state.output;
    if (command.kind === 'runClosed' && command.error) notify.error = command.error;
    // The parent takes this run's messages before its result, as XState's parent does (child-result.ts).
    const lastMsgSeq = state.sent?.[state.parent.workflowId];
    if (lastMsgSeq !== undefined) notify.lastMsgSeq = lastMsgSeq;
  }
  d.events.push(event);
  d.commands.push(command);
  if (notify) d.commands.push(notify);
}

export function finish(d: Draft): Decision {
  if (d.live) {
    d.state.snapshot = d.definition.machine.getPersistedSnapshot(d.live);
    if (d.scope) keepLive(d, d.state.snapshot, d.scope.self);
  }
  syncEventWaits(d);
  return { events: d.events, commands: d.commands, state: d.state };
}
