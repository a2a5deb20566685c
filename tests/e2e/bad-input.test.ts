/**
 * Bad input on every public subject: a clear error reply where the message was a request, a
 * structured log line, the message parked on the dead-letter stream with its reason, and the
 * router still serving the messages behind it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBody, encodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { type Subjects, subjects as subjectsOf } from '../../shared/names.js';
import { connectNats, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { readDeadLetters } from './dead-letters.js';
import { jsonHeaders } from './json-wire.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, startService } from './processes.js';

let env: ServiceEnv;
let s: Subjects;
let nc: NatsConnection;
let client: SquallClient;
let router: ServiceProcess;

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  router = await startService('router', ['router', '--workflows', SAMPLE.workflows], env);
  await Promise.all([
    startService('executor', ['executor', '--activities', SAMPLE.activities], env),
    startService('timer', ['timer'], env),
  ]);
  s = subjectsOf(env.prefix);
  nc = await connectNats(env.natsUrl);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

/** Sends a raw request; returns the decoded error reply (code and body). */
async function requestError(
  subject: string,
  data: Uint8Array,
  json = false,
): Promise<{ code: string; message: string }> {
  const reply = await nc.request(subject, data, { timeout: 10_000, ...(json ? { headers: jsonHeaders() } : {}) });
  const code = reply.headers?.get('Squall-Error') ?? '';
  const body = decodeBody(reply.data, reply.headers, reply.subject) as { error?: { message?: string } };
  return { code, message: body.error?.message ?? '' };
}

async function expectParked(reason: string, originalSubject: string): Promise<void> {
  await waitFor(
    `a dead letter '${reason}' for ${originalSubject}`,
    async () =>
      (await readDeadLetters(nc, env.prefix)).find((d) => d.reason === reason && d.originalSubject === originalSubject),
    { timeoutMs: 20_000 },
  );
  await waitFor(`the router to log the '${reason}' dead letter`, () =>
    router.logs.some((l) => JSON.stringify(l).includes(reason)),
  );
}

async function stillServes(id: string): Promise<void> {
  await client.start('order', { orderId: id, amount: 100, approvalTimeoutMs: 50 }, { workflowId: id });
  await expect(client.result(id, { timeoutMs: 20_000 })).resolves.toMatchObject({ orderId: id, status: 'timedOut' });
}

describe('bad input', () => {
  it('an undecodable body is refused with a clear error and parked as undecodable', async () => {
    const subject = s.start('order');
    // (A body starting with 0xC1, never MessagePack, reads as a sealed payload: docs/security.md.)
    const err = await requestError(subject, new Uint8Array([0x92, 0x01]));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/not valid MessagePack/);
    await expectParked('undecodable', subject);
    const jsonErr = await requestError(subject, new TextEncoder().encode('{"workflowId": '), true);
    expect(jsonErr.message).toMatch(/not valid JSON/);
    await stillServes('after-undecodable');
  });

  it('an unknown workflow type is refused naming the type and parked as unknown-type', async () => {
    const subject = s.start('no-such-flow');
    const err = await requestError(subject, encodeBody({ workflowId: 'x1' }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/unknown workflow type "no-such-flow"/);
    await expectParked('unknown-type', subject);
    await stillServes('after-unknown-type');
  });

  it('an invalid workflowId in a body is refused naming what is wrong and parked as invalid-id', async () => {
    const subject = s.start('order');
    const err = await requestError(subject, encodeBody({ workflowId: 'has space', input: {} }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/workflowId "has space" contains " "/);
    await expectParked('invalid-id', subject);
    await stillServes('after-invalid-id');
  });

  it('a signal for an unknown run is refused with NOT_FOUND and parked as unknown-run', async () => {
    const subject = s.signal('nobody-here');
    const err = await requestError(subject, encodeBody({ type: 'approve' }));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(/no run for workflowId nobody-here/);
    await expectParked('unknown-run', subject);
    await expect(client.query('nobody-here')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await stillServes('after-unknown-run');
  });

  it('a signal with a bad shape is refused and parked as invalid-input', async () => {
    await client.start(
      'order',
      { orderId: 'o-shape', amount: 100, approvalTimeoutMs: 60_000 },
      { workflowId: 'shape-1' },
    );
    const subject = s.signal('shape-1');
    const err = await requestError(subject, encodeBody({ kind: 'approve' }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toMatch(/signal.type must be a non-empty string/);
    await expectParked('invalid-input', subject);
    await client.cancel('shape-1', 'test over');
    await expect(client.result('shape-1', { timeoutMs: 20_000 })).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('an oversize payload is refused before decoding and parked as oversize', async () => {
    const subject = s.start('order');
    const big = encodeBody({ workflowId: 'big-1', input: { blob: 'x'.repeat(300_000) } });
    const err = await requestError(subject, big);
    expect(err.code).toBe('PAYLOAD_TOO_LARGE');
    expect(err.message).toMatch(/accepts at most 262144/);
    await expectParked('oversize', subject);
    await stillServes('after-oversize');
  });
});
