/**
 * State machines in `setup({ actors })` as durable child runs, end to end over real NATS and a
 * real MongoDB-protocol server with router and timer as processes. The router is given only the
 * parents' module: the child types (`waiter-replier`, `mpinger-ponger`) come with their parents.
 * `waiter`'s child waits for a durable timer and a message from its parent and answers with
 * sendParent; `mpinger` plays 50 rounds of ping-pong (102 messages) with its machine child while
 * the router is SIGKILLed midway, and every message is taken once, in the order sent.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { SquallClient } from '../../shared/client/index.js';
import type { WaiterOutput } from '../fixtures/machine-children/workflows.js';
import type { PingerOutput } from '../fixtures/messages/workflows.js';
import { waitFor } from '../harness/index.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { expectOnceInOrder, expectPingPong } from './messages-helpers.js';
import { killRouterMidway, type ServiceEnv, type ServiceProcess, startEngine } from './processes.js';

const WORKFLOWS = 'tests/fixtures/machine-children/workflows.ts';
const ROUNDS = 50;

let client: SquallClient;
let env: ServiceEnv;
let router: ServiceProcess;

beforeAll(async () => {
  ({ client, env, router } = await startEngine({ workflows: WORKFLOWS }));
});

describe('machine children', () => {
  it('a machine child waits for a timer and its parent message, replies with sendParent, and ends', async () => {
    await client.start('waiter', { name: 'Ada' }, { workflowId: 'wait-1' });
    await waitFor(
      'the child run to start',
      async () => ofType(await eventsOf(client, 'wait-1'), 'ChildStarted').length === 1,
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    await client.signal('wait-1', { type: 'go', word: 'hello' });
    const out = await client.result<WaiterOutput>('wait-1', { timeoutMs: 60_000 });
    expect(out).toEqual({ reply: 'hello, Ada', child: { word: 'hello' } });

    const parent = await eventsOf(client, 'wait-1');
    const [started] = ofType(parent, 'ChildStarted');
    expect(started).toMatchObject({ workflowType: 'waiter-replier', invokeId: 'helper', input: { name: 'Ada' } });
    const childId = started?.childWorkflowId as string;
    const child = await eventsOf(client, childId);
    expect(ofType(child, 'RunStarted')[0]).toMatchObject({ workflowType: 'waiter-replier', version: 1 });
    expect(ofType(child, 'TimerFired')).toHaveLength(1);
    const parentRun = (await client.describe('wait-1')).runId;
    const childRun = (await client.describe(childId)).runId;
    expect((await client.describe(childId)).status).toBe('completed');
    // word then bye one way, reply the other: each once, in order.
    const toChild = ofType(parent, 'MessageSent');
    expect(toChild.map((e) => e.event.type)).toEqual(['word', 'bye']);
    expectOnceInOrder(toChild, child, parentRun);
    const toParent = ofType(child, 'MessageSent');
    expect(toParent.map((e) => [e.target.kind, e.event])).toEqual([['parent', { type: 'reply', text: 'hello, Ada' }]]);
    expectOnceInOrder(toParent, parent, childRun);
  }, 90_000);

  it(`ping-pong of ${2 * ROUNDS + 2} messages with a machine child survives a router SIGKILL: once, in order`, async () => {
    await client.start('mpinger', { rounds: ROUNDS }, { workflowId: 'mpp-kill' });
    let before = 0;
    router = await killRouterMidway(router, {
      what: 'a fifth of the rounds to be played',
      midway: async () => {
        before = ofType(await eventsOf(client, 'mpp-kill'), 'MessageSent').length;
        return before >= ROUNDS / 5;
      },
      name: 'router-2',
      workflows: WORKFLOWS,
      env,
    });
    expect(before).toBeLessThan(ROUNDS);
    // A message the dead router had taken comes back after the consumer's 30 s ack wait.
    const out = await client.result<PingerOutput>('mpp-kill', { timeoutMs: 90_000 });
    const { parent } = await expectPingPong(client, 'mpp-kill', out, ROUNDS);
    expect(ofType(parent, 'ChildStarted')[0]?.workflowType).toBe('mpinger-ponger');
  }, 150_000);
});
