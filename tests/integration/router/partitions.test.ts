/**
 * Routers share the events partitions: each run's results are decided by the one router holding
 * its partition, so with two routers its appends do not race; a router that leaves hands its
 * partitions over at once, and one that vanishes has them taken once it expires.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceHandle } from '../../../services/common/service.js';
import { startExecutor } from '../../../services/executor/executor.js';
import { joinPartitions } from '../../../services/router/partitions.js';
import { type RouterHandle, startRouter } from '../../../services/router/router.js';
import { encodeBody } from '../../../shared/bus/codec.js';
import { type Bus, connectBus } from '../../../shared/bus/connect.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { createLogger } from '../../../shared/log.js';
import { EVENT_PARTITIONS, subjects } from '../../../shared/names.js';
import { step, stepsWorkflow } from '../../fixtures/steps.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';

const threeSteps = stepsWorkflow(3);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Engine {
  prefix: string;
  client: SquallClient;
  routers: RouterHandle[];
  startRouter(): Promise<RouterHandle>;
}

async function engine(routerCount: number): Promise<Engine> {
  const prefix = freshPrefix();
  const dbName = freshDbName();
  const routers: RouterHandle[] = [];
  const start = async (): Promise<RouterHandle> => {
    const r = await startRouter({
      natsUrl: natsUrl(),
      mongoUrl: mongoUrl(),
      dbName,
      prefix,
      workflows: [threeSteps],
      log: createLogger({ level: 'error' }),
    });
    routers.push(r);
    cleanups.push(() => r.stop());
    return r;
  };
  for (let i = 0; i < routerCount; i++) await start();
  const executor: ServiceHandle = await startExecutor({ natsUrl: natsUrl(), prefix, activities: [step] });
  cleanups.push(() => executor.stop());
  const client = await connect({ servers: natsUrl(), prefix });
  cleanups.push(() => client.close());
  return { prefix, client, routers, startRouter: start };
}

const partitionsOf = (r: RouterHandle): number => Number(r.health().details.partitions);
const racesOf = (r: RouterHandle): number => Number(r.health().details.appendRaces);

async function runAll(client: SquallClient, ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => client.start(threeSteps.name, undefined, { workflowId: id })));
  const results = await Promise.all(ids.map((id) => client.result(id, { timeoutMs: 60_000 })));
  expect(results).toEqual(ids.map(() => ({ ok: true })));
}

/** Joins the routers' membership on `bus` as a bare member (no consumers); how many partitions it holds. */
async function joinAsMember(bus: Bus): Promise<() => number> {
  let owns = 0;
  await joinPartitions({
    bus,
    log: createLogger({ level: 'error' }),
    partitions: EVENT_PARTITIONS,
    onChange: (owned) => {
      owns = owned.size;
    },
  });
  return () => owns;
}

describe('event partitions', () => {
  it('are shared out between two routers, and runs decided there never race', async () => {
    const e = await engine(2);
    const [a, b] = e.routers as [RouterHandle, RouterHandle];
    await waitFor('both routers to hold a share of the partitions', () => {
      const [pa, pb] = [partitionsOf(a), partitionsOf(b)];
      return pa > 0 && pb > 0 && pa + pb === EVENT_PARTITIONS;
    });
    await runAll(
      e.client,
      Array.from({ length: 40 }, (_, i) => `pt-${i}`),
    );
    expect(racesOf(a) + racesOf(b)).toBe(0);
    expect(Number(a.health().details.decided)).toBeGreaterThan(0);
    expect(Number(b.health().details.decided)).toBeGreaterThan(0);
  });

  it('move to the remaining router when one stops, and runs go on', async () => {
    const e = await engine(2);
    const [a, b] = e.routers as [RouterHandle, RouterHandle];
    await waitFor('both routers to hold a share', () => partitionsOf(a) > 0 && partitionsOf(b) > 0);
    await b.stop();
    await waitFor('the remaining router to hold every partition', () => partitionsOf(a) === EVENT_PARTITIONS, {
      timeoutMs: 3_000,
    });
    await runAll(
      e.client,
      Array.from({ length: 10 }, (_, i) => `after-stop-${i}`),
    );
  });

  it('ignore malformed presence messages: no phantom member takes a share', async () => {
    const e = await engine(1);
    const [a] = e.routers as [RouterHandle];
    await waitFor('the lone router to hold every partition', () => partitionsOf(a) === EVENT_PARTITIONS);
    // Sent on the newcomer's own connection before it joins, so the router reads them before it.
    const bus = await connectBus({ servers: natsUrl(), prefix: e.prefix });
    const subject = subjects(e.prefix).routerPresence();
    bus.nc.publish(subject, new Uint8Array([0xc1, 0xff, 0x00])); // not MessagePack
    for (const body of [{ state: 'alive' }, { member: '', state: 'alive' }, { member: 'x', state: 'dancing' }, 42]) {
      bus.nc.publish(subject, encodeBody(body));
    }
    const newcomerOwns = await joinAsMember(bus);
    // Two members only: the router keeps exactly what the newcomer does not hold.
    await waitFor('the router to give the newcomer its share', () => partitionsOf(a) < EVENT_PARTITIONS);
    expect(partitionsOf(a)).toBe(EVENT_PARTITIONS - newcomerOwns());
    await bus.close();
  });

  it('held by a router that vanished without a word are taken once it expires', async () => {
    const e = await engine(1);
    const [a] = e.routers as [RouterHandle];
    await waitFor('the lone router to hold every partition', () => partitionsOf(a) === EVENT_PARTITIONS);
    // A member whose connection just drops (as under SIGKILL): no leave is announced.
    const bus = await connectBus({ servers: natsUrl(), prefix: e.prefix });
    const ghostOwns = await joinAsMember(bus);
    const ghostOwned = ghostOwns();
    expect(ghostOwned).toBeGreaterThan(0);
    await waitFor('the router to give the newcomer its share', () => partitionsOf(a) === EVENT_PARTITIONS - ghostOwned);
    await bus.nc.close();
    await waitFor(
      "the router to take the vanished member's partitions back",
      () => partitionsOf(a) === EVENT_PARTITIONS,
      {
        timeoutMs: 10_000,
      },
    );
    await runAll(e.client, ['after-vanish']);
  });
});
