/**
 * Runs one machine under plain XState (`createActor`, a SimulatedClock for delays) and through
 * Squall's test kit, so fidelity tests can compare what each reached (issue #16).
 */
import { type AnyStateMachine, createActor, SimulatedClock } from 'xstate';
import { defineWorkflow } from '../../../shared/engine/index.js';
import type { SignalEvent } from '../../../shared/history/events.js';
import { createTestRun, type TestRun } from '../../../shared/testing/index.js';

/** What a run reached: comparable between XState and Squall. */
export interface Outcome {
  value: unknown;
  context: unknown;
  status: string;
  output: unknown;
}

/** A step of a scenario: an event sent now, or time moving forward. */
export type Step = { send: SignalEvent } | { wait: number };

/** The outcome of `machine` under a plain XState actor after `steps`. */
export function runInXState(machine: AnyStateMachine, steps: readonly Step[], input?: unknown): Outcome {
  const clock = new SimulatedClock();
  const actor = createActor(machine, { clock, input });
  // An errored actor without an error listener reports globally; the outcome's status says it.
  actor.subscribe({ error: () => {} });
  actor.start();
  for (const s of steps) {
    if ('send' in s) actor.send(s.send);
    else clock.increment(s.wait);
  }
  const snap = actor.getSnapshot();
  return { value: snap.value, context: snap.context, status: snap.status, output: snap.output };
}

/** XState's name for a run status, where it has one. */
const STATUS: Readonly<Record<string, string>> = { running: 'active', completed: 'done', failed: 'error' };

/** The outcome of `machine` run by Squall's test kit after `steps`, and the run for more checks. */
export async function runInSquall(
  machine: AnyStateMachine,
  steps: readonly Step[],
  input?: unknown,
): Promise<{ outcome: Outcome; run: TestRun }> {
  const run = await createTestRun(defineWorkflow({ name: 'fidelity', machine }), { input });
  for (const s of steps) {
    if ('send' in s) await run.signal(s.send);
    else await run.advanceBy(s.wait);
  }
  const status = STATUS[run.status] ?? run.status;
  return { outcome: { value: run.value, context: run.context, status, output: run.output }, run };
}
