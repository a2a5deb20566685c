/**
 * Messages between runs end to end, router and timer as processes over real NATS and a real
 * MongoDB-protocol server: a parent and its child play ping-pong (`sendTo` the child,
 * `sendParent` back) for 50 rounds, 100 messages, and finish as the same machines do under plain
 * XState; then again with the router SIGKILLed midway and restarted: every message is recorded
 * once on each side, in the order sent. A burst of 100 `sendToWorkflow` messages in one commit
 * reaches its receiver once and in order across a router SIGKILL too: messages the dead router
 * had taken come back after the consumer's ack wait, behind later ones, and are held until their
 * turn.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import type { SquallClient } from '../../shared/client/index.js';
import type { HistoryEvent, MessageSentEvent, SignalReceivedEvent } from '../../shared/history/events.js';
import { type PingerOutput, pingerMachine, pongerMachine } from '../fixtures/messages/workflows.js';
import { waitFor } from '../harness/index.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { type ServiceEnv, type ServiceProcess, startEngine, startService } from './processes.js';

const WORKFLOWS = 'tests/fixtures/messages/workflows.ts';
const ROUNDS = 50;

let client: SquallClient;
let env: ServiceEnv;
let router: ServiceProcess;

beforeAll(async () => {
  ({ client, env, router } = await startEngine({ workflows: WORKFLOWS }));
});

/** The messages a run took, in history order (held ones where they were finally delivered). */
function taken(events: HistoryEvent[]): SignalReceivedEvent[] {
  return ofType(events, 'SignalReceived').filter((e) => e.from !== undefined && !e.held && !e.ignored);
}

/** Checks one direction of a conversation: every message sent is taken once, in msgSeq order. */
function expectOnceInOrder(sent: MessageSentEvent[], receiver: HistoryEvent[], fromRunId: string): void {
  const got = taken(receiver).filter((e) => e.from?.runId === fromRunId);
  expect(got.map((e) => e.from?.msgSeq)).toEqual(sent.map((e) => e.msgSeq));
  expect(got.map((e) => e.signal)).toEqual(sent.map((e) => e.event));
  expect(sent.map((e) => e.msgSeq)).toEqual(sent.map((_, i) => i + 1));
}

async function checkPingPong(workflowId: string, output: PingerOutput): Promise<void> {
  const plain = createActor(pingerMachine(pongerMachine), { input: { rounds: ROUNDS } }).start();
  expect(plain.getSnapshot().status).toBe('done');
  expect(output).toEqual(plain.getSnapshot().output);
  const numbers = Array.from({ length: ROUNDS }, (_, i) => i + 1);
  expect(output).toEqual({ pongs: numbers, child: { pings: numbers } });

  const parent = await eventsOf(client, workflowId);
  const childId = ofType(parent, 'ChildStarted')[0]?.childWorkflowId as string;
  const child = await eventsOf(client, childId);
  const parentRun = (await client.describe(workflowId)).runId;
  const childRun = (await client.describe(childId)).runId;
  // ROUNDS pings and a stop one way; ready and ROUNDS pongs the other: 2 × ROUNDS + 2 messages.
  const pings = ofType(parent, 'MessageSent');
  const pongs = ofType(child, 'MessageSent');
  expect(pings).toHaveLength(ROUNDS + 1);
  expect(pongs).toHaveLength(ROUNDS + 1);
  expect(pings.every((e) => e.target.kind === 'child' && e.target.workflowId === childId)).toBe(true);
  expect(pongs.every((e) => e.target.kind === 'parent' && e.target.workflowId === workflowId)).toBe(true);
  expectOnceInOrder(pings, child, parentRun);
  expectOnceInOrder(pongs, parent, childRun);
}

describe('messages between runs', () => {
  it(`a parent and its child play ${ROUNDS} rounds of ping-pong and end as under plain XState`, async () => {
    await client.start('pinger', { rounds: ROUNDS }, { workflowId: 'pp-1' });
    const out = await client.result<PingerOutput>('pp-1', { timeoutMs: 60_000 });
    await checkPingPong('pp-1', out);
  }, 90_000);

  it('ping-pong survives a router SIGKILL midway: every message once, in order', async () => {
    await client.start('pinger', { rounds: ROUNDS }, { workflowId: 'pp-kill' });
    let before = 0;
    await waitFor(
      'a fifth of the rounds to be played',
      async () => {
        before = ofType(await eventsOf(client, 'pp-kill'), 'MessageSent').length;
        return before >= ROUNDS / 5;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
    router.kill('SIGKILL');
    await router.exited;
    expect(before).toBeLessThan(ROUNDS);
    router = await startService('router-2', ['router', '--workflows', WORKFLOWS], env);
    // A message the dead router had taken comes back after the consumer's 30 s ack wait.
    const out = await client.result<PingerOutput>('pp-kill', { timeoutMs: 90_000 });
    await checkPingPong('pp-kill', out);
  }, 150_000);

  it('a burst of 100 sendToWorkflow messages in one commit arrives once and in order across a router SIGKILL', async () => {
    await client.start('collector', undefined, { workflowId: 'collect-1' });
    await client.start('burst', { to: 'collect-1', count: 100 }, { workflowId: 'burst-1' });
    await waitFor(
      'the collector to take some of the burst',
      async () => taken(await eventsOf(client, 'collect-1')).length >= 5,
      { timeoutMs: 60_000, intervalMs: 10 },
    );
    router.kill('SIGKILL');
    await router.exited;
    router = await startService('router-3', ['router', '--workflows', WORKFLOWS], env);
    const out = await client.result<{ items: number[] }>('collect-1', { timeoutMs: 90_000 });
    expect(out.items).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const sent = ofType(await eventsOf(client, 'burst-1'), 'MessageSent');
    expect(sent).toHaveLength(101);
    const burstRun = (await client.describe('burst-1')).runId;
    expectOnceInOrder(sent, await eventsOf(client, 'collect-1'), burstRun);
  }, 150_000);
});
