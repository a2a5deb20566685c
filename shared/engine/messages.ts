/**
 * Messages between runs, the sending side: `sendParent(event)` in a child run, `sendTo(<a child
 * workflow's invoke id or ref>, event)` in its parent, and `sendToWorkflow(workflowId, event)`
 * anywhere become a MessageSent event and a `sendMessage` command; the router publishes it on the
 * target's signal subject, and the target's current run takes it as a SignalReceived with `from`
 * (fold-message.ts). Each message carries `msgSeq`, 1, 2, 3, ... per (sender run, target
 * workflowId), which is what lets the receiver take them once and in order.
 *
 * XState resolves `sendParent` against the actor's parent: a run has no XState parent, so the
 * actor a child run is decided in gets PARENT_REF as its parent, and a send to it is a message.
 */
import {
  type AnyActorRef,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  createActor,
  createMachine,
  type EventObject,
  type ExecutableActionObject,
  emit,
  type MachineContext,
} from 'xstate';
import { ConfigError, InvalidInputError } from '../errors.js';
import type { MessageTarget, SignalEvent } from '../history/events.js';
import { isValidToken } from '../names.js';
import type { ActionTarget } from './action-target.js';
import { RESERVED_EVENT_PREFIXES } from './input.js';

/** Event type of the action sendToWorkflow() produces; actions.ts turns it into a message. */
export const SEND_TO_WORKFLOW_EVENT = 'squall.sendToWorkflow';

/** Id of the stand-in parent a child run's actor gets, so that XState resolves `sendParent`. */
const PARENT_ID = 'squall.parent';

/**
 * The stand-in parent: XState only resolves it as a send target (a transition never starts the
 * actor, so nothing is ever relayed to it); actions.ts turns a send to it into a message.
 */
const PARENT_REF = Object.freeze({ id: PARENT_ID, sessionId: PARENT_ID }) as unknown as AnyActorRef;

/** True when `to` is the stand-in parent of a child run (the target of its `sendParent`). */
export function isParentRef(to: unknown): boolean {
  return to === PARENT_REF;
}

/** Gives the (never started) actor a child run is decided in its stand-in parent. */
export function attachParent(actor: AnyActorRef): void {
  (actor as unknown as { _parent?: AnyActorRef })._parent = PARENT_REF;
}

/** The machine the inert actor of a start is built from (see initialTransitionOf); it runs nothing. */
const EMPTY_MACHINE = createMachine({});

/**
 * XState's `initialTransition`, with the stand-in parent when the run is a child, so that
 * `sendParent` in the entry of its initial state is a message too. Mirrors XState's inert scope
 * (a fresh system, so invokes with a `systemId` meet no one). The inert actor is built from an
 * empty machine, then given `machine` as its logic (a send to it is a send to the machine itself,
 * actions.ts): built from `machine`, it would work out the initial state a first time, without
 * the input, running the context factory and the entry actions for nothing. Returns the actor
 * too: the next decision may transition in it (see keepLive).
 */
export function initialTransitionOf(
  machine: AnyStateMachine,
  input: unknown,
  hasParent: boolean,
): [AnyMachineSnapshot, ExecutableActionObject[], AnyActorRef] {
  const actions: ExecutableActionObject[] = [];
  const self = createActor(EMPTY_MACHINE);
  Object.assign(self, { logic: machine, src: machine });
  if (hasParent) attachParent(self);
  const scope = {
    self,
    defer: () => {},
    id: '',
    logger: () => {},
    sessionId: '',
    stopChild: () => {},
    system: self.system,
    emit: () => {},
    actionExecutor: (action: ExecutableActionObject) => {
      actions.push(action);
    },
  };
  const snapshot = machine.getInitialSnapshot(scope as never, input) as AnyMachineSnapshot;
  return [snapshot, actions, self as unknown as AnyActorRef];
}

/** The workflowId argument of sendToWorkflow(): fixed, or computed from context and event (pure). */
export type WorkflowIdArg<TContext, TEvent> = string | ((args: { context: TContext; event: TEvent }) => string);

/** The event argument of sendToWorkflow(): fixed, or computed from context and event (pure). */
export type MessageArg<TContext, TEvent> = SignalEvent | ((args: { context: TContext; event: TEvent }) => SignalEvent);

/**
 * An action that sends `event` to the current run of workflow `workflowId` (any type, any run,
 * not only a parent or child), as a durable message: recorded as MessageSent here and as a
 * SignalReceived with `from` there, once and in the order this run sent them. A workflowId with no
 * open run when it arrives has the message dead-lettered (`unknown-run`, `closed-run`); this run
 * hears nothing of it.
 */
export function sendToWorkflow<TContext extends MachineContext, TEvent extends EventObject>(
  workflowId: WorkflowIdArg<TContext, TEvent>,
  event: MessageArg<TContext, TEvent>,
) {
  if (typeof workflowId !== 'function' && !isValidToken(workflowId)) {
    throw new InvalidInputError(`sendToWorkflow: ${JSON.stringify(workflowId)} is not a valid workflowId`);
  }
  if (typeof event !== 'function') validateMessageEvent(event, 'sendToWorkflow');
  return emit<TContext, TEvent, undefined, TEvent, SignalEvent>((args): SignalEvent => {
    const to = typeof workflowId === 'function' ? workflowId(args) : workflowId;
    const message = typeof event === 'function' ? event(args) : event;
    return { type: SEND_TO_WORKFLOW_EVENT, workflowId: to, event: message };
  });
}

/**
 * Records a message to `to` and asks the router to deliver it. Throws ConfigError (the run fails
 * with it) when the event or workflowId cannot travel, naming what was wrong.
 */
export function sendMessage(target: ActionTarget, to: MessageTarget, rawEvent: unknown, workflowType: string): void {
  const where = to.kind === 'parent' ? 'sendParent' : to.kind === 'child' ? 'sendTo' : 'sendToWorkflow';
  let event: SignalEvent;
  try {
    event = validateMessageEvent(rawEvent, where);
  } catch (err) {
    throw new ConfigError(`workflow ${workflowType}: ${(err as Error).message}`, {
      cause: err,
      details: { workflowType, target: to.workflowId },
    });
  }
  if (!isValidToken(to.workflowId)) {
    throw new ConfigError(
      `workflow ${workflowType}: ${where} to ${JSON.stringify(to.workflowId)}: not a valid workflowId`,
      {
        details: { workflowType },
      },
    );
  }
  const { state } = target;
  const msgSeq = (state.sent?.[to.workflowId] ?? 0) + 1;
  state.sent = { ...state.sent, [to.workflowId]: msgSeq };
  target.events.push({ type: 'MessageSent', at: target.at, target: { ...to }, event, msgSeq });
  target.commands.push({ kind: 'sendMessage', target: { ...to }, event, msgSeq });
}

/** The target of sendToWorkflow's event (see SEND_TO_WORKFLOW_EVENT), or ConfigError. */
export function workflowTarget(event: SignalEvent, workflowType: string): MessageTarget {
  const { workflowId } = event;
  if (typeof workflowId !== 'string') {
    throw new ConfigError(`workflow ${workflowType}: sendToWorkflow's workflowId function must return a string`, {
      details: { workflowType },
    });
  }
  return { kind: 'workflow', workflowId };
}

/** Returns `event` when it can be a message: an object with a non-empty type the engine does not reserve. */
function validateMessageEvent(event: unknown, where: string): SignalEvent {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new InvalidInputError(`${where}: a message must be an event object { type, ...data }`);
  }
  const type = (event as { type?: unknown }).type;
  if (typeof type !== 'string' || type.length === 0) {
    throw new InvalidInputError(`${where}: a message must have a non-empty string type`);
  }
  const reserved = RESERVED_EVENT_PREFIXES.find((p) => type.startsWith(p));
  if (reserved) {
    throw new InvalidInputError(
      `${where}: message type ${JSON.stringify(type)} is reserved: types starting '${reserved}' are the engine's`,
    );
  }
  return event as SignalEvent;
}
