/**
 * The sample order workflow end to end, with router, two executors and a timer service as
 * separate processes over real NATS and a real MongoDB-protocol server.
 */
import { headers as natsHeaders } from '@nats-io/transport-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBody, encodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { subjects as subjectsOf } from '../../shared/names.js';
import { connectNats, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  services.push(await startService('router', ['router', '--workflows', SAMPLE.workflows], env));
  services.push(
    ...(await Promise.all([
      startService('executor-1', ['executor', '--activities', SAMPLE.activities], env),
      startService('executor-2', ['executor', '--activities', SAMPLE.activities], env),
      startService('timer', ['timer'], env),
    ])),
  );
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

function eventTypes(commits: { events: unknown[] }[]): string[] {
  return commits.flatMap((c) => c.events.map((e) => (e as { type: string }).type));
}

describe('order workflow end to end', () => {
  it('charges, waits for approval, ships and emails in parallel, and completes once', async () => {
    const s = subjectsOf(env.prefix);
    const nc = await connectNats(env.natsUrl);
    const done = nc.subscribe(s.done('order', 'order-e2e-1'), { max: 1 });
    const doneMsg = (async () => {
      for await (const m of done) return decodeBody(m.data, m.headers, m.subject);
      return undefined;
    })();

    const started = await client.start('order', { orderId: 'o-1', amount: 4200 }, { workflowId: 'order-e2e-1' });
    expect(started).toMatchObject({ workflowId: 'order-e2e-1', created: true });
    expect(started.runId).toMatch(/^[0-9a-f-]{36}$/);

    await waitFor(
      'the run to wait for approve',
      async () => (await client.query('order-e2e-1')).accepts.includes('approve'),
      {
        timeoutMs: 20_000,
      },
    );
    await client.signal('order-e2e-1', { type: 'approve' });
    const output = await client.result<Record<string, unknown>>('order-e2e-1', { timeoutMs: 30_000 });
    expect(output).toMatchObject({ orderId: 'o-1' });

    const body = (await doneMsg) as Record<string, unknown>;
    expect(body).toMatchObject({ workflowId: 'order-e2e-1', runId: started.runId, status: 'completed' });

    const history = await client.history('order-e2e-1');
    const types = eventTypes(history.commits);
    expect(types[0]).toBe('RunStarted');
    expect(types.at(-1)).toBe('RunCompleted');
    expect(types.filter((t) => t === 'ActivityScheduled')).toHaveLength(3);
    expect(types.filter((t) => t === 'ActivityCompleted')).toHaveLength(3);
    expect(types.filter((t) => t === 'SignalReceived')).toHaveLength(1);
    expect(types.filter((t) => t === 'TimerScheduled')).toHaveLength(1);
    expect(types.filter((t) => t === 'TimerCancelled')).toHaveLength(1);
    expect(types.filter((t) => t === 'RunCompleted')).toHaveLength(1);
    const seqs = history.commits.map((c) => c.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    // Pages: fromSeq is the first commit returned, nextSeq the fromSeq of the next page.
    const page = await client.history('order-e2e-1', { fromSeq: 2, limit: 2 });
    expect(page.commits.map((c) => c.seq)).toEqual([2, 3]);
    expect(page.nextSeq).toBe(4);
    const last = await client.history('order-e2e-1', { fromSeq: seqs.length });
    expect(last.commits.map((c) => c.seq)).toEqual([seqs.length]);
    expect(last.nextSeq).toBeUndefined();

    const described = await client.describe('order-e2e-1');
    expect(described).toMatchObject({ status: 'completed', runId: started.runId });
  });

  it('runs when driven only by JSON on the NATS wire and observed only by subscribing', async () => {
    const s = subjectsOf(env.prefix);
    const nc = await connectNats(env.natsUrl);
    const json = natsHeaders();
    json.set('content-type', 'application/json');
    const enc = (v: unknown): Uint8Array => encodeBody(v, { json: true });
    const done = nc.subscribe(s.done('order', 'order-wire-1'), { max: 1 });

    const reply = await nc.request(
      s.start('order'),
      enc({ workflowId: 'order-wire-1', input: { orderId: 'o-2', amount: 999 } }),
      {
        headers: json,
        timeout: 20_000,
      },
    );
    const answer = JSON.parse(new TextDecoder().decode(reply.data)) as Record<string, unknown>;
    expect(answer).toMatchObject({ workflowId: 'order-wire-1', created: true });

    await waitFor(
      'the run to accept approve',
      async () => {
        const q = await nc.request(s.query('order-wire-1'), enc({}), { headers: json, timeout: 5_000 });
        return (JSON.parse(new TextDecoder().decode(q.data)) as { accepts?: string[] }).accepts?.includes('approve');
      },
      { timeoutMs: 20_000 },
    );
    nc.publish(s.signal('order-wire-1'), enc({ type: 'approve', by: 'wire' }), { headers: json });

    for await (const m of done) {
      const body = decodeBody(m.data, m.headers, m.subject) as Record<string, unknown>;
      expect(body).toMatchObject({ workflowId: 'order-wire-1', status: 'completed', runId: answer.runId });
      expect(body.output).toMatchObject({ orderId: 'o-2' });
    }
  });
});
