/**
 * Waiting on user events by key (docs/events.md). A state declares what it waits on with
 * `waitForEvent()` in its `on`: a transition on `squall.event.<key>` whose `meta.squallWait` names
 * the key, filter, label and `since`, and whose guard evaluates the filter on the payload. After
 * every decision, syncEventWaits() reads the active states' waits into RunState.eventWaits and,
 * when they changed, asks the services to update the wait index (`watchEvents`), so the index is
 * a projection of history. A definition that declares no wait skips it at the cost of one lookup.
 */
import type { AnyMachineSnapshot, AnyStateMachine, AnyStateNode } from 'xstate';
import { InvalidInputError } from '../errors.js';
import { matchesFilter } from '../events/filter.js';
import {
  type EventWait,
  keyOfEventType,
  type UserEvent,
  userEventType,
  validateWaitSpec,
  type WaitSpec,
  waitSince,
} from '../events/wait.js';
import type { Command, RunState } from './types.js';

/** Where a wait's declaration travels on its transition. */
const META_FIELD = 'squallWait';

/** What a transition does when its event arrives: as in an XState `on` entry (target, actions, ...). */
export type WaitTransition = object;

/** The guard a wait adds: its filter on the event's payload. */
export type WaitGuard = (args: { event: { payload?: unknown } }) => boolean;

/** The `on` entry `waitForEvent` returns: spread it into a state's `on`. */
export type WaitOn<T extends WaitTransition> = Record<
  `squall.event.${string}`,
  Omit<T, keyof WaitSpec> & { guard: WaitGuard; meta: Record<typeof META_FIELD, WaitSpec> }
>;

/**
 * An `on` entry that waits on user event `key`: `on: { ...waitForEvent({ key, filter, label, target }) }`.
 * The machine receives `{ type: 'squall.event.<key>', key, eventId, payload, publishedAt, label? }`
 * (UserEvent) once per matching event published while the state is active (or since `since`).
 * Throws InvalidInputError for a bad key, filter, label or since.
 */
export function waitForEvent<T extends WaitTransition>(spec: WaitSpec & T): WaitOn<T> {
  const { key, filter, label, since, ...transition } = spec;
  const wait = validateWaitSpec({ key, filter, label, since });
  const guard: WaitGuard = ({ event }) => matchesFilter(wait.filter, event.payload);
  return { [userEventType(wait.key)]: { ...transition, guard, meta: { [META_FIELD]: wait } } } as WaitOn<T>;
}

/**
 * A state that takes the first of an event and a timer: `waitForEvent` on `key` to `onEvent`, or
 * after `ms` to `onTimeout`. Spread into a state config: `waiting: sleepOrEvent({ ... })`.
 */
export function sleepOrEvent<E extends WaitTransition, O extends WaitTransition | string>(
  spec: WaitSpec & { ms: number; onEvent: E; onTimeout: O },
): { on: WaitOn<E>; after: Record<number, O> } {
  const { ms, onEvent, onTimeout, ...wait } = spec;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new InvalidInputError(`sleepOrEvent ms must be a non-negative integer, got ${JSON.stringify(ms)}`);
  }
  return { on: waitForEvent<E>({ ...wait, ...onEvent }), after: { [ms]: onTimeout } };
}

/**
 * A parallel state that waits until every one of `waits` has had its event (each region ends on
 * its own event, in any order), then takes `onDone`. `actions` of a wait run when its event comes
 * (to keep the payload in context). Region names are the keys.
 */
export function allOfEvents<A, O extends WaitTransition | string>(spec: {
  waits: readonly (WaitSpec & { actions?: A })[];
  onDone: O;
}): {
  type: 'parallel';
  states: Record<
    string,
    { initial: 'waiting'; states: { waiting: { on: WaitOn<object> }; received: { type: 'final' } } }
  >;
  onDone: O;
} {
  if (spec.waits.length === 0) throw new InvalidInputError('allOfEvents needs at least one wait');
  const states: ReturnType<typeof allOfEvents>['states'] = {};
  for (const w of spec.waits) {
    const { actions, ...wait } = w;
    const transition = actions === undefined ? { target: 'received' } : { target: 'received', actions };
    states[wait.key] = {
      initial: 'waiting',
      states: { waiting: { on: waitForEvent({ ...wait, ...transition }) }, received: { type: 'final' } },
    };
  }
  return { type: 'parallel', states, onDone: spec.onDone };
}

/** Does any state of `machine` declare a wait? Cached per machine. */
const declaresWaits = new WeakMap<AnyStateMachine, boolean>();

function machineWaits(machine: AnyStateMachine): boolean {
  let yes = declaresWaits.get(machine);
  if (yes === undefined) {
    const walk = (n: AnyStateNode): boolean =>
      [...n.transitions.keys()].some((t) => keyOfEventType(t) !== undefined) ||
      Object.values(n.states).some((c) => walk(c as AnyStateNode));
    yes = walk(machine.root);
    declaresWaits.set(machine, yes);
  }
  return yes;
}

/** The waits of the active states of `snapshot`, by key (several transitions on one key: no index filter). */
export function activeWaits(snapshot: AnyMachineSnapshot): Map<string, WaitSpec> {
  const out = new Map<string, WaitSpec>();
  for (const node of snapshot._nodes as AnyStateNode[]) {
    for (const [type, transitions] of node.transitions) {
      if (keyOfEventType(type) === undefined) continue;
      for (const t of transitions) {
        const spec = (t.meta as Record<string, WaitSpec> | undefined)?.[META_FIELD];
        if (!spec) continue;
        const seen = out.get(spec.key);
        if (!seen) out.set(spec.key, spec);
        else if (JSON.stringify(seen.filter) !== JSON.stringify(spec.filter))
          out.set(spec.key, { ...seen, filter: undefined });
      }
    }
  }
  return out;
}

function sameWait(a: EventWait, spec: WaitSpec): boolean {
  return a.label === spec.label && JSON.stringify(a.filter) === JSON.stringify(spec.filter);
}

/** What syncEventWaits reads and writes of a decision draft (draft.ts, which imports this file). */
export interface WaitDraft {
  readonly definition: { readonly machine: AnyStateMachine };
  readonly live: AnyMachineSnapshot | undefined;
  readonly state: RunState;
  readonly at: number;
  readonly commands: Command[];
}

/**
 * Brings RunState.eventWaits up to the machine's active states at the end of a decision and, when
 * they changed, adds the `watchEvents` command. A wait kept from the previous state keeps its
 * `since`; a new one starts at the decision's time (or earlier, by its `since`).
 */
export function syncEventWaits(d: WaitDraft): void {
  const before = d.state.eventWaits;
  if (!before && !machineWaits(d.definition.machine)) return;
  const specs = d.live && d.state.status === 'running' ? activeWaits(d.live) : new Map<string, WaitSpec>();
  const next: Record<string, EventWait> = {};
  const add: EventWait[] = [];
  for (const [key, spec] of specs) {
    const kept = before?.[key];
    if (kept && sameWait(kept, spec)) {
      next[key] = kept;
      continue;
    }
    const wait: EventWait = { key, since: waitSince(spec, d.at, d.state.startedAt) };
    if (spec.filter !== undefined) wait.filter = spec.filter;
    if (spec.label !== undefined) wait.label = spec.label;
    next[key] = wait;
    add.push(wait);
  }
  const remove = Object.keys(before ?? {}).filter((k) => !(k in next));
  if (Object.keys(next).length > 0) d.state.eventWaits = next;
  else delete d.state.eventWaits;
  if (add.length > 0 || remove.length > 0) d.commands.push({ kind: 'watchEvents', add, remove });
}

/** A user event the current state cannot take is stale (a wait index entry behind the run's state). */
export function isUserEvent(event: { type: string }): event is UserEvent {
  return keyOfEventType(event.type) !== undefined;
}
