/**
 * watch() reads the outcomes stream with an ordered consumer: outcomes stored while the client was
 * disconnected arrive after its reconnect, each once and in stream order, and `from` picks the start.
 * result() gives up with UnavailableError once NATS stays away past its disconnect deadline.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalServer, startNatsServer } from '../../../services/dev/index.js';
import { encodeBody, ensureStreams } from '../../../shared/bus/index.js';
import { connect, type SquallClient, type WatchEvent, type WatchStream } from '../../../shared/client/index.js';
import { UnavailableError } from '../../../shared/errors.js';
import { streamNames, subjects } from '../../../shared/names.js';
import { connectNats, freshPrefix, natsUrl, waitFor } from '../../harness/index.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function privateNats(): Promise<LocalServer> {
  const server = await startNatsServer();
  cleanups.push(() => server.stop());
  return server;
}

async function client(opts: Parameters<typeof connect>[0]): Promise<SquallClient> {
  const c = await connect(opts);
  cleanups.push(() => c.close());
  return c;
}

/** Collects a watch's events in the background. */
function collect(stream: WatchStream): WatchEvent[] {
  const seen: WatchEvent[] = [];
  void (async () => {
    for await (const ev of stream) seen.push(ev);
  })();
  return seen;
}

/**
 * Publishes completions `from..to` of workflow ids `w<n>` to JetStream, each acked once: a message
 * id makes a retry (a server still recovering its streams after a restart) store nothing twice.
 */
async function publishOutcomes(nc: NatsConnection, prefix: string, from: number, to: number): Promise<void> {
  const js = jetstream(nc, { timeout: 1_000 });
  const s = subjects(prefix);
  for (let n = from; n <= to; n++) {
    const body = encodeBody({ workflowId: `w${n}`, runId: 'r', status: 'completed' });
    await waitFor(`w${n} to be stored`, () => js.publish(s.done('order', `w${n}`), body, { msgID: `w${n}` }), {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  }
}

function ids(seen: WatchEvent[]): string[] {
  return seen.map((e) => e.body.workflowId);
}

function range(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `w${from + i}`);
}

describe('watch across a nats-server restart', () => {
  it.each([
    ['after some deliveries', 3],
    ['before its first delivery', 0],
  ])(
    'delivers what was stored while the client was away (%s), none twice, in stream order',
    async (_, before) => {
      const server = await privateNats();
      const prefix = freshPrefix();
      const admin = await connectNats(server.url, { maxReconnectAttempts: -1 });
      await ensureStreams(await jetstreamManager(admin), prefix);
      // A slow reconnect keeps the watching client away while the restarted server takes outcomes.
      const watcherNc = await connectNats(server.url, { maxReconnectAttempts: -1, reconnectTimeWait: 5_000 });
      let watcherUp = true;
      void (async () => {
        for await (const st of watcherNc.status()) {
          if (st.type === 'disconnect') watcherUp = false;
          if (st.type === 'reconnect') watcherUp = true;
        }
      })();
      const c = await client({ nc: watcherNc, prefix, resultPollMs: 200 });
      const stream = c.watch();
      cleanups.push(async () => stream.stop());
      await stream.ready;
      const seen = collect(stream);

      if (before > 0) {
        await publishOutcomes(admin, prefix, 1, before);
        await waitFor(`the first ${before} outcomes`, () => seen.length >= before);
      }

      await server.stop({ keepData: true });
      await waitFor('the watcher to see the server go', () => !watcherUp);
      await server.restart();
      // A fresh connection: the admin one may still be waiting out its own reconnect.
      const publisher = await connectNats(server.url);
      await publishOutcomes(publisher, prefix, before + 1, before + 5);
      // The point of the test: these were stored while the watcher was still disconnected.
      expect(watcherUp).toBe(false);

      await waitFor('the watcher to reconnect', () => watcherUp, { timeoutMs: 30_000 });
      await publishOutcomes(publisher, prefix, before + 6, before + 7);
      await waitFor('every outcome', () => seen.length >= before + 7, { timeoutMs: 45_000 });
      expect(ids(seen)).toEqual(range(1, before + 7));
      const seqs = seen.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
    },
    90_000,
  );
});

describe('watch from', () => {
  it('starts at a stream sequence or a time, and at new by default', async () => {
    const prefix = freshPrefix();
    const nc = await connectNats();
    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, prefix);
    await publishOutcomes(nc, prefix, 1, 2);
    const outcomes = streamNames(prefix).outcomes;
    const w2 = await jsm.streams.getMessage(outcomes, { seq: 2 });
    // Stored times have ms precision here: w3 must be stamped in a later millisecond than w2.
    await waitFor('the clock to pass w2', () => Date.now() > (w2?.time.getTime() ?? 0) + 1);
    await publishOutcomes(nc, prefix, 3, 3);
    const c = await client({ servers: natsUrl(), prefix });

    const fresh = c.watch({ type: 'order' });
    const bySeq = c.watch({ from: { seq: 2 } });
    const third = await jsm.streams.getMessage(outcomes, { seq: 3 });
    const byTime = c.watch({ from: { time: third?.time ?? new Date(0) } });
    for (const w of [fresh, bySeq, byTime]) cleanups.push(async () => w.stop());
    await Promise.all([fresh.ready, bySeq.ready, byTime.ready]);
    const [a, b, t] = [collect(fresh), collect(bySeq), collect(byTime)];

    await publishOutcomes(nc, prefix, 4, 4);
    await waitFor('every watch to see w4', () => [a, b, t].every((seen) => ids(seen).includes('w4')));
    expect(ids(a)).toEqual(['w4']);
    expect(ids(b)).toEqual(['w2', 'w3', 'w4']);
    expect(ids(t)).toEqual(['w3', 'w4']);
    expect(b.map((e) => e.seq)).toEqual([2, 3, 4]);
  });

  it('waits for an outcomes stream that does not exist yet and reads it from its first message', async () => {
    const prefix = freshPrefix();
    const c = await client({ servers: natsUrl(), prefix, resultPollMs: 100 });
    const stream = c.watch();
    cleanups.push(async () => stream.stop());
    await stream.ready;
    const seen = collect(stream);
    const nc = await connectNats();
    await ensureStreams(await jetstreamManager(nc), prefix);
    await publishOutcomes(nc, prefix, 1, 2);
    await waitFor('both outcomes', () => seen.length >= 2);
    expect(ids(seen)).toEqual(['w1', 'w2']);
  });

  it('refuses a start that is neither new, a positive sequence nor a time', async () => {
    const c = await client({ servers: natsUrl(), prefix: freshPrefix() });
    expect(() => c.watch({ from: { seq: 0 } })).toThrow(/from must be/);
    expect(() => c.watch({ from: { time: Number.NaN } })).toThrow(/from must be/);
  });
});

describe('result while NATS is away', () => {
  it('rejects with UnavailableError naming the server and the wait, within its deadline', async () => {
    const server = await privateNats();
    const prefix = freshPrefix();
    const admin = await connectNats(server.url);
    await ensureStreams(await jetstreamManager(admin), prefix);
    const c = await client({ servers: server.url, prefix, resultPollMs: 100, resultDisconnectTimeoutMs: 1_500 });

    // Waiting when the server goes away.
    const pending = c.result('never').catch((e: unknown) => e);
    await c.nc.flush();
    const stoppedAt = Date.now();
    await server.stop({ keepData: true });
    const err = await pending;
    const waited = Date.now() - stoppedAt;
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).message).toBe(
      `NATS at 127.0.0.1:${server.port} stayed disconnected for 1500 ms while waiting for the result of never`,
    );
    expect(waited).toBeLessThan(1_500 + 5_000);

    // Called while the server is already away; the per-call option overrides the client's.
    const calledAt = Date.now();
    await expect(c.result('never', { disconnectTimeoutMs: 500 })).rejects.toBeInstanceOf(UnavailableError);
    expect(Date.now() - calledAt).toBeLessThan(500 + 3_000);
  });

  it('keeps waiting through a short outage and then resolves', async () => {
    const server = await privateNats();
    const prefix = freshPrefix();
    const admin = await connectNats(server.url);
    await ensureStreams(await jetstreamManager(admin), prefix);
    const c = await client({ servers: server.url, prefix, resultPollMs: 100, resultDisconnectTimeoutMs: 30_000 });
    const pending = c.result('w1', { runId: 'r' });
    await c.nc.flush();
    await server.restart();
    await publishOutcomes(await connectNats(server.url), prefix, 1, 1);
    await expect(pending).resolves.toBeUndefined();
  });
});
