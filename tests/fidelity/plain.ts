/**
 * Runs a fidelity case under plain XState: `createActor` with a SimulatedClock, activities as
 * promise actors over the same functions the executor runs, child workflows as the machines
 * themselves, and `sendToWorkflow` relayed to peer actors. Time moves only when the run waits:
 * to the next due timer, until a case event's `when` holds, and after the last event until no
 * timer is due within HORIZON_MS.
 */
import {
  type AnyActorLogic,
  type AnyActorRef,
  type AnyMachineSnapshot,
  createActor,
  fromPromise,
  matchesState,
  SimulatedClock,
  type StateValue,
} from 'xstate';
import type { SignalEvent } from '../../shared/history/events.js';
import { ACTIVITY_FNS } from './activities.js';
import {
  type CaseEvent,
  caseWorkflowId,
  type FidelityCase,
  type Observed,
  type Outcome,
  peerWorkflowId,
} from './case.js';

/** How far past the last event plain XState's clock runs its timers (Squall's runs keep longer ones pending). */
export const HORIZON_MS = 10_000;

const STATUS: Record<string, string> = { active: 'running', done: 'completed', error: 'failed', stopped: 'stopped' };

/** The SimulatedClock's pending timeouts (a field its typings keep private). */
function nextDue(clock: SimulatedClock): number | undefined {
  const timeouts = (clock as unknown as { timeouts: Map<number, { start: number; timeout: number }> }).timeouts;
  let due: number | undefined;
  for (const t of timeouts.values()) due = Math.min(due ?? Number.POSITIVE_INFINITY, t.start + t.timeout);
  return due;
}

/** Lets promise actors settle and their results reach the machines. */
async function flush(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** What a `when` condition sees of a snapshot. */
export function observe(snap: { value: StateValue; context: unknown; tags: Iterable<string> }): Observed {
  return { value: snap.value, context: snap.context, tags: [...snap.tags].sort() };
}

/** True when the observed run satisfies an event's `when`. */
export function holds(when: NonNullable<CaseEvent['when']>, o: Observed): boolean {
  return typeof when === 'function' ? when(o) : matchesState(when, o.value);
}

/** Runs `c` under plain XState and returns its outcome. */
export async function runPlain(c: FidelityCase): Promise<Outcome> {
  const clock = new SimulatedClock();
  const activities: Outcome['activities'] = [];
  const emitted: SignalEvent[] = [];
  const messages: Outcome['messages'] = [];
  const actors: Record<string, AnyActorLogic> = { ...c.plainActors };
  for (const [name, fn] of Object.entries(ACTIVITY_FNS)) {
    if (!(name in (c.machine.implementations.actors ?? {}))) continue;
    actors[name] = fromPromise(async ({ input, signal }: { input: unknown; signal: AbortSignal }) => {
      activities.push({ activity: name, input });
      return fn(input, signal);
    });
  }
  const byId = new Map<string, AnyActorRef>();
  const relay = (ref: AnyActorRef): void => {
    ref.on('squall.sendToWorkflow', (e: SignalEvent) => {
      if (ref === root) messages.push({ workflowId: e.workflowId as string, event: e.event as SignalEvent });
      byId.get(e.workflowId as string)?.send(e.event as SignalEvent);
    });
  };
  for (const peer of c.peers ?? []) {
    const ref = createActor(peer.machine, { clock });
    byId.set(peerWorkflowId(c, peer), ref);
  }
  // Squall drops `log` actions (docs/xstate.md); here they go nowhere too, rather than to the console.
  const root = createActor(c.machine.provide({ actors }), { clock, input: c.input, logger: () => {} });
  byId.set(caseWorkflowId(c), root);
  root.on('*', (e: SignalEvent) => {
    if (!e.type.startsWith('squall.')) emitted.push(e);
  });
  for (const ref of byId.values()) {
    relay(ref);
    // An errored actor without an error listener reports globally; the outcome's status says it.
    ref.subscribe({ error: () => {} });
  }
  for (const ref of byId.values()) ref.start();

  const snap = (): AnyMachineSnapshot => root.getSnapshot() as AnyMachineSnapshot;
  /** Moves the clock to the next due timer; false when none is due by `limit`. */
  const advance = (limit: number): boolean => {
    const due = nextDue(clock);
    if (due === undefined || due > limit || snap().status !== 'active') return false;
    clock.set(Math.max(due, clock.now()));
    return true;
  };
  for (const e of c.events ?? []) {
    await flush();
    const when = e.when;
    if (when !== undefined) {
      while (!holds(when, observe(snap()))) {
        if (!advance(Number.POSITIVE_INFINITY)) {
          throw new Error(`case ${c.name}: plain XState never reaches the state to send ${e.event.type} in`);
        }
        await flush();
      }
    }
    root.send(e.event);
  }
  await flush();
  const horizon = clock.now() + HORIZON_MS;
  while (advance(horizon)) await flush();
  const s = snap();
  for (const ref of byId.values()) ref.stop();
  return {
    value: s.value,
    context: s.context,
    status: STATUS[s.status] ?? s.status,
    output: s.output,
    tags: [...s.tags].sort(),
    activities,
    emitted,
    messages,
  };
}
