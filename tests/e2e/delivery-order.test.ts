/**
 * Issue #16's determinism guard under load: RUNS runs started at once through two router and two
 * timer processes (a run's inputs reach either router through the shared inbox, and its timers of
 * one instant may be claimed by either timer service), each arming six timers in its first step
 * (four due at the same instant, two armed in the reverse of their due order), taking four
 * messages its machine child sends in one step, and three signals the test sends one after another.
 * Whatever order firings and messages reach the busy routers in, every run takes its timers by due
 * time then schedule order and its child's messages in the order sent (its child's done event
 * after them), as the same machine does under plain XState, and its signals in the order sent (each
 * sent after the previous one's reply, which comes once it is in the run's history, whichever
 * router took it). Prints one JSON line on stderr saying how often the load reordered arrivals.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import type { SquallClient } from '../../shared/client/index.js';
import { type Delivered, ITEMS, probeMachine, SIGNALS, TICKS } from '../fixtures/delivery-order/workflows.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { startEngine, startService } from './processes.js';

const RUNS = 80;
/** Histories read to count reordered arrivals. */
const SAMPLED = 30;
const WORKFLOWS = 'tests/fixtures/delivery-order/workflows.ts';

let client: SquallClient;

beforeAll(async () => {
  const engine = await startEngine({ workflows: WORKFLOWS });
  client = engine.client;
  await Promise.all([
    startService('router-2', ['router', '--workflows', WORKFLOWS], engine.env),
    startService('timer-2', ['timer'], engine.env),
  ]);
});

/** What plain XState's run of the probe takes, its clock moved past every timer, signals sent in order. */
function plainDelivered(): Delivered {
  const clock = new SimulatedClock();
  const actor = createActor(probeMachine, { clock }).start();
  clock.increment(1_000);
  for (let n = 1; n <= SIGNALS; n++) actor.send({ type: 'sig', n });
  expect(actor.getSnapshot().status).toBe('done');
  return actor.getSnapshot().output as Delivered;
}

describe('delivery order under load', () => {
  it(`${RUNS} runs each take their same-instant timers and their child's messages in the documented order`, async () => {
    const expected = plainDelivered();
    const numbers = (k: number) => Array.from({ length: k }, (_, i) => i + 1);
    expect(expected).toEqual({
      ticks: numbers(TICKS),
      items: numbers(ITEMS),
      signals: numbers(SIGNALS),
      childDone: true,
    });

    const ids = Array.from({ length: RUNS }, (_, i) => `probe-${i}`);
    // All at once: each run's signals go out together, in order, as soon as its start is accepted.
    await Promise.all(
      ids.map(async (id) => {
        await client.start('probe', undefined, { workflowId: id });
        for (const n of numbers(SIGNALS)) await client.signal(id, { type: 'sig', n });
      }),
    );
    const outputs = await Promise.all(ids.map((id) => client.result<Delivered>(id, { timeoutMs: 60_000 })));
    const wrong = outputs
      .map((out, i) => ({ id: ids[i], out }))
      .filter(({ out }) => JSON.stringify(out) !== JSON.stringify(expected));
    expect(wrong.slice(0, 5)).toEqual([]);

    // How often the load reordered arrivals: a firing that fired earlier timers with it, a message held.
    let firedEarlier = 0;
    let held = 0;
    for (const id of ids.slice(0, SAMPLED)) {
      const events = await eventsOf(client, id);
      const fired = ofType(events, 'TimerFired').length;
      const inputsFired = (await client.history(id)).commits.filter((c) => c.events[0]?.type === 'TimerFired').length;
      if (fired > inputsFired) firedEarlier++;
      if (ofType(events, 'SignalReceived').some((e) => e.held)) held++;
    }
    process.stderr.write(
      `${JSON.stringify({ deliveryOrder: { runs: RUNS, sampled: SAMPLED, firedEarlier, held } })}\n`,
    );
  }, 90_000);
});
