import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { streamNames, subjects } from '../../shared/names.js';
import { connectNats, freshPrefix } from '../harness/index.js';

describe('smoke: NATS JetStream through the harness', () => {
  it('deduplicates by Nats-Msg-Id and delivers to a durable pull consumer that acks', async () => {
    const nc = await connectNats();
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const prefix = freshPrefix();
    const stream = streamNames(prefix).tasks;
    const subject = subjects(prefix).task('smoke');
    await jsm.streams.add({ name: stream, subjects: [subjects(prefix).all.task] });
    try {
      const first = await js.publish(subject, 'hello', { msgID: 'run-1:1:0' });
      const second = await js.publish(subject, 'hello', { msgID: 'run-1:1:0' });
      expect(first.duplicate).toBe(false);
      expect(second.duplicate).toBe(true);
      expect(second.seq).toBe(first.seq);
      expect((await jsm.streams.info(stream)).state.messages).toBe(1);

      await jsm.consumers.add(stream, { durable_name: 'smoke', ack_policy: AckPolicy.Explicit });
      const consumer = await js.consumers.get(stream, 'smoke');
      const msg = await consumer.next({ expires: 5_000 });
      expect(msg?.string()).toBe('hello');
      expect(msg?.headers?.get('Nats-Msg-Id')).toBe('run-1:1:0');
      expect(await msg?.ackAck()).toBe(true);

      const info = await jsm.consumers.info(stream, 'smoke');
      expect(info.num_ack_pending).toBe(0);
      expect(info.num_pending).toBe(0);
    } finally {
      await jsm.streams.delete(stream);
    }
  });
});
