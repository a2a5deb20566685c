/**
 * Taking a signal (takeSignal), and messages between runs, the receiving side: a signal with `from` (see messages.ts for the
 * sending side). A run remembers, per sender run, the last msgSeq it took (RunState.received):
 *
 * - a message at or below it is a redelivery (a router died before acking it, a sweep published
 *   it again past JetStream's duplicate window): recorded `ignored: 'stale'`, nothing else;
 * - the next one is taken as a signal, then any held messages that now follow, in order;
 * - one further on arrived ahead of an earlier one (the inbox is shared by every router, and a
 *   message whose decision failed or whose router died is redelivered after later ones): it is
 *   recorded `held` and waits in RunState.held, unseen by the machine, until its turn.
 *
 * A sender never heard from is taken as it comes (its earlier messages may have gone to an
 * earlier run of this workflowId), except the parent of a child's first run and a child run of
 * this run: all their messages come to this run, so they are held until the first one is in; so
 * are a child run's, once its result arrived ahead of its last message. That result is delivered in the commit that takes
 * that message (child-result.ts).
 */
import type { MessageFrom } from '../history/events.js';
import { releaseChildResults } from './child-result.js';
import { accepts, type Draft, finish, ignore, seesUnhandled, settle, step } from './draft.js';
import { inputEvent } from './input.js';
import { CHILD_MESSAGE_ORDER_ENGINE, type Decision, type DecisionInput, type RunState } from './types.js';

/** Senders a run remembers the last msgSeq of; the one heard from least recently is forgotten first. */
export const MAX_SENDERS = 256;

type SignalInput = Extract<DecisionInput, { kind: 'signal' }>;
type MessageInput = SignalInput & { from: MessageFrom };

/** Folds a message into draft `d` of an open run (see the module comment) and closes the decision. */
export function foldMessage(d: Draft, input: MessageInput): Decision {
  const { from } = input;
  const { state } = d;
  const last = state.received?.[from.runId];
  const alreadyHeld = state.held?.some((h) => h.from.runId === from.runId && h.from.msgSeq === from.msgSeq);
  if ((last !== undefined && from.msgSeq <= last) || alreadyHeld) return ignore(d, input, 'stale');
  if (waitsForEarlier(state, from, last)) {
    d.events.push(inputEvent(input, d.definition.name, d.definition.version, { held: true }));
    state.held = [...(state.held ?? []), { from: { ...from }, event: input.event, at: input.at }];
    return finish(d);
  }
  deliver(d, input);
  // The messages it was holding up, in their sender's order.
  while (state.status === 'running') {
    const next = (state.received?.[from.runId] ?? 0) + 1;
    const held = state.held?.find((h) => h.from.runId === from.runId && h.from.msgSeq === next);
    if (!held) break;
    state.held = state.held?.filter((h) => h !== held);
    if (state.held?.length === 0) delete state.held;
    deliver(d, { kind: 'signal', at: d.at, event: held.event, from: held.from });
  }
  // A child's result that waited for this sender's last message (child-result.ts).
  releaseChildResults(d, from.runId);
  settle(d);
  return finish(d);
}

/** Whether an open child's messages wait for its earlier ones (CHILD_MESSAGE_ORDER_ENGINE on). */
function childOrderEngine(state: RunState): boolean {
  return (state.engine ?? 1) >= CHILD_MESSAGE_ORDER_ENGINE;
}

function waitsForEarlier(state: RunState, from: MessageFrom, last: number | undefined): boolean {
  if (from.msgSeq === (last ?? 0) + 1) return false;
  if (last !== undefined) return true;
  if (state.parent?.runId === from.runId && state.continuedFrom === undefined) return true;
  // A child run this run started (any run of it, after continue-as-new too) sends it all its messages.
  if (childOrderEngine(state) && Object.values(state.children).some((c) => c.childWorkflowId === from.workflowId)) {
    return true;
  }
  // A child run whose result is held sent all its messages to this run.
  return state.heldResults?.some((h) => h.lastMessage.runId === from.runId) ?? false;
}

/** Takes a message as a signal and remembers it as its sender's latest. */
function deliver(d: Draft, input: MessageInput): void {
  const received = { ...d.state.received };
  // Re-inserted last: the object's key order is the senders' order of last delivery.
  delete received[input.from.runId];
  received[input.from.runId] = input.from.msgSeq;
  // A child run whose result waits for its messages is never forgotten (its result would wait forever).
  const senders = Object.keys(received).filter((s) => !d.state.heldResults?.some((h) => h.lastMessage.runId === s));
  for (const sender of senders.slice(0, Math.max(0, senders.length - MAX_SENDERS))) delete received[sender];
  d.state.received = received;
  takeSignal(d, input);
  settle(d);
}

/**
 * Records `input` (at the end of the commit so far) and feeds its event to the machine, or keeps
 * it in the mailbox when its type is deferred and the state cannot take it yet.
 */
export function takeSignal(d: Draft, input: SignalInput): void {
  const record_ = (marks: { ignored?: 'unhandled'; deferred?: boolean } = {}): void => {
    d.events.push(inputEvent(input, d.definition.name, d.definition.version, marks));
  };
  const before = d.events.length;
  const accepted = accepts(d, input.event);
  if (accepted === 'failed') {
    // A guard threw and failed the run: the input that led there comes before the run's end.
    d.events.splice(before, 0, inputEvent(input, d.definition.name, d.definition.version));
    return;
  }
  if (!accepted) {
    if (!d.definition.deferred.includes(input.event.type)) {
      record_({ ignored: 'unhandled' });
      if (seesUnhandled(d)) step(d, input.event);
      return;
    }
    record_({ deferred: true });
    d.state.mailbox.push(input.event);
    return;
  }
  record_();
  step(d, input.event);
}
