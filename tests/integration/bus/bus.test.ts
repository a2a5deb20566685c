import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeBody } from '../../../shared/bus/codec.js';
import { DLQ_HEADERS, ERROR_HEADER } from '../../../shared/bus/connect.js';
import {
  ensureActivityConsumer,
  ensureStreams,
  ensureTasksKeeper,
  ensureTimerConsumer,
} from '../../../shared/bus/streams.js';
import { NotFoundError, UnavailableError } from '../../../shared/errors.js';
import { consumerNames } from '../../../shared/names.js';
import { waitFor } from '../../harness/index.js';
import { collect, testBus } from './helpers.js';

describe('bus', () => {
  it('creates the streams idempotently, and reconciles a changed setting', async () => {
    const bus = await testBus();
    const first = await ensureStreams(bus.jsm, bus.prefix);
    const again = await ensureStreams(bus.jsm, bus.prefix);
    expect(again.inbox.created).toEqual(first.inbox.created);
    expect(first.inbox.config.no_ack).toBe(true);
    expect(first.tasks.config.retention).toBe('workqueue');
    expect(first.timers.config.retention).toBe('workqueue');
    expect(first.outcomes.config.subjects).toEqual([`${bus.prefix}.done.>`, `${bus.prefix}.emit.*`]);
    expect(first.dlq.config.max_msg_size).toBe(-1);
    const bigger = await ensureStreams(bus.jsm, bus.prefix, { maxMsgSize: 2 * 1024 * 1024 });
    expect(bigger.events.config.max_msg_size).toBe(2 * 1024 * 1024);

    const c1 = await ensureActivityConsumer(bus.jsm, bus.prefix, 'charge');
    const c2 = await ensureActivityConsumer(bus.jsm, bus.prefix, 'charge');
    expect(c2.created).toEqual(c1.created);
    const c3 = await ensureActivityConsumer(bus.jsm, bus.prefix, 'charge', { ackWaitMs: 5_000 });
    expect(c3.config.ack_wait).toBe(5_000_000_000);
    await ensureActivityConsumer(bus.jsm, bus.prefix, 'ship');
    await ensureTimerConsumer(bus.jsm, bus.prefix);
    await ensureTimerConsumer(bus.jsm, bus.prefix);
  });

  it('creates the streams when several services start at once', async () => {
    const bus = await testBus({ ensureStreams: false });
    await Promise.all([1, 2, 3].map(() => ensureStreams(bus.jsm, bus.prefix)));
    expect((await bus.jsm.streams.info(bus.streams.events)).config.subjects).toEqual([`${bus.prefix}.event.*.*.*`]);
  });

  it('keeps one message in the tasks stream that no activity takes, however many routers start at once', async () => {
    const bus = await testBus();
    const stored = await Promise.all([1, 2, 3].map(() => ensureTasksKeeper(bus.js, bus.prefix)));
    expect(stored.filter(Boolean)).toHaveLength(1);
    expect(await ensureTasksKeeper(bus.js, bus.prefix)).toBe(false);
    const messages = async () => (await bus.jsm.streams.info(bus.streams.tasks)).state.messages;
    expect(await messages()).toBe(1);

    // An activity's durables (default level and another) take their tasks and never the keeper.
    await ensureActivityConsumer(bus.jsm, bus.prefix, 'charge');
    await ensureActivityConsumer(bus.jsm, bus.prefix, 'charge', {}, 5);
    await bus.publish(bus.subjects.taskAt('charge', 3), { n: 1 });
    await bus.publish(bus.subjects.taskAt('charge', 5), { n: 2 });
    for (const name of [consumerNames.activity('charge'), consumerNames.activityAt('charge', 5)]) {
      const consumer = await bus.js.consumers.get(bus.streams.tasks, name);
      const taken: string[] = [];
      for await (const m of await consumer.fetch({ max_messages: 5, expires: 1_000 })) {
        taken.push(m.subject);
        m.ack();
      }
      expect(taken).toHaveLength(1);
      expect(taken[0]).not.toBe(bus.subjects.tasksKeeper());
    }
    await waitFor('both tasks gone from the work queue', async () => (await messages()) === 1);
  });

  it('deduplicates publishes with the same msg id', async () => {
    const bus = await testBus();
    const subject = bus.subjects.result('run1');
    const a = await bus.publish(subject, { n: 1 }, { msgId: 'result:run1:1:1' });
    const b = await bus.publish(subject, { n: 1 }, { msgId: 'result:run1:1:1' });
    const c = await bus.publish(subject, { n: 2 }, { msgId: 'result:run1:1:2' });
    expect([a.duplicate, b.duplicate, c.duplicate]).toEqual([false, true, false]);
    expect(b.seq).toBe(a.seq);
    expect((await bus.jsm.streams.info(bus.streams.events)).state.messages).toBe(2);
  });

  it('gives up publishing where no stream listens with UnavailableError at the deadline', async () => {
    const bus = await testBus();
    const started = Date.now();
    await expect(bus.publish(`${bus.prefix}x.nothing`, {}, { deadlineMs: 300 })).rejects.toBeInstanceOf(
      UnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('parks dead letters with reason, error, original subject, original headers and bytes', async () => {
    const bus = await testBus();
    const seen = await collect(bus, bus.streams.dlq, bus.subjects.all.dlq);
    const h = headers();
    h.set('trace-id', 'abc');
    h.set('Nats-Expected-Stream', 'whatever');
    const data = new Uint8Array([0xc1, 0x01]);
    await bus.parkDeadLetter(
      'undecodable',
      { subject: bus.subjects.start('order'), data, headers: h },
      new Error('bad\nbody'),
    );
    const [letter] = await waitFor('the dead letter', () => seen.length === 1 && seen);
    expect(letter?.subject).toBe(bus.subjects.dlq('undecodable'));
    expect(letter?.headers?.get(DLQ_HEADERS.reason)).toBe('undecodable');
    expect(letter?.headers?.get(DLQ_HEADERS.error)).toBe('bad body');
    expect(letter?.headers?.get(DLQ_HEADERS.originalSubject)).toBe(bus.subjects.start('order'));
    expect(letter?.headers?.get('trace-id')).toBe('abc');
    expect(letter?.headers?.has('Nats-Expected-Stream')).toBe(false);
    expect([...(letter?.data ?? [])]).toEqual([0xc1, 0x01]);
  });

  it('replies in the encoding of the request, and errors with the Squall-Error header', async () => {
    const bus = await testBus();
    const subject = bus.subjects.query('w1');
    const sub = bus.nc.subscribe(subject, {
      callback: (_err, msg) => {
        const body = decodeBody(msg.data, msg.headers, msg.subject) as { fail?: boolean };
        bus.reply(msg, body.fail ? new NotFoundError('no run w1') : { status: 'running' });
      },
    });
    try {
      const packed = await bus.nc.request(subject, encodeBody({}));
      expect(decodeBody(packed.data, packed.headers, subject)).toEqual({ status: 'running' });

      const jh = headers();
      jh.set('content-type', 'application/json');
      const json = await bus.nc.request(subject, encodeBody({ fail: true }, { json: true }), {
        headers: jh,
        timeout: 5_000,
      });
      expect(json.headers?.get(ERROR_HEADER)).toBe('NOT_FOUND');
      expect(JSON.parse(json.string())).toEqual({
        error: { name: 'NotFoundError', message: 'no run w1', code: 'NOT_FOUND', retryable: false },
      });
    } finally {
      sub.unsubscribe();
    }
  });
});
