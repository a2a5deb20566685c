/**
 * A child's last messages before its result (issue #16, shared/engine/child-result.ts): the
 * child's messages travel on its parent's signal subject and its result on the child-result
 * subject, so the result can arrive first. It names the child's last message and waits, held,
 * until the parent took it, as XState's parent takes every event its child sent before the
 * child's done event. Every scenario goes over the router's wire (outbox body, inbound parse),
 * in the order given, and ends where createActor does; replay rebuilds each parent.
 */
import { describe, expect, it } from 'vitest';
import { type AnyStateMachine, assign, createActor, SimulatedClock, sendParent, setup } from 'xstate';
import { parseInbound } from '../../../services/router/inputs.js';
import { commitMessages } from '../../../services/router/outbox.js';
import { validateChildResult } from '../../../shared/bus/lifecycle-messages.js';
import {
  type Command,
  type Decision,
  type DecisionInput,
  decide,
  defineWorkflow,
  MAX_SENDERS,
  type RunState,
  replayCommits,
  type WorkflowDefinition,
} from '../../../shared/engine/index.js';
import { InvalidInputError } from '../../../shared/errors.js';
import type { Commit } from '../../../shared/history/events.js';
import { subjects } from '../../../shared/names.js';

const N = 30;
const s = subjects('sq');

/**
 * A child whose final state's entry sends its parent N items; with `fail`, it sends them on its
 * way in and fails in a later step (XState drops the sends of the step that throws).
 */
function burster(fail: boolean): AnyStateMachine {
  const items = Array.from({ length: N }, (_, i) => sendParent({ type: 'item', i: i + 1 }));
  const boom = () => {
    throw new Error('burst failed');
  };
  return setup({}).createMachine({
    id: 'burster',
    initial: 'work',
    states: {
      work: fail ? { entry: items, after: { 10: 'boom' } } : { always: 'done' },
      boom: { entry: boom },
      done: { type: 'final', entry: items },
    },
    output: () => ({ sent: N }),
  });
}

/** A parent that keeps every item its child sends and what the child ended with. */
function collector(child: AnyStateMachine) {
  return setup({
    types: { context: {} as { items: number[]; result?: unknown; error?: string } },
    actors: { burst: child },
  }).createMachine({
    id: 'collector',
    context: { items: [] },
    initial: 'waiting',
    states: {
      waiting: {
        invoke: {
          id: 'kid',
          src: 'burst',
          onDone: { target: 'done', actions: assign({ result: ({ event }) => event.output }) },
          onError: { target: 'failed', actions: assign({ error: () => 'child failed' }) },
        },
        on: { item: { actions: assign({ items: ({ context, event }) => [...context.items, event.i as number] }) } },
      },
      done: { type: 'final' },
      failed: { type: 'final' },
    },
    output: ({ context }) => context,
  });
}

/**
 * Runs the parent and its child run through decide(), the child's messages and result crossing
 * the router's wire, and hands them to the parent in `order` (msgSeqs of messages, 'result').
 */
function scenario(fail: boolean, order: (number | 'result')[]) {
  const parent = defineWorkflow({ name: 'collector', machine: collector(burster(fail)) });
  const childDef = parent.childDefinitions?.[0] as WorkflowDefinition;
  const started = decide(parent, undefined, { kind: 'start', at: 1000, workflowId: 'p', runId: 'p-run' });
  const startChild = started.commands.find((c) => c.kind === 'startChild') as Extract<Command, { kind: 'startChild' }>;
  const ref = { workflowId: 'p', runId: 'p-run', invokeId: startChild.invokeId, childSeq: startChild.childSeq };
  const kid = decide(childDef, undefined, {
    kind: 'start',
    at: 1100,
    workflowId: startChild.childWorkflowId,
    runId: 'kid-run',
    parent: ref,
  });
  // The failing child fails on its timer: the parent gets its result from that decision.
  const timer = kid.commands.find((c) => c.kind === 'scheduleTimer');
  const ended = timer ? decide(childDef, kid.state, { kind: 'timerFired', at: 1200, timerSeq: timer.timerSeq }) : kid;
  const kidCommands = timer ? [...kid.commands, ...ended.commands] : kid.commands;
  // What reaches the parent: the messages on its signal subject, the result on its child subject.
  const toParent = kidCommands.filter((c) => c.kind === 'sendMessage' || c.kind === 'notifyParent');
  const ctx = {
    runId: 'kid-run',
    workflowId: startChild.childWorkflowId,
    workflowType: childDef.name,
    seq: 1,
    at: 1100,
  };
  const wire = commitMessages(s, ctx, toParent).map((m) => parseInbound(s, m.subject, m.body));
  const inputs = new Map<string, DecisionInput>();
  for (const w of wire) {
    if (w.kind !== 'run') continue;
    const d = w.decision;
    const key = d.kind === 'signal' ? String(d.from?.msgSeq) : 'result';
    inputs.set(key, { ...d, at: 2000 } as DecisionInput);
  }
  let state: RunState = started.state;
  const commits: Commit[] = [{ runId: 'p-run', workflowId: 'p', seq: 1, events: started.events }];
  const decisions: Decision[] = [];
  for (const key of order) {
    const d = decide(parent, state, inputs.get(String(key)) as DecisionInput);
    decisions.push(d);
    commits.push({ runId: 'p-run', workflowId: 'p', seq: d.state.lastSeq, events: d.events });
    state = d.state;
  }
  const noStack = (r: RunState) => ({ ...r, error: r.error && { ...r.error, stack: undefined } });
  expect(noStack(replayCommits(parent, commits))).toEqual(noStack(state));
  const clock = new SimulatedClock();
  const plain = createActor(collector(burster(fail)), { clock });
  plain.subscribe({ error: () => {} });
  plain.start();
  clock.increment(10);
  return { kid: ended, state, decisions, plain: plain.getSnapshot() };
}

const inOrder = Array.from({ length: N }, (_, i) => i + 1);

describe("a child's result waits for the messages it sent before it", () => {
  it('the child result names its last message; the wire carries it as lastMsgSeq', () => {
    const { kid } = scenario(false, ['result', ...inOrder]);
    const notify = kid.commands.find((c) => c.kind === 'notifyParent');
    expect(notify).toMatchObject({ status: 'completed', lastMsgSeq: N, output: { sent: N } });
  });

  it('the result first: held until message 30, then taken after it, as under createActor', () => {
    const { state, decisions, plain } = scenario(false, ['result', ...inOrder]);
    const [held, ...rest] = decisions as [Decision, ...Decision[]];
    expect(held.events).toEqual([expect.objectContaining({ type: 'ChildCompleted', held: true })]);
    expect(held.state.heldResults).toHaveLength(1);
    for (const d of rest.slice(0, -1)) expect(d.state.status).toBe('running');
    const last = rest.at(-1) as Decision;
    expect(last.events.slice(0, 2)).toEqual([
      expect.objectContaining({ type: 'SignalReceived', from: expect.objectContaining({ msgSeq: N }) }),
      expect.objectContaining({
        type: 'ChildCompleted',
        lastMessage: { workflowId: 'p-kid-1', runId: 'kid-run', msgSeq: N },
      }),
    ]);
    expect(last.events[1]).not.toHaveProperty('held');
    expect(state.heldResults).toBeUndefined();
    expect(state.status).toBe('completed');
    expect(state.output).toEqual(plain.output);
    expect((state.output as { items: number[] }).items).toEqual(inOrder);
  });

  it('messages reversed after the result: each waits for the one before it, the result for all', () => {
    const { state, decisions, plain } = scenario(false, ['result', ...[...inOrder].reverse()]);
    expect(
      decisions.slice(1, -1).every((d) => d.events[0]?.type === 'SignalReceived' && 'held' in (d.events[0] ?? {})),
    ).toBe(true);
    expect(state.status).toBe('completed');
    expect(state.output).toEqual(plain.output);
  });

  it('the result in the middle: taken with message 30; messages before it as they come', () => {
    const order = [...inOrder.slice(0, 10), 'result' as const, ...inOrder.slice(10)];
    const { state, decisions, plain } = scenario(false, order);
    expect(decisions[10]?.events[0]).toMatchObject({ type: 'ChildCompleted', held: true });
    expect(state.output).toEqual(plain.output);
  });

  it('the result after every message: taken at once, nothing held', () => {
    const { state, decisions, plain } = scenario(false, [...inOrder, 'result']);
    expect(decisions.at(-1)?.events[0]).toMatchObject({ type: 'ChildCompleted' });
    expect(decisions.at(-1)?.events[0]).not.toHaveProperty('held');
    expect(state.output).toEqual(plain.output);
  });

  it("a child failure waits too: the parent takes the child's messages, then its onError", () => {
    const { kid, state, plain } = scenario(true, ['result', ...inOrder]);
    expect(kid.state.status).toBe('failed');
    expect(kid.commands.find((c) => c.kind === 'notifyParent')).toMatchObject({ status: 'failed', lastMsgSeq: N });
    expect(state.status).toBe('completed');
    expect(state.output).toEqual(plain.output);
    expect(state.output).toMatchObject({ items: inOrder, error: 'child failed' });
  });

  it('a result delivered again while held is stale; one without lastMessage is taken as it comes', () => {
    const parent = defineWorkflow({ name: 'collector', machine: collector(burster(false)) });
    const started = decide(parent, undefined, { kind: 'start', at: 1000, workflowId: 'p', runId: 'p-run' });
    const lastMessage = { workflowId: 'p-kid-1', runId: 'kid-run', msgSeq: 2 };
    const result: DecisionInput = { kind: 'childCompleted', at: 2000, childSeq: 1, output: 'x', lastMessage };
    const held = decide(parent, started.state, result);
    const again = decide(parent, held.state, result);
    expect(again.events).toEqual([expect.objectContaining({ type: 'ChildCompleted', ignored: 'stale' })]);
    expect(again.state.heldResults).toHaveLength(1);
    // Recorded before results named their last message: taken at once, as it ran.
    const old = decide(parent, started.state, { kind: 'childCompleted', at: 2000, childSeq: 1, output: 'x' });
    expect(old.state.status).toBe('completed');
  });

  it('a child run whose result is held is not forgotten among MAX_SENDERS other senders', () => {
    const parent = defineWorkflow({ name: 'collector', machine: collector(burster(false)) });
    let { state } = decide(parent, undefined, { kind: 'start', at: 1000, workflowId: 'p', runId: 'p-run' });
    const kid = { workflowId: 'p-kid-1', runId: 'kid-run' };
    const item = (n: number): DecisionInput => ({
      kind: 'signal',
      at: 2000,
      event: { type: 'item', i: n },
      from: { ...kid, msgSeq: n },
    });
    const inputs: DecisionInput[] = [
      { kind: 'childCompleted', at: 2000, childSeq: 1, output: 'x', lastMessage: { ...kid, msgSeq: 2 } },
      item(1),
      ...Array.from(
        { length: MAX_SENDERS },
        (_, i): DecisionInput => ({
          kind: 'signal',
          at: 2000,
          event: { type: 'noise' },
          from: { workflowId: `other-${i}`, runId: `other-run-${i}`, msgSeq: 1 },
        }),
      ),
      item(2),
    ];
    for (const input of inputs) state = decide(parent, state, input).state;
    expect(state.status).toBe('completed');
    expect(state.output).toMatchObject({ items: [1, 2], result: 'x' });
  });

  it('refuses a bad lastMessage or lastMsgSeq, naming the field', () => {
    const parent = defineWorkflow({ name: 'collector', machine: collector(burster(false)) });
    const started = decide(parent, undefined, { kind: 'start', at: 1000, workflowId: 'p', runId: 'p-run' });
    const bad = {
      kind: 'childCompleted',
      at: 2000,
      childSeq: 1,
      lastMessage: { workflowId: 'k', runId: 'r', msgSeq: 0 },
    };
    expect(() => decide(parent, started.state, bad as DecisionInput)).toThrow(InvalidInputError);
    expect(() => decide(parent, started.state, bad as DecisionInput)).toThrow(
      /lastMessage input: msgSeq must be a positive integer/,
    );
    const body = {
      runId: 'p-run',
      workflowId: 'p',
      childSeq: 1,
      childWorkflowId: 'k',
      childRunId: 'kr',
      status: 'completed',
    };
    expect(() => validateChildResult({ ...body, lastMsgSeq: 'many' })).toThrow(
      /field 'lastMsgSeq' must be a positive integer/,
    );
    expect(validateChildResult({ ...body, lastMsgSeq: 3 }).lastMsgSeq).toBe(3);
  });
});
