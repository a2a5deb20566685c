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
import type { SquallClient } from '../../shared/client/index.js';
import type { PingerOutput } from '../fixtures/messages/workflows.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { expectOnceInOrder, expectPingPong, taken } from './messages-helpers.js';
import { killRouterMidway, type ServiceEnv, type ServiceProcess, startEngine } from './processes.js';

const WORKFLOWS = 'tests/fixtures/messages/workflows.ts';
const ROUNDS = 50;

let client: SquallClient;
let env: ServiceEnv;
let router: ServiceProcess;

beforeAll(async () => {
  ({ client, env, router } = await startEngine({ workflows: WORKFLOWS }));
});

describe('messages between runs', () => {
  it(`a parent and its child play ${ROUNDS} rounds of ping-pong and end as under plain XState`, async () => {
    await client.start('pinger', { rounds: ROUNDS }, { workflowId: 'pp-1' });
    const out = await client.result<PingerOutput>('pp-1', { timeoutMs: 60_000 });
    await expectPingPong(client, 'pp-1', out, ROUNDS);
  }, 90_000);

  it('ping-pong survives a router SIGKILL midway: every message once, in order', async () => {
    await client.start('pinger', { rounds: ROUNDS }, { workflowId: 'pp-kill' });
    let before = 0;
    router = await killRouterMidway(router, {
      what: 'a fifth of the rounds to be played',
      midway: async () => {
        before = ofType(await eventsOf(client, 'pp-kill'), 'MessageSent').length;
        return before >= ROUNDS / 5;
      },
      name: 'router-2',
      workflows: WORKFLOWS,
      env,
    });
    expect(before).toBeLessThan(ROUNDS);
    // A message the dead router had taken comes back after the consumer's 30 s ack wait.
    const out = await client.result<PingerOutput>('pp-kill', { timeoutMs: 90_000 });
    await expectPingPong(client, 'pp-kill', out, ROUNDS);
  }, 150_000);

  it('a burst of 100 sendToWorkflow messages in one commit arrives once and in order across a router SIGKILL', async () => {
    await client.start('collector', undefined, { workflowId: 'collect-1' });
    await client.start('burst', { to: 'collect-1', count: 100 }, { workflowId: 'burst-1' });
    router = await killRouterMidway(router, {
      what: 'the collector to take some of the burst',
      midway: async () => taken(await eventsOf(client, 'collect-1')).length >= 5,
      intervalMs: 10,
      name: 'router-3',
      workflows: WORKFLOWS,
      env,
    });
    const out = await client.result<{ items: number[] }>('collect-1', { timeoutMs: 90_000 });
    expect(out.items).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const sent = ofType(await eventsOf(client, 'burst-1'), 'MessageSent');
    expect(sent).toHaveLength(101);
    const burstRun = (await client.describe('burst-1')).runId;
    expectOnceInOrder(sent, await eventsOf(client, 'collect-1'), burstRun);
  }, 150_000);
});
