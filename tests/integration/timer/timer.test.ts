import { describe, expect, it } from 'vitest';
import type { ServiceHandle } from '../../../services/common/service.js';
import { startTimer, type TimerServiceOptions } from '../../../services/timer/index.js';
import type { Bus } from '../../../shared/bus/connect.js';
import type { FiredMessage } from '../../../shared/bus/messages.js';
import { silentLogger } from '../../../shared/log.js';
import { createMongoStore, type Store } from '../../../shared/store/index.js';
import { BUCKET_MS } from '../../../shared/store/timer-walk.js';
import { connectMongo, freshDbName, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';
import { collect, onCleanup, type Seen, testBus } from '../bus/helpers.js';

interface Setup {
  bus: Bus;
  store: Store;
  fired: Seen[];
  start(extra?: Partial<TimerServiceOptions>): Promise<ServiceHandle>;
  schedule(runId: string, timerSeq: number, fireAt: number): Promise<void>;
  cancel(runId: string, timerSeq: number): Promise<void>;
  firedSeqs(): string[];
}

async function setup(): Promise<Setup> {
  const bus = await testBus();
  const dbName = freshDbName();
  const client = await connectMongo();
  const store = createMongoStore(client, { dbName, collectionPrefix: bus.prefix });
  await store.init();
  onCleanup(async () => {
    await client.db(dbName).dropDatabase();
  });
  const fired = await collect(bus, bus.streams.events, bus.subjects.all.fired);
  return {
    bus,
    store,
    fired,
    async start(extra = {}) {
      // Own NATS and MongoDB connections (the service inits the store too), as a separate process would.
      const handle = await startTimer({
        natsUrl: natsUrl(),
        mongoUrl: mongoUrl(),
        dbName,
        prefix: bus.prefix,
        log: silentLogger,
        ...extra,
      });
      onCleanup(() => handle.stop({ deadlineMs: 1_000 }));
      return handle;
    },
    async schedule(runId, timerSeq, fireAt) {
      await bus.publish(
        bus.subjects.timerSchedule(runId),
        { runId, workflowId: `wf-${runId}`, timerSeq, fireAt },
        { msgId: `${runId}:sched:${timerSeq}` },
      );
    },
    async cancel(runId, timerSeq) {
      await bus.publish(bus.subjects.timerCancel(runId), { runId, timerSeq }, { msgId: `${runId}:cancel:${timerSeq}` });
    },
    firedSeqs: () => fired.map((f) => `${(f.body as FiredMessage).runId}:${(f.body as FiredMessage).timerSeq}`),
  };
}

describe('timer service', () => {
  it('fires a scheduled timer once, at or after its fireAt', async () => {
    const t = await setup();
    await t.start();
    const fireAt = Date.now() + 300;
    await t.schedule('run1', 3, fireAt);
    const [f] = await waitFor('the firing', () => t.fired.length === 1 && t.fired);
    const receivedAt = Date.now();
    expect(f?.subject).toBe(t.bus.subjects.fired('run1'));
    expect(f?.headers?.get('Nats-Msg-Id')).toBe('fired:run1:3');
    const body = f?.body as FiredMessage;
    expect(body).toMatchObject({ runId: 'run1', workflowId: 'wf-run1', timerSeq: 3 });
    expect(body.firedAt).toBeGreaterThanOrEqual(fireAt);
    expect(receivedAt).toBeGreaterThanOrEqual(fireAt);
    await waitFor('marked fired', async () => (await t.store.getTimer('run1', 3))?.status === 'fired');
    // A later sentinel fires only after anything due before it: by then a repeat would show.
    await t.schedule('sentinel', 1, Date.now() + 100);
    await waitFor('the sentinel', () => t.firedSeqs().includes('sentinel:1'));
    expect(t.firedSeqs()).toEqual(['run1:3', 'sentinel:1']);
  });

  it('never fires a timer cancelled before it is due', async () => {
    const t = await setup();
    await t.start();
    await t.schedule('run1', 1, Date.now() + 400);
    await t.cancel('run1', 1);
    await t.schedule('sentinel', 1, Date.now() + 800);
    await waitFor('the sentinel', () => t.firedSeqs().includes('sentinel:1'));
    expect(t.firedSeqs()).toEqual(['sentinel:1']);
    expect((await t.store.getTimer('run1', 1))?.status).toBe('cancelled');
  });

  it('never fires a timer whose cancel arrived before its schedule', async () => {
    const t = await setup();
    await t.start();
    await t.cancel('run1', 2);
    await t.schedule('run1', 2, Date.now() + 100);
    await t.schedule('sentinel', 1, Date.now() + 500);
    await waitFor('the sentinel', () => t.firedSeqs().includes('sentinel:1'));
    expect(t.firedSeqs()).toEqual(['sentinel:1']);
    expect((await t.store.getTimer('run1', 2))?.status).toBe('cancelled');
  });

  it('a burst of schedules and their cancels, in any order, fires none of them', async () => {
    const t = await setup();
    await t.start();
    const n = 100;
    // Due once every cancel is surely stored: the property is that a stored cancel is never
    // fired, not how fast a loaded machine stores 100 of them (one second was too short in CI).
    const fireAt = Date.now() + 5_000;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        i % 2 === 0
          ? t.cancel(`gone${i}`, 1).then(() => t.schedule(`gone${i}`, 1, fireAt))
          : t.schedule(`gone${i}`, 1, fireAt).then(() => t.cancel(`gone${i}`, 1)),
      ),
    );
    await waitFor(
      'every cancel stored',
      async () => {
        for (let i = 0; i < n; i++) if ((await t.store.getTimer(`gone${i}`, 1))?.status !== 'cancelled') return false;
        return true;
      },
      { timeoutMs: 4_000, intervalMs: 100 },
    );
    expect(Date.now()).toBeLessThan(fireAt);
    await t.schedule('sentinel', 1, fireAt + 200);
    await waitFor('the sentinel', () => t.firedSeqs().includes('sentinel:1'), { timeoutMs: 20_000 });
    expect(t.firedSeqs()).toEqual(['sentinel:1']);
    for (let i = 0; i < n; i += 9) expect((await t.store.getTimer(`gone${i}`, 1))?.status).toBe('cancelled');
  });

  it('wakes early for a timer earlier than its current sleep', async () => {
    const t = await setup();
    await t.start({ maxSleepMs: 60_000 });
    const scheduledAt = Date.now();
    await t.schedule('run1', 1, scheduledAt + 100);
    await waitFor('the firing', () => t.fired.length === 1, { timeoutMs: 10_000 });
    expect(Date.now() - scheduledAt).toBeLessThan(10_000);
  });

  it('with two services, publishes each timer exactly once', async () => {
    const t = await setup();
    const a = await t.start({ id: 'timer-a' });
    const b = await t.start({ id: 'timer-b' });
    const now = Date.now();
    const n = 30;
    for (let i = 0; i < n; i++) await t.schedule(`run${i}`, i, now + 200 + (i % 10) * 30);
    await waitFor(`${n} firings`, () => t.fired.length >= n, { timeoutMs: 20_000 });
    await t.schedule('sentinel', 1, Date.now() + 200);
    await waitFor('the sentinel', () => t.firedSeqs().includes('sentinel:1'));
    const seqs = t.firedSeqs().filter((s) => !s.startsWith('sentinel'));
    expect(seqs.length).toBe(n);
    expect(new Set(seqs).size).toBe(n);
    // Publishes, counted before JetStream's msg-id dedupe: the lease let only one service fire each.
    const published = (a.health().details.fired as number) + (b.health().details.fired as number);
    expect(published).toBe(n + 1);
  });

  it('with two services claiming one bucket at once, publishes each timer exactly once', async () => {
    const t = await setup();
    const a = await t.start({ id: 'timer-a', batchSize: 50 });
    const b = await t.start({ id: 'timer-b', batchSize: 50 });
    const n = 200;
    const fireAt = Date.now() + 1_500; // one bucket (or two), both services walking it
    await Promise.all(Array.from({ length: n }, (_, i) => t.schedule(`pair${i}`, 1, fireAt)));
    await waitFor(`${n} firings`, () => t.fired.length >= n, { timeoutMs: 30_000 });
    expect(new Set(t.firedSeqs()).size).toBe(n);
    // Publishes, counted before JetStream's msg-id dedupe: the leases let only one service fire each.
    const published = (a.health().details.fired as number) + (b.health().details.fired as number);
    expect(published).toBe(n);
  });

  it('fires a burst due together in rounds, each timer once, and marks every one fired', async () => {
    const t = await setup();
    // Small rounds, so later rounds are claimed and published while earlier ones are being marked.
    const svc = await t.start({ batchSize: 40 });
    const n = 300;
    const fireAt = Date.now() + 1_500;
    await Promise.all(Array.from({ length: n }, (_, i) => t.schedule(`burst${i}`, 1, fireAt)));
    await waitFor(`${n} firings`, () => t.fired.length >= n, { timeoutMs: 30_000 });
    const seqs = t.firedSeqs();
    expect(new Set(seqs).size).toBe(n);
    for (const f of t.fired) expect((f.body as FiredMessage).firedAt).toBeGreaterThanOrEqual(fireAt);
    await waitFor(
      'every timer marked fired',
      async () => {
        for (let i = 0; i < n; i++) if ((await t.store.getTimer(`burst${i}`, 1))?.status !== 'fired') return false;
        return true;
      },
      { timeoutMs: 30_000 },
    );
    // Publishes, counted before JetStream's msg-id dedupe: no timer was claimed twice.
    expect(svc.health().details.fired).toBe(n);
    expect(svc.health().details.lostLeases).toBe(0);
  });

  it('fires once after the service restarts while waiting for the timer', async () => {
    const t = await setup();
    const first = await t.start({ id: 'timer-first' });
    const fireAt = Date.now() + 1_500;
    await t.schedule('run1', 5, fireAt);
    await waitFor('the timer stored', async () => (await t.store.getTimer('run1', 5))?.status === 'pending');
    await first.stop();
    expect(first.health().details.fired).toBe(0);
    const second = await t.start({ id: 'timer-second' });
    await waitFor('the firing', () => t.fired.length === 1);
    expect(Date.now()).toBeGreaterThanOrEqual(fireAt);
    await t.schedule('sentinel', 1, Date.now() + 100);
    await waitFor('the sentinel', () => t.firedSeqs().includes('sentinel:1'));
    expect(t.firedSeqs()).toEqual(['run1:5', 'sentinel:1']);
    expect(second.health().details.fired).toBe(2);
  });

  it('fires a timer whose due time passed before it was scheduled, at once', async () => {
    const t = await setup();
    await t.start();
    const scheduledAt = Date.now();
    await t.schedule('overdue', 1, scheduledAt - 3_600_000); // an hour ago: its bucket was walked long since
    await waitFor('the firing', () => t.firedSeqs().includes('overdue:1'), { timeoutMs: 10_000 });
    await waitFor('marked fired', async () => (await t.store.getTimer('overdue', 1))?.status === 'fired');
  });

  it('after three buckets of downtime, a new service fires every timer that came due meanwhile, once, in order', async () => {
    const t = await setup();
    const first = await t.start({ id: 'timer-before' });
    const base = Date.now() + 1_000;
    const due = [0, 1, 2, 3].map((i) => base + i * BUCKET_MS);
    for (const [i, at] of due.entries()) await t.schedule(`down${i}`, 1, at);
    await waitFor('all stored', async () => {
      for (let i = 0; i < due.length; i++)
        if ((await t.store.getTimer(`down${i}`, 1))?.status !== 'pending') return false;
      return true;
    });
    await first.stop();
    // Down until every one is due: three buckets and more pass with no timer service.
    await waitFor('the last one due', () => Date.now() >= (due.at(-1) as number) + 500, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    expect(t.fired).toHaveLength(0);
    const second = await t.start({ id: 'timer-after' });
    await waitFor('four firings', () => t.fired.length === due.length, { timeoutMs: 15_000 });
    expect(t.firedSeqs()).toEqual(due.map((_, i) => `down${i}:1`));
    expect(second.health().details.fired).toBe(due.length);
  });

  it('reads the time only from the injected clock: claims, firedAt and marks', async () => {
    const t = await setup();
    // A clock a minute ahead: a timer due in 30 s of wall time is due now for this service.
    const aheadMs = 60_000;
    await t.start({ clock: { now: () => Date.now() + aheadMs }, maxSleepMs: 60_000 });
    const fireAt = Date.now() + 30_000;
    await t.schedule('run1', 1, fireAt);
    await waitFor('the firing', () => t.fired.length === 1, { timeoutMs: 10_000 });
    expect(Date.now()).toBeLessThan(fireAt);
    const body = t.fired[0]?.body as FiredMessage;
    expect(body.firedAt).toBeGreaterThanOrEqual(fireAt);
    await waitFor('marked fired', async () => (await t.store.getTimer('run1', 1))?.status === 'fired');
  });

  it('dead-letters a bad schedule and keeps going', async () => {
    const t = await setup();
    const dead = await collect(t.bus, t.bus.streams.dlq, t.bus.subjects.all.dlq);
    await t.start();
    await t.bus.publish(t.bus.subjects.timerSchedule('run1'), { runId: 'run1', timerSeq: -1, fireAt: 0 });
    await t.bus.publishBytes(t.bus.subjects.timerCancel('run1'), new TextEncoder().encode('not msgpack'));
    await t.schedule('run2', 1, Date.now());
    await waitFor('two dead letters', () => dead.length === 2);
    await waitFor('the good timer', () => t.firedSeqs().includes('run2:1'));
    expect(dead.map((d) => d.subject).sort()).toEqual(
      [t.bus.subjects.dlq('invalid-input'), t.bus.subjects.dlq('undecodable')].sort(),
    );
  });
});
