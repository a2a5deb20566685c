/**
 * The definitions feed: routers answer `<prefix>.definitions` requests with the statechart graph of
 * every workflow definition they serve, so the console (`squall ui`) draws runs without loading user
 * code. A request with `{ runId }` is answered with the path that run took instead: the state value
 * after each commit of its history, folded through the run's definition (history stores inputs and
 * outcomes, not states; only a router has the machine that turns one into the other).
 *
 * Request/reply rather than a KV bucket or retained stream: the graphs live in the routers' memory
 * and change only when a router restarts with new definitions, so nothing needs storing, a rolling
 * deploy needs no clean-up, and the answer is always what a live router serves.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { AnyStateNode } from 'xstate';
import { decodeBody } from '../../shared/bus/codec.js';
import { decide } from '../../shared/engine/decide.js';
import type { WorkflowDefinition } from '../../shared/engine/definition.js';
import type { WorkflowRegistry } from '../../shared/engine/registry.js';
import { inputFromEvent } from '../../shared/engine/replay.js';
import type { RunState } from '../../shared/engine/types.js';
import { InvalidInputError, NotFoundError, toSquallError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { type Subjects, validateToken } from '../../shared/names.js';
import type { Store } from '../../shared/store/types.js';
import type { DefinitionGraph, GraphState, GraphTransition, InvokeKind, PathStep, RunPath } from '../console/wire.js';

export type { DefinitionGraph, GraphState, GraphTransition, PathStep, RunPath } from '../console/wire.js';

/** Every version of every definition in `registry`, as graphs. */
export function definitionGraphs(registry: WorkflowRegistry): DefinitionGraph[] {
  return registry
    .names()
    .flatMap((name) => registry.versions(name).map((v) => definitionGraph(registry.require(name, v))));
}

/** The graph of one definition: its states (nested, parallel, final) and transitions. */
export function definitionGraph(def: WorkflowDefinition): DefinitionGraph {
  const transitions: GraphTransition[] = [];
  const root = stateOf(def, def.machine.root as AnyStateNode, transitions);
  return { workflowType: def.name, version: def.version, root, transitions };
}

function stateOf(def: WorkflowDefinition, node: AnyStateNode, out: GraphTransition[]): GraphState {
  const invokes = node.invoke.map((inv) => {
    const src = typeof inv.src === 'string' ? inv.src : inv.id;
    const kind: InvokeKind = def.callbacks?.[src] ? 'callback' : def.isWorkflowSrc(src) ? 'child' : 'activity';
    return { id: inv.id, src, kind };
  });
  const srcOf = new Map(invokes.map((i) => [i.id, i.src]));
  const delays = new Map(node.after.map((t) => [t.eventType as string, t.delay]));
  for (const [event, defs] of node.transitions) {
    for (const t of defs) out.push(transitionOf(node, event, t.target, t.guard !== undefined, srcOf, delays));
  }
  for (const t of node.always ?? []) out.push(transitionOf(node, '', t.target, t.guard !== undefined, srcOf, delays));
  const children = Object.values(node.states as Record<string, AnyStateNode>).map((c) => stateOf(def, c, out));
  const initial = node.type === 'compound' ? node.initial.target[0]?.id : undefined;
  return {
    id: node.id,
    key: node.key,
    path: node.path.join('.'),
    type: node.type,
    ...(initial ? { initial } : {}),
    invokes,
    accepts: [...node.transitions.keys()].filter(isSignalType).sort(),
    tags: [...node.tags].sort(),
    children,
  };
}

function transitionOf(
  node: AnyStateNode,
  event: string,
  target: readonly AnyStateNode[] | undefined,
  guarded: boolean,
  srcOf: Map<string, string>,
  delays: Map<string, unknown>,
): GraphTransition {
  const base = { source: node.id, targets: (target ?? []).map((t) => t.id), event, guarded };
  if (event === '') return { ...base, kind: 'always', label: 'always' };
  if (delays.has(event)) {
    const d = delays.get(event);
    const delay = typeof d === 'number' || typeof d === 'string' ? d : 'dynamic';
    return { ...base, kind: 'after', delay, label: `after ${typeof delay === 'number' ? formatDelay(delay) : delay}` };
  }
  const actor = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event);
  if (actor) {
    const kind = actor[1] === 'done' ? 'done' : 'error';
    return { ...base, kind, label: `${kind}: ${srcOf.get(actor[2] ?? '') ?? actor[2]}` };
  }
  if (event.startsWith('xstate.done.state.')) return { ...base, kind: 'done', label: 'done' };
  return { ...base, kind: 'event', label: event };
}

function isSignalType(event: string): boolean {
  return event !== '' && !event.startsWith('xstate.') && event !== '*' && !event.startsWith('squall.');
}

/** `1500` → `1.5s`, `60000` → `1m`, `90000` → `1m 30s`, `250` → `250ms`. */
export function formatDelay(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  const parts: string[] = [];
  let rest = ms;
  for (const [size, unit] of units) {
    if (rest >= size && parts.length < 2) {
      const n = parts.length === 0 && unit === 's' ? rest / size : Math.floor(rest / size);
      parts.push(`${Number.isInteger(n) ? n : n.toFixed(1)}${unit}`);
      rest -= Math.floor(rest / size) * size;
    }
  }
  return parts.join(' ');
}

/** The state value after each commit of `runId`, folded through its definition (no verification). */
export async function runPath(store: Store, registry: WorkflowRegistry, runId: string): Promise<RunPath> {
  let state: RunState | undefined;
  let def: WorkflowDefinition | undefined;
  const steps: PathStep[] = [];
  for await (const c of store.loadHistory(runId)) {
    const first = c.events[0];
    if (!first) break;
    if (!def) {
      if (first.type !== 'RunStarted') break;
      def = registry.require(first.workflowType, first.version);
    }
    const decision = decide(def, state, inputFromEvent(first), { recorded: c.events });
    if (decision.events.length === 0) break;
    state = decision.state;
    const snap = state.snapshot as { value?: unknown } | undefined;
    steps.push({ seq: c.seq, at: c.at, value: snap?.value ?? null, status: state.status });
  }
  if (!def) throw new NotFoundError(`no history for run ${JSON.stringify(runId)}`, { details: { runId } });
  return { workflowType: def.name, version: def.version, steps };
}

/** What serveDefinitions needs from its router. */
export interface DefinitionsFeedOptions {
  nc: NatsConnection;
  subjects: Subjects;
  registry: WorkflowRegistry;
  store: Store;
  reply: (msg: Msg, body: unknown) => void;
  log: Logger;
}

/**
 * Answers `<prefix>.definitions` (queue group of the routers): `{}` → `{ definitions: DefinitionGraph[] }`
 * (computed once: a router's definitions never change while it runs); `{ runId }` → RunPath.
 */
export function serveDefinitions(o: DefinitionsFeedOptions): Subscription {
  let graphs: DefinitionGraph[] | undefined;
  return o.nc.subscribe(o.subjects.definitions(), {
    queue: 'squall-router',
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      Promise.resolve()
        .then(async () => {
          const body = decodeBody(msg.data, msg.headers, msg.subject) ?? {};
          if (typeof body !== 'object' || body === null || Array.isArray(body)) {
            throw new InvalidInputError('definitions: body must be an object');
          }
          const runId = (body as { runId?: unknown }).runId;
          if (runId !== undefined) return runPath(o.store, o.registry, validateToken('runId', runId));
          graphs ??= definitionGraphs(o.registry);
          return { definitions: graphs };
        })
        .then(
          (reply) => o.reply(msg, reply),
          (e: unknown) => {
            const error = toSquallError(e);
            if (error.code !== 'NOT_FOUND' && error.code !== 'INVALID_INPUT')
              o.log.warn('definitions request failed', { err: e });
            o.reply(msg, error);
          },
        );
    },
  });
}
