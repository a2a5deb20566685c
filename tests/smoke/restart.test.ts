import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { streamNames, subjects } from '../../shared/names.js';
import { connectMongo, connectNats, freshDbName, freshPrefix, privateServers, waitFor } from '../harness/index.js';

describe('smoke: private servers restart on the same port and data dir', () => {
  for (const how of ['SIGTERM', 'SIGKILL'] as const) {
    it(`keeps a JetStream message and a Mongo document across a ${how} restart`, async () => {
      const servers = await privateServers();
      const { nats, mongo } = servers;
      const nc = await connectNats(nats.url, { maxReconnectAttempts: -1, reconnectTimeWait: 100 });
      const client = await connectMongo(mongo.url);
      const prefix = freshPrefix();
      const stream = streamNames(prefix).tasks;
      const subject = subjects(prefix).task('restart');
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [subjects(prefix).all.task] });
      await jetstream(nc).publish(subject, 'survives', { msgID: 'm1' });
      const docs = client.db(freshDbName()).collection('docs');
      await docs.insertOne({ _id: 'd1' as never, value: 'survives' });

      const before = { nats: nats.pid, mongo: mongo.pid, natsPort: nats.port, mongoPort: mongo.port };
      nats.kill(how);
      mongo.kill(how);
      await Promise.all([nats.restart(), mongo.restart()]);
      expect(nats.pid).not.toBe(before.nats);
      expect(mongo.pid).not.toBe(before.mongo);
      expect([nats.port, mongo.port]).toEqual([before.natsPort, before.mongoPort]);

      // The same connection reconnects to the same URL and finds the message still stored.
      const msg = await waitFor(
        'the stored message after restart',
        async () => (await jetstreamManager(nc)).streams.getMessage(stream, { seq: 1 }),
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      expect(msg?.string()).toBe('survives');
      expect(await docs.findOne({ _id: 'd1' as never })).toMatchObject({ value: 'survives' });

      await servers.stop();
      expect(nats.pid).toBeUndefined();
      expect(mongo.pid).toBeUndefined();
    });
  }
});
