/**
 * Messages between runs in the pure core (shared/engine/messages.ts, fold-message.ts): each way of
 * sending becomes a MessageSent event and a sendMessage command; the receiver takes a sender's
 * messages once and in msgSeq order (holding early ones); replay verifies what was sent; the
 * router's wire (outbox body, inbound parse) round-trips a message; the test kit delivers them.
 */
import { describe, expect, it } from 'vitest';
import { createActor, sendParent, sendTo, setup } from 'xstate';
import { parseInbound } from '../../../services/router/inputs.js';
import { commitMessages } from '../../../services/router/outbox.js';
import {
  childWorkflow,
  type Decision,
  type DecisionInput,
  decide,
  defineWorkflow,
  type RunState,
  replayCommits,
  sendToWorkflow,
  type WorkflowDefinition,
} from '../../../shared/engine/index.js';
import { InvalidInputError, NondeterminismError } from '../../../shared/errors.js';
import type { Commit, MessageFrom, SignalEvent } from '../../../shared/history/events.js';
import { subjects } from '../../../shared/names.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { burst, collector, pinger, pingerMachine, ponger, pongerMachine } from '../../fixtures/messages/workflows.js';

/** Folds inputs into one run, keeping its commits; replay must rebuild the same state. */
function drive(def: WorkflowDefinition, inputs: DecisionInput[]) {
  let state: RunState | undefined;
  const commits: Commit[] = [];
  const decisions: Decision[] = [];
  for (const input of inputs) {
    const d = decide(def, state, input);
    decisions.push(d);
    if (d.events.length > 0) commits.push({ runId: 'r1', workflowId: 'w1', seq: d.state.lastSeq, events: d.events });
    state = d.state;
  }
  const final = state as RunState;
  // A failure's stack names the call path (decide or replay): the rest must match.
  const noStack = (s: RunState) => ({ ...s, error: s.error && { ...s.error, stack: undefined } });
  expect(noStack(replayCommits(def, commits))).toEqual(noStack(final));
  return { state: final, decisions, commits, last: decisions.at(-1) as Decision };
}

const start = (extra: Partial<Extract<DecisionInput, { kind: 'start' }>> = {}): DecisionInput => ({
  kind: 'start',
  at: 1000,
  workflowId: 'w1',
  runId: 'r1',
  ...extra,
});
const parentRef = { workflowId: 'boss', runId: 'boss-run', invokeId: 'kid', childSeq: 1 };
const message = (event: SignalEvent, from: MessageFrom, at = 2000): DecisionInput => ({
  kind: 'signal',
  at,
  event,
  from,
});

describe('sending', () => {
  it('sendParent in a child run, also in its initial entry, records MessageSent and a sendMessage command', () => {
    const { decisions } = drive(ponger, [
      start({ parent: parentRef }),
      message({ type: 'ping', n: 1 }, { workflowId: 'boss', runId: 'boss-run', msgSeq: 1 }),
    ]);
    const [first, second] = decisions as [Decision, Decision];
    expect(first.events[1]).toEqual({
      type: 'MessageSent',
      at: 1000,
      target: { kind: 'parent', workflowId: 'boss' },
      event: { type: 'ready' },
      msgSeq: 1,
    });
    expect(first.commands).toEqual([
      { kind: 'sendMessage', target: { kind: 'parent', workflowId: 'boss' }, event: { type: 'ready' }, msgSeq: 1 },
    ]);
    expect(second.events.map((e) => e.type)).toEqual(['SignalReceived', 'MessageSent']);
    expect(second.events[0]).toMatchObject({ from: { workflowId: 'boss', runId: 'boss-run', msgSeq: 1 } });
    expect(second.commands[0]).toMatchObject({ kind: 'sendMessage', event: { type: 'pong', n: 1 }, msgSeq: 2 });
  });

  it('sendTo a child workflow invoke messages that child run; a send to a child already finished is dropped', () => {
    const { decisions } = drive(pinger, [
      start({ input: { rounds: 2 } }),
      message({ type: 'ready' }, { workflowId: 'w1-ponger-1', runId: 'kid-run', msgSeq: 1 }),
    ]);
    const ready = decisions[1] as Decision;
    expect(ready.commands).toEqual([
      {
        kind: 'sendMessage',
        target: { kind: 'child', workflowId: 'w1-ponger-1', invokeId: 'ponger' },
        event: { type: 'ping', n: 1 },
        msgSeq: 1,
      },
    ]);

    const machine = setup({ actors: { kid: childWorkflow() } }).createMachine({
      initial: 'a',
      states: { a: { invoke: { id: 'kid', src: 'kid' }, on: { poke: { actions: sendTo('kid', { type: 'hey' }) } } } },
    });
    const def = defineWorkflow({ name: 'poker', machine });
    const after = drive(def, [
      start(),
      { kind: 'childCompleted', at: 1500, childSeq: 1 },
      { kind: 'signal', at: 2000, event: { type: 'poke' } },
    ]);
    // The invoke's state is still active (no onDone), but the child run is over: XState drops such sends too.
    expect(after.last.commands).toEqual([]);
    expect(after.state.status).toBe('running');
  });

  it('refuses a delayed send to another run, failing the run with CONFIG', () => {
    const machine = setup({ actors: { kid: childWorkflow() } }).createMachine({
      initial: 'a',
      states: {
        a: {
          invoke: { id: 'kid', src: 'kid' },
          on: { poke: { actions: sendTo('kid', { type: 'hey' }, { delay: 10 }) } },
        },
      },
    });
    const { state } = drive(defineWorkflow({ name: 'late', machine }), [
      start(),
      { kind: 'signal', at: 2, event: { type: 'poke' } },
    ]);
    expect(state.status).toBe('failed');
    expect(state.error).toMatchObject({ code: 'CONFIG' });
    expect(state.error?.message).toMatch(/a delayed send to another run is not supported/);
  });

  it('sendToWorkflow sends to a fixed or computed workflowId, msgSeq counted per target', () => {
    const machine = setup({
      types: { context: {} as { peer: string }, events: {} as { type: 'go'; to: string } },
    }).createMachine({
      context: { peer: 'fixed-peer' },
      on: {
        go: {
          actions: [
            sendToWorkflow('fixed-peer', { type: 'hello' }),
            sendToWorkflow(
              ({ event }) => event.to,
              ({ context }) => ({ type: 'hi', from: context.peer }),
            ),
            sendToWorkflow('fixed-peer', { type: 'again' }),
          ],
        },
      },
    });
    const { last } = drive(defineWorkflow({ name: 'talker', machine }), [
      start(),
      { kind: 'signal', at: 5, event: { type: 'go', to: 'other' } },
    ]);
    expect(last.commands.map((c) => (c.kind === 'sendMessage' ? [c.target, c.event.type, c.msgSeq] : c.kind))).toEqual([
      [{ kind: 'workflow', workflowId: 'fixed-peer' }, 'hello', 1],
      [{ kind: 'workflow', workflowId: 'other' }, 'hi', 1],
      [{ kind: 'workflow', workflowId: 'fixed-peer' }, 'again', 2],
    ]);
  });

  it('refuses what cannot travel: a bad workflowId or a reserved type when defined, a computed bad one when run', () => {
    expect(() => sendToWorkflow('a.b', { type: 'x' })).toThrow(InvalidInputError);
    expect(() => sendToWorkflow('ok', { type: 'xstate.init' })).toThrow(/reserved/);
    const machine = setup({}).createMachine({ entry: sendToWorkflow(() => 'bad id', { type: 'x' }) });
    const { state } = drive(defineWorkflow({ name: 'badid', machine }), [start()]);
    expect(state.status).toBe('failed');
    expect(state.error?.message).toMatch(/sendToWorkflow to "bad id": not a valid workflowId/);
  });
});

describe('receiving: once and in order per sender', () => {
  const from = (msgSeq: number, runId = 'sender-run'): MessageFrom => ({ workflowId: 'sender', runId, msgSeq });
  const item = (n: number) => ({ type: 'item', n });
  const items = (s: RunState) => (s.snapshot as { context: { items: number[] } }).context.items;

  it('takes messages in order; a redelivered one is recorded ignored stale and changes nothing', () => {
    const { state, last } = drive(collector, [
      start(),
      message(item(1), from(1)),
      message(item(2), from(2)),
      message(item(1), from(1)),
    ]);
    expect(items(state)).toEqual([1, 2]);
    expect(last.events).toEqual([
      { type: 'SignalReceived', at: 2000, signal: item(1), from: from(1), ignored: 'stale' },
    ]);
    expect(state.received).toEqual({ 'sender-run': 2 });
  });

  it('holds a message that overtook an earlier one, and delivers both in order when the earlier one comes', () => {
    const { state, decisions } = drive(collector, [
      start(),
      message(item(1), from(1)),
      message(item(3), from(3)),
      message(item(4), from(4)),
      message(item(3), from(3)),
      message(item(2), from(2)),
    ]);
    expect(decisions[2]?.events).toEqual([
      { type: 'SignalReceived', at: 2000, signal: item(3), from: from(3), held: true },
    ]);
    expect(decisions[4]?.events[0]).toMatchObject({ ignored: 'stale' });
    expect(decisions[5]?.events.map((e) => (e.type === 'SignalReceived' ? e.from?.msgSeq : e.type))).toEqual([2, 3, 4]);
    expect(items(state)).toEqual([1, 2, 3, 4]);
    expect(state.held).toBeUndefined();
  });

  it('takes a first message from an unknown sender as it comes, but holds a first-run child’s parent until its first', () => {
    const stranger = drive(collector, [start(), message(item(5), from(5))]);
    expect(items(stranger.state)).toEqual([5]);

    const child = drive(ponger, [
      start({ parent: parentRef }),
      message({ type: 'ping', n: 2 }, { workflowId: 'boss', runId: 'boss-run', msgSeq: 2 }),
      message({ type: 'ping', n: 1 }, { workflowId: 'boss', runId: 'boss-run', msgSeq: 1 }),
    ]);
    expect(child.decisions[1]?.events[0]).toMatchObject({ held: true });
    expect((child.state.snapshot as { context: { pings: number[] } }).context.pings).toEqual([1, 2]);
  });

  it('keeps senders apart: each sender’s order is its own', () => {
    const { state } = drive(collector, [
      start(),
      message(item(1), from(1, 'a')),
      message(item(10), from(1, 'b')),
      message(item(3), from(3, 'a')),
      message(item(20), from(2, 'b')),
      message(item(2), from(2, 'a')),
    ]);
    expect(items(state)).toEqual([1, 10, 20, 2, 3]);
  });
});

describe('replay and the wire', () => {
  it('replay verifies messages sent: a definition that sends something else diverges', () => {
    const { commits } = drive(ponger, [start({ parent: parentRef })]);
    const changed = defineWorkflow({
      name: 'ponger',
      machine: setup({}).createMachine({ initial: 'a', states: { a: { entry: sendParent({ type: 'steady' }) } } }),
    });
    expect(() => replayCommits(changed, commits)).toThrow(NondeterminismError);
    expect(() => replayCommits(changed, commits)).toThrow(/MessageSent/);
  });

  it('the outbox publishes a message on the target signal subject, and the router parses it back', () => {
    const s = subjects('sq');
    const cmd = {
      kind: 'sendMessage',
      target: { kind: 'workflow', workflowId: 'peer' },
      event: { type: 'hello', x: 1 },
      msgSeq: 4,
    } as const;
    const ctx = { runId: 'r1', workflowId: 'w1', workflowType: 't', seq: 7, at: 0 };
    const [out] = commitMessages(s, ctx, [cmd]);
    expect(out).toEqual({
      subject: s.signal('peer'),
      msgId: 'r1:7:0',
      inbox: true,
      body: {
        type: 'squall.message',
        from: { workflowId: 'w1', runId: 'r1', msgSeq: 4 },
        event: { type: 'hello', x: 1 },
      },
    });
    expect(parseInbound(s, out?.subject as string, out?.body)).toEqual({
      kind: 'run',
      workflowId: 'peer',
      decision: { kind: 'signal', event: { type: 'hello', x: 1 }, from: { workflowId: 'w1', runId: 'r1', msgSeq: 4 } },
    });
    const bad = [
      [{ type: 'squall.message', from: { workflowId: 'w1', runId: 'r1', msgSeq: 0 }, event: { type: 'a' } }, /msgSeq/],
      [
        { type: 'squall.message', from: { workflowId: 'w1', runId: 'r1', msgSeq: 1 }, event: { type: 'squall.x' } },
        /reserved/,
      ],
      [{ type: 'squall.message', event: { type: 'a' } }, /message.from/],
    ] as const;
    for (const [body, why] of bad) expect(() => parseInbound(s, s.signal('peer'), body)).toThrow(why);
  });
});

describe('the test kit delivers messages between the runs it drives', () => {
  it('plays ping-pong to the same end as plain XState, and replays both runs', async () => {
    const run = await createTestRun(pinger, { input: { rounds: 10 }, workflows: [ponger], workflowId: 'pp' });
    const plain = createActor(pingerMachine(pongerMachine), { input: { rounds: 10 } }).start();
    expect(run.status).toBe('completed');
    expect(run.output).toEqual(plain.getSnapshot().output);
    const child = run.runOf('pp-ponger-1');
    expect(child?.status).toBe('completed');
    expect(run.messagesSent.map((m) => m.msgSeq)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(run.replay()).toEqual(run.state);
    expect(child?.replay()).toEqual(child?.state);
  });

  it('keeps a message to a workflowId it does not run in undelivered; receive() delivers one by hand', async () => {
    const sender = await createTestRun(burst, { input: { to: 'nobody', count: 2 } });
    expect(sender.undelivered.map((m) => [m.to, m.event.type, m.from.msgSeq, m.reason])).toEqual([
      ['nobody', 'item', 1, 'unknown-run'],
      ['nobody', 'item', 2, 'unknown-run'],
      ['nobody', 'end', 3, 'unknown-run'],
    ]);
    const box = await createTestRun(collector);
    await box.receive({ type: 'item', n: 2 }, { workflowId: 'x', runId: 'x-run', msgSeq: 1 });
    expect(box.context).toEqual({ items: [2] });
  });
});
