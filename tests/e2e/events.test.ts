/**
 * User events by key end to end (docs/events.md), router and timer as processes over real NATS
 * and a real MongoDB-protocol server: one event published to 1,000 runs waiting on its key wakes
 * exactly those whose filter matches, each once; again with the router SIGKILLed while the woken
 * runs are being decided; a labelled wait shows its label in `squall history --table`; sleep or
 * event, all of several events, `since`; bad keys, filters and bodies get typed errors.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SquallClient } from '../../shared/client/index.js';
import { forEachLimited } from '../../shared/concurrency.js';
import { InvalidInputError } from '../../shared/errors.js';
import type { SignalReceivedEvent } from '../../shared/history/events.js';
import { collectionNames, subjects } from '../../shared/names.js';
import { runCli } from '../harness/cli.js';
import { connectMongo, connectNats, waitFor } from '../harness/index.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { type ServiceEnv, type ServiceProcess, startEngine, startService } from './processes.js';

const WORKFLOWS = 'tests/fixtures/events/workflows.ts';
const RUNS = 1_000;

let client: SquallClient;
let env: ServiceEnv;
let router: ServiceProcess;
let mongo: MongoClient;

beforeAll(async () => {
  ({ client, env, router } = await startEngine({ workflows: WORKFLOWS }));
  mongo = await connectMongo();
});
afterAll(async () => {
  await mongo?.close();
});

const names = () => collectionNames(env.prefix);
const db = () => mongo.db(env.dbName);

/** How many runs the wait index holds for `key`. */
const waitingOn = (key: string): Promise<number> =>
  db().collection(names().eventWaits).countDocuments({ eventKey: key });

/** The user events a run took (not ignored), in history order. */
async function taken(workflowId: string): Promise<SignalReceivedEvent[]> {
  return ofType(await eventsOf(client, workflowId), 'SignalReceived').filter(
    (e) => e.signal.type.startsWith('squall.event.') && !e.ignored,
  );
}

/** Starts `RUNS` waiters `<tag>-<i>`; every third is gold. Resolves once all are in the wait index. */
async function startWaiters(tag: string, key = 'price-drop'): Promise<string[]> {
  const before = await waitingOn(key);
  const ids = Array.from({ length: RUNS }, (_, i) => `${tag}-${i}`);
  await forEachLimited([...ids.entries()], 32, async ([i, id]) => {
    await client.start('waiter', { tier: i % 3 === 0 ? 'gold' : 'silver' }, { workflowId: id });
  });
  await waitFor('every waiter to be in the wait index', async () => (await waitingOn(key)) >= before + RUNS, {
    timeoutMs: 120_000,
    intervalMs: 250,
  });
  return ids;
}

/** Waits until every run of `ids` is completed (run summaries). */
async function allCompleted(ids: string[], timeoutMs: number): Promise<void> {
  const runs = db().collection(names().runs);
  await waitFor(
    `${ids.length} runs to complete`,
    async () => (await runs.countDocuments({ workflowId: { $in: ids }, status: 'completed' })) === ids.length,
    { timeoutMs, intervalMs: 250 },
  );
}

/** Checks that gold runs took `eventId` once and silver ones took nothing (or `silverEventId` once). */
async function expectWokenOnce(ids: string[], eventId: string, silverEventId?: string): Promise<void> {
  await forEachLimited([...ids.entries()], 16, async ([i, id]) => {
    const got = await taken(id);
    const gold = i % 3 === 0;
    const want = gold ? [eventId] : silverEventId === undefined ? [] : [silverEventId];
    expect(
      got.map((e) => e.signal.eventId),
      id,
    ).toEqual(want);
    if (gold) expect(got[0]?.signal.label).toBe('gold price drop');
  });
}

describe('events by key', () => {
  it(`one event published to ${RUNS} waiting runs wakes exactly those whose filter matches, each once`, async () => {
    const ids = await startWaiters('w');
    const gold = ids.filter((_, i) => i % 3 === 0);
    const silver = ids.filter((_, i) => i % 3 !== 0);
    const first = await client.publishEvent('price-drop', { tier: 'gold', pct: 10 }, { eventId: 'drop-1' });
    expect(first).toEqual({ eventId: 'drop-1', seq: expect.any(Number) });
    await allCompleted(gold, 120_000);
    // Silver runs stay waiting: the fan-out skipped them (the index holds their filter).
    // The gold runs' waits are dropped as their closing commits are published, just after their summaries.
    await waitFor('the gold waits to be dropped', async () => (await waitingOn('price-drop')) === silver.length, {
      timeoutMs: 30_000,
    });
    // None of them closed (their open summaries are written behind, so some may have none yet);
    // expectWokenOnce below reads their histories.
    const runs = db().collection(names().runs);
    expect(await runs.countDocuments({ workflowId: { $in: silver }, status: { $ne: 'running' } })).toBe(0);
    // A second event, for every tier: the silver runs wake now; the gold ones are done.
    await client.publishEvent('price-drop', { tier: 'all' }, { eventId: 'drop-2' });
    await allCompleted(silver, 120_000);
    await expectWokenOnce(ids, 'drop-1', 'drop-2');
    await waitFor('the wait index to empty', async () => (await waitingOn('price-drop')) === 0, { timeoutMs: 30_000 });
  }, 600_000);

  it('the same, with the router SIGKILLed while the woken runs are being decided', async () => {
    const ids = await startWaiters('k');
    const gold = ids.filter((_, i) => i % 3 === 0);
    const runs = db().collection(names().runs);
    // The kill follows the first delivery of the event to a waiting run, as the fan-out publishes
    // it, so the router dies as it takes the woken runs' signals. Later marks are too late at
    // times: the woken runs are decided in a few batches sharing inserts (a kill at the first
    // completion found 24 or 114 of 334 completed, at the fifth once all of them).
    let delivered = false;
    const nc = await connectNats(env.natsUrl);
    nc.subscribe(subjects(env.prefix).all.signal, {
      max: 1,
      callback: () => {
        delivered = true;
        router.kill('SIGKILL');
      },
    });
    await nc.flush();
    await client.publishEvent('price-drop', { tier: 'gold' }, { eventId: 'drop-k' });
    await waitFor('the event to reach a waiting run', () => delivered, { timeoutMs: 60_000, intervalMs: 5 });
    await nc.close();
    await router.exited;
    const before = await runs.countDocuments({ workflowId: { $in: gold }, status: 'completed' });
    router = await startService('router-2', ['router', '--workflows', WORKFLOWS], env);
    // Deliveries the dead router had taken come back after the consumers' 30 s ack wait.
    await allCompleted(gold, 180_000);
    await expectWokenOnce(ids, 'drop-k');
    // Finish the silver runs so no later test's event reaches them.
    await client.publishEvent('price-drop', { tier: 'all' }, { eventId: 'drop-k2' });
    await allCompleted(ids, 180_000);
    // The kill landed while woken runs were still being decided.
    expect(before, `completed before the kill`).toBeLessThan(gold.length);
  }, 900_000);

  it('a labelled wait shows its label in squall history --table', async () => {
    await client.start('waiter', { tier: 'gold' }, { workflowId: 'labelled' });
    await waitFor(
      'the wait to be indexed',
      async () => (await taken('labelled')).length === 0 && (await waitingOn('price-drop')) >= 1,
    );
    await client.publishEvent('price-drop', { tier: 'gold' }, { eventId: 'drop-label' });
    await client.result('labelled', { timeoutMs: 30_000 });
    const cliEnv = { NATS_URL: env.natsUrl, MONGO_URL: env.mongoUrl, SQUALL_PREFIX: env.prefix, SQUALL_DB: env.dbName };
    const table = await runCli(['history', 'labelled', '--table'], cliEnv);
    expect(table.code).toBe(0);
    expect(table.out.some((l) => l.includes('squall.event.price-drop [gold price drop]'))).toBe(true);
  }, 60_000);

  it('sleep or event: the event wins before the timer, the timer wins without it', async () => {
    await client.start('sleeper', undefined, { workflowId: 'sleep-event' });
    await waitFor('the sleeper to wait', async () => (await waitingOn('approved')) === 1);
    await client.publishEvent('approved', { by: 'ann' }, { eventId: 'ok-1' });
    expect(await client.result('sleep-event', { timeoutMs: 30_000 })).toEqual({
      how: 'event',
      eventId: 'ok-1',
      payload: { by: 'ann' },
    });
    await client.start('sleeper', undefined, { workflowId: 'sleep-timeout' });
    expect(await client.result('sleep-timeout', { timeoutMs: 30_000 })).toEqual({ how: 'timeout' });
    expect(await taken('sleep-timeout')).toEqual([]);
  }, 90_000);

  it('all of several events: the run goes on once both came, in any order', async () => {
    await client.start('gatherer', undefined, { workflowId: 'gather-1' });
    await waitFor(
      'both waits',
      async () => (await waitingOn('stock-ok')) === 1 && (await waitingOn('credit-ok')) === 1,
    );
    await client.publishEvent('credit-ok', { limit: 500 });
    await waitFor('the credit wait to go', async () => (await waitingOn('credit-ok')) === 0);
    await client.publishEvent('stock-ok', { units: 3 });
    expect(await client.result('gather-1', { timeoutMs: 30_000 })).toEqual({
      'credit-ok': { limit: 500 },
      'stock-ok': { units: 3 },
    });
  }, 60_000);

  it("a wait entered after the publish misses it, unless it asked for events since the run's start", async () => {
    await client.start('late', { since: false }, { workflowId: 'late-now' });
    await client.start('late', { since: true }, { workflowId: 'late-since' });
    await waitFor(
      'both runs to start',
      async () => (await taken('late-now')).length === 0 && (await taken('late-since')).length === 0,
    );
    await client.publishEvent('late-news', { n: 1 }, { eventId: 'news-1' });
    await client.signal('late-now', { type: 'listen' });
    await client.signal('late-since', { type: 'listen' });
    // The catch-up of the new wait reads the stream from the run's start.
    expect(await client.result('late-since', { timeoutMs: 30_000 })).toMatchObject({ how: 'event', eventId: 'news-1' });
    await waitFor('the late-now wait to be indexed', async () => (await waitingOn('late-news')) === 1);
    await client.publishEvent('late-news', { n: 2 }, { eventId: 'news-2' });
    expect(await client.result('late-now', { timeoutMs: 30_000 })).toMatchObject({ how: 'event', eventId: 'news-2' });
    expect((await taken('late-now')).map((e) => e.signal.eventId)).toEqual(['news-2']);
  }, 60_000);

  it('bad input: a bad key, eventId or payload gets a typed error; a bad raw body is dead-lettered', async () => {
    await expect(client.publishEvent('a.b', {})).rejects.toThrow(InvalidInputError);
    await expect(client.publishEvent('a b', {})).rejects.toThrow(/eventKey "a b" contains " "/);
    await expect(client.publishEvent('k', {}, { eventId: 'x*' })).rejects.toThrow(/contains "\*"/);
    const cliEnv = { NATS_URL: env.natsUrl, SQUALL_PREFIX: env.prefix };
    const bad = await runCli(['event', 'publish', 'k', '--payload', '{nope'], cliEnv);
    expect(bad.code).toBe(2);
    expect(bad.err.join('\n')).toMatch(/payload/);
    const badKey = await runCli(['event', 'publish', 'k.1'], cliEnv);
    expect(badKey.code).toBe(2);
    expect(badKey.err.join('\n')).toMatch(/eventKey/);
    const ok = await runCli(['event', 'publish', 'nobody-waits', '--payload', '{"a":1}', '--id', 'cli-1'], cliEnv);
    expect(ok.code).toBe(0);
    expect(ok.lines[0]).toMatchObject({ eventId: 'cli-1' });
    // Raw NATS: a body that is not an object is parked on the dead-letter stream with its reason.
    const nc = await connectNats(env.natsUrl);
    try {
      await jetstream(nc).publish(`${env.prefix}.userevent.raw-bad`, new TextEncoder().encode('[1,2]'));
      const jsm = await jetstreamManager(nc);
      await waitFor('the bad event to be dead-lettered', async () => {
        const m = await jsm.streams.getMessage(`${env.prefix.toUpperCase()}_DLQ`, {
          last_by_subj: `${env.prefix}.dlq.invalid-input`,
        });
        return m?.header.get('Squall-Original-Subject') === `${env.prefix}.userevent.raw-bad`;
      });
    } finally {
      await nc.close();
    }
  }, 60_000);
});
