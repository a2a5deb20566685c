/**
 * The fidelity suite's table format (issue #16): a case is a machine, its input, the events a
 * driver sends (each once the run shows a given state) and the differences from plain XState that
 * Squall makes on purpose. Family files in cases/ list cases; workflows.ts defines each as a
 * workflow for the router process; driver.ts runs each both ways and compares.
 */
import type { AnyActorLogic, AnyStateMachine, StateValue } from 'xstate';
import type { SignalEvent } from '../../shared/history/events.js';

/** What both sides expose of a run at a moment, for `when` conditions. */
export interface Observed {
  value: StateValue;
  context: unknown;
  /** Sorted. */
  tags: string[];
}

/** An event the driver sends to the run, once `when` holds (a state value it matches, or a test). */
export interface CaseEvent {
  event: SignalEvent;
  when?: StateValue | ((o: Observed) => boolean);
}

/** The comparable outcome of a run; `status` in Squall's words (`running`, `completed`, `failed`). */
export interface Outcome {
  value: unknown;
  context: unknown;
  status: string;
  output: unknown;
  tags: string[];
  /** Activities called, in order, with their inputs. */
  activities: { activity: string; input: unknown }[];
  /** Events emitted with `emit` (not Squall's own `squall.*` ones), in order. */
  emitted: SignalEvent[];
  /** `sendToWorkflow` messages sent, in order. */
  messages: { workflowId: string; event: SignalEvent }[];
}

/**
 * A deliberate difference: where Squall's outcome differs from plain XState's, the documented
 * reason and what Squall gives instead (the rest of the outcome must still match).
 */
export interface Difference {
  /** Where docs/xstate.md or docs/workflows.md says so. */
  documented: string;
  /** Turns plain XState's outcome into the one Squall must reach. */
  squall: (plain: Outcome) => Outcome;
}

/** A workflow a case needs besides its own machine: a child workflow type or a peer run. */
export interface ExtraWorkflow {
  /** Workflow type, also the name used in `childWorkflow({ workflowType })`. */
  name: string;
  machine: AnyStateMachine;
}

/** One row of the table. */
export interface FidelityCase {
  /** Unique; the workflow type `fid-<name>` and the run's workflowId `fid-<name>`. */
  name: string;
  /** The machine as Squall runs it: activities as `activity()`, children as `childWorkflow()`. */
  machine: AnyStateMachine;
  input?: unknown;
  events?: CaseEvent[];
  /** Actor logic plain XState runs in place of a `childWorkflow()` (activities are added by the driver). */
  plainActors?: Record<string, AnyActorLogic>;
  /** Child workflow types this case invokes; registered with the router. */
  workflows?: ExtraWorkflow[];
  /**
   * Runs started before this case's own run (workflowId `fid-<name>-<peer.name>`, no input): the
   * targets of its `sendToWorkflow`. Plain XState runs them as actors and the driver relays.
   */
  peers?: ExtraWorkflow[];
  differences?: Difference[];
}

/** Workflow type and workflowId of a case's run. */
export function caseWorkflowId(c: Pick<FidelityCase, 'name'>): string {
  return `fid-${c.name}`;
}

/** WorkflowId of a peer run of a case. */
export function peerWorkflowId(c: Pick<FidelityCase, 'name'>, peer: Pick<ExtraWorkflow, 'name'>): string {
  return `fid-${c.name}-${peer.name}`;
}

/** Shorthand for a case event. */
export function send(event: SignalEvent, when?: CaseEvent['when']): CaseEvent {
  return when === undefined ? { event } : { event, when };
}
