/**
 * The console's wire shapes, shared by the router's definitions feed (which answers them), the
 * console server and the browser app. Types only, no imports: the browser bundle compiles it too.
 */

/** What an invoke starts: an activity (executors), a child workflow, or a callback. */
export type InvokeKind = 'activity' | 'child' | 'callback';

/** One state node of a definition's graph. `id` is XState's (`<machine>.<path>`). */
export interface GraphState {
  id: string;
  key: string;
  /** Dot path from the root (`''` for the root). */
  path: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Id of the initial child (compound states). */
  initial?: string;
  invokes: { id: string; src: string; kind: InvokeKind }[];
  /** Signal types a transition of this very state handles (engine events excluded). */
  accepts: string[];
  tags: string[];
  children: GraphState[];
}

/** How a transition is taken. */
export type TransitionKind = 'event' | 'after' | 'done' | 'error' | 'always';

/** One transition of the graph; `targets` is empty for a targetless (self, actions-only) one. */
export interface GraphTransition {
  source: string;
  targets: string[];
  kind: TransitionKind;
  /** The XState event type (`approve`, `xstate.after.…`, `xstate.done.actor.…`). */
  event: string;
  /** What to print on the edge: the event, `after 5s`, `done: chargeCard`. */
  label: string;
  /** `after` only: the delay in ms, or the name of a configured delay; `'dynamic'` for a function. */
  delay?: number | string;
  guarded: boolean;
}

/** The graph of one workflow definition (one version). */
export interface DefinitionGraph {
  workflowType: string;
  version: number;
  root: GraphState;
  transitions: GraphTransition[];
}

/** The state value after one commit of a run's history. */
export interface PathStep {
  seq: number;
  at: number;
  value: unknown;
  status: string;
}

/** The reply to `{ runId }`: the run's definition and its path. */
export interface RunPath {
  workflowType: string;
  version: number;
  steps: PathStep[];
}
