import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type Msg, type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeBody, ERROR_HEADER, encodeBody, ensureStreams } from '../../../shared/bus/index.js';
import { keepRequesterWaiting, PROGRESS_HEADER } from '../../../shared/bus/progress.js';
import { connect, MSG_ID_HEADER, REPLY_TO_HEADER, type SquallClient } from '../../../shared/client/index.js';
import {
  AlreadyStartedError,
  CancelledError,
  InvalidInputError,
  NotFoundError,
  TimeoutError,
  toErrorInfo,
  UnavailableError,
  WorkflowFailedError,
} from '../../../shared/errors.js';
import { type Subjects, subjects } from '../../../shared/names.js';
import { connectNats, freshPrefix, natsUrl, privateServers, waitFor } from '../../harness/index.js';

let nc: NatsConnection;
let prefix: string;
let s: Subjects;
let client: SquallClient;

beforeEach(async () => {
  nc = await connectNats();
  prefix = freshPrefix();
  s = subjects(prefix);
  client = await connect({ servers: natsUrl(), prefix, requestTimeoutMs: 300, attempts: 3, resultPollMs: 200 });
});

afterEach(async () => {
  await client.close();
});

/**
 * Answers requests on `subject` with `answer(msg, n)` (n counts from 1); undefined = stay silent.
 * Resolves once the server has the subscription, so the client's first request reaches it.
 */
async function respond(subject: string, answer: (msg: Msg, n: number) => unknown): Promise<Msg[]> {
  const seen: Msg[] = [];
  nc.subscribe(subject, {
    callback: (_err, msg) => {
      seen.push(msg);
      const body = answer(msg, seen.length);
      if (body !== undefined) msg.respond(encodeBody(body));
    },
  });
  await nc.flush();
  return seen;
}

/** Answers every request on `subject` with an error reply, as a router does. */
async function respondWithError(subject: string, err: Error & { code: string }): Promise<void> {
  nc.subscribe(subject, {
    callback: (_e, msg) => {
      const h = natsHeaders();
      h.set(ERROR_HEADER, err.code);
      msg.respond(encodeBody({ error: toErrorInfo(err) }), { headers: h });
    },
  });
  await nc.flush();
}

async function publishDone(type: string, body: Record<string, unknown>): Promise<void> {
  await jetstream(nc).publish(s.done(type, body.workflowId as string), encodeBody(body));
}

describe('validation before sending', () => {
  it('refuses bad ids, events and paging with InvalidInputError and sends nothing', async () => {
    const sent: string[] = [];
    nc.subscribe(`${prefix}.>`, {
      callback: (_e, m) => {
        sent.push(m.subject);
      },
    });
    await nc.flush();
    const attempts: [string, () => Promise<unknown>][] = [
      ['workflowType "or.der"', () => client.start('or.der')],
      ['workflowId "a b"', () => client.start('order', {}, { workflowId: 'a b' })],
      ['workflowId "a*"', () => client.signal('a*', { type: 'approve' })],
      ['non-empty string "type"', () => client.signal('o1', { type: '' })],
      ['reserved', () => client.signal('o1', { type: 'xstate.done.actor.x' })],
      ['must be an object', () => client.signal('o1', null as never)],
      ['workflowId "a>b"', () => client.query('a>b')],
      ['workflowId must not be empty', () => client.result('')],
      ['runId "r.1"', () => client.describe('o1', { runId: 'r.1' })],
      ['fromSeq must be a positive integer', () => client.history('o1', { fromSeq: 0 })],
      ['limit must be a positive integer', () => client.list({ limit: -1 })],
      ['cancel reason must be a string', () => client.cancel('o1', 5 as never)],
    ];
    for (const [message, fn] of attempts) {
      const err = await fn().catch((e: unknown) => e);
      expect(err, message).toBeInstanceOf(InvalidInputError);
      expect((err as Error).message).toContain(message);
    }
    await nc.flush();
    expect(sent).toEqual([]);
  });
});

describe('request/reply', () => {
  it('starts with a generated workflowId, a msg id and a reply-to header', async () => {
    const seen = await respond(s.all.start, (msg) => {
      const body = decodeBody(msg.data, msg.headers, msg.subject) as { workflowId: string };
      return { workflowId: body.workflowId, runId: 'run-1', created: true };
    });
    const started = await client.start('order', { orderId: 'o1' });
    expect(started).toMatchObject({ runId: 'run-1', created: true });
    expect(started.workflowId).toMatch(/^[0-9a-f-]{36}$/);
    const req = seen[0] as Msg;
    expect(req.subject).toBe(s.start('order'));
    expect(decodeBody(req.data, req.headers, req.subject)).toEqual({
      workflowId: started.workflowId,
      input: { orderId: 'o1' },
    });
    expect(req.headers?.get(MSG_ID_HEADER)).toMatch(/^[0-9a-f-]{36}$/);
    expect(req.headers?.get(REPLY_TO_HEADER)).toBe(req.reply);
  });

  it('re-sends a start with the same msg id and reply inbox when no reply comes', async () => {
    const seen = await respond(s.all.start, (_msg, n) =>
      n < 3 ? undefined : { workflowId: 'o1', runId: 'r1', created: true },
    );
    const started = await client.start('order', {}, { workflowId: 'o1', idReusePolicy: 'rejectWhileOpen' });
    expect(started).toEqual({ workflowId: 'o1', runId: 'r1', created: true });
    expect(seen).toHaveLength(3);
    const ids = new Set(seen.map((m) => m.headers?.get(MSG_ID_HEADER)));
    const inboxes = new Set(seen.map((m) => m.reply));
    expect(ids.size).toBe(1);
    expect(inboxes.size).toBe(1);
    expect(decodeBody(seen[0]?.data as Uint8Array, undefined, 'x')).toMatchObject({ idReusePolicy: 'rejectWhileOpen' });
  });

  it('takes a late reply to an earlier attempt (the router answers the first copy only)', async () => {
    const seen = await respond(s.all.start, () => undefined);
    const pending = client.start('order', {}, { workflowId: 'o1' });
    await waitFor('two attempts', () => seen.length >= 2);
    // Answer the first copy, as a router does after JetStream dropped the duplicate.
    (seen[0] as Msg).respond(encodeBody({ workflowId: 'o1', runId: 'r1', created: true }));
    await expect(pending).resolves.toEqual({ workflowId: 'o1', runId: 'r1', created: true });
  });

  it('accepts the router’s started notice for its own msg id', async () => {
    await respond(s.all.start, (msg) => {
      const msgId = msg.headers?.get(MSG_ID_HEADER);
      // Someone else's start first, then ours: only ours may resolve the call.
      nc.publish(s.started('o1'), encodeBody({ workflowId: 'o1', runId: 'other', created: true, msgId: 'nope' }));
      nc.publish(s.started('o1'), encodeBody({ workflowId: 'o1', runId: 'r1', created: true, msgId }));
      return undefined;
    });
    await expect(client.start('order', {}, { workflowId: 'o1' })).resolves.toMatchObject({ runId: 'r1' });
  });

  it('waits through progress notices past every attempt, sending once, and stops when they stop', async () => {
    // A router deciding slowly: notices every third of the client's 300 ms, then the reply (after
    // 3 × 300 ms, where the client would otherwise have given up), sent by the test when it is ready.
    let stop = (): void => {};
    const seen = await respond(s.all.signal, (msg) => {
      stop = keepRequesterWaiting(msg);
      return undefined;
    });
    const pending = client.signal('o1', { type: 'go' });
    await waitFor('the request', () => seen.length === 1);
    expect(seen[0]?.headers?.get(PROGRESS_HEADER)).toBe('300');
    await new Promise((r) => setTimeout(r, 1500));
    stop();
    (seen[0] as Msg).respond(encodeBody({ accepted: true, workflowId: 'o1', runId: 'r1' }));
    await expect(pending).resolves.toMatchObject({ accepted: true, runId: 'r1' });
    expect(seen).toHaveLength(1);

    // Notices that stop (the router died): the attempt times out and the client sends again.
    const again = await respond(s.all.cancel, (msg, n) => {
      if (n === 1) keepRequesterWaiting(msg)(); // started and stopped at once: no notice
      if (n === 1) return undefined;
      return { accepted: true, workflowId: 'o1', runId: 'r1' };
    });
    await expect(client.cancel('o1')).resolves.toMatchObject({ accepted: true });
    expect(again).toHaveLength(2);
  });

  it('throws UnavailableError after the last attempt times out', async () => {
    const seen = await respond(s.all.start, () => undefined);
    const err = await client.start('order', {}, { workflowId: 'o1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/no reply within 300 ms after 3 attempts/);
    expect(seen).toHaveLength(3);
  });

  it('throws UnavailableError when nobody answers queries', async () => {
    const err = await client.query('o1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/no responders after 3 attempts; is a router running\?/);
  });

  it('rebuilds typed errors from error replies', async () => {
    await respondWithError(s.all.start, new AlreadyStartedError('workflowId o1 is taken by open run r0'));
    await respondWithError(
      s.all.signal,
      new NotFoundError('no run for workflowId o1', { details: { workflowId: 'o1' } }),
    );
    await respondWithError(s.all.query, new InvalidInputError('bad query'));

    const started = await client.start('order', {}, { workflowId: 'o1' }).catch((e: unknown) => e);
    expect(started).toBeInstanceOf(AlreadyStartedError);
    expect((started as Error).message).toBe('workflowId o1 is taken by open run r0');

    const signalled = await client.signal('o1', { type: 'approve' }).catch((e: unknown) => e);
    expect(signalled).toBeInstanceOf(NotFoundError);
    expect((signalled as NotFoundError).details).toEqual({ remote: { workflowId: 'o1' } });

    await expect(client.query('o1')).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('sends signal, cancel, query and admin bodies as agreed, and reads JSON replies', async () => {
    const bodies: Record<string, unknown> = {};
    const record = (subject: string, reply: unknown) =>
      respond(subject, (msg) => {
        bodies[msg.subject] = decodeBody(msg.data, msg.headers, msg.subject);
        return reply;
      });
    await record(s.all.signal, { accepted: true });
    await record(s.all.cancel, { accepted: true });
    await record(s.all.api, { runId: 'r1', status: 'running', commits: [], runs: [] });
    // Query replies in JSON, as a reply to a JSON request would be.
    nc.subscribe(s.all.query, {
      callback: (_e, msg) => {
        const h = natsHeaders();
        h.set('content-type', 'application/json');
        const json = JSON.stringify({ runId: 'r1', status: 'running', accepts: ['approve'] });
        msg.respond(new TextEncoder().encode(json), { headers: h });
      },
    });
    await nc.flush();

    expect(await client.signal('o1', { type: 'approve', by: 'me' })).toEqual({ accepted: true });
    expect(await client.cancel('o1', 'changed mind')).toEqual({ accepted: true });
    expect(await client.query('o1')).toMatchObject({ accepts: ['approve'] });
    await client.describe('o1');
    await client.history('o1', { fromSeq: 2, limit: 10 });
    await client.list({ status: 'running', workflowType: 'order' });

    expect(bodies).toEqual({
      [s.signal('o1')]: { type: 'approve', by: 'me' },
      [s.cancel('o1')]: { reason: 'changed mind' },
      [s.api('describe')]: { workflowId: 'o1' },
      [s.api('history')]: { workflowId: 'o1', fromSeq: 2, limit: 10 },
      [s.api('list')]: { status: 'running', workflowType: 'order' },
    });
  });
});

describe('result', () => {
  beforeEach(async () => {
    await ensureStreams(await jetstreamManager(nc), prefix);
  });

  it('resolves for a run that completed before the call', async () => {
    await publishDone('order', { workflowId: 'o1', runId: 'r1', status: 'completed', output: { ok: 1 } });
    await expect(client.result('o1')).resolves.toEqual({ ok: 1 });
  });

  it('answers with the newest completion when no runId is given', async () => {
    await publishDone('order', { workflowId: 'o5', runId: 'r1', status: 'completed', output: 'first' });
    await publishDone('order', { workflowId: 'o5', runId: 'r2', status: 'completed', output: 'second' });
    await expect(client.result('o5')).resolves.toBe('second');
    await expect(client.result('o5', { runId: 'r1' })).resolves.toBe('first');
  });

  it('waits for a completion that comes later', async () => {
    const pending = client.result('o2', { runId: 'r2' });
    await new Promise((r) => setTimeout(r, 100));
    await publishDone('order', { workflowId: 'o2', runId: 'r2', status: 'completed', output: 'late' });
    await expect(pending).resolves.toBe('late');
  });

  it('skips an older run of the same workflowId and follows continue-as-new', async () => {
    await publishDone('order', { workflowId: 'o3', runId: 'old', status: 'completed', output: 'old' });
    const pending = client.result('o3', { runId: 'r3' });
    await publishDone('order', { workflowId: 'o3', runId: 'r3', status: 'continued' });
    await publishDone('order', { workflowId: 'o3', runId: 'r4', status: 'completed', output: 'new' });
    await expect(pending).resolves.toBe('new');
  });

  it('throws WorkflowFailedError with the remote error as cause, and CancelledError', async () => {
    await publishDone('order', {
      workflowId: 'f1',
      runId: 'r1',
      status: 'failed',
      error: toErrorInfo(new NotFoundError('card declined')),
    });
    const failed = await client.result('f1').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect((failed as Error).message).toBe('run f1 (r1) failed: card declined');
    expect((failed as Error).cause).toBeInstanceOf(NotFoundError);

    await publishDone('order', { workflowId: 'c1', runId: 'r1', status: 'cancelled' });
    await expect(client.result('c1')).rejects.toBeInstanceOf(CancelledError);
  });

  it('times out with TimeoutError', async () => {
    await expect(client.result('never', { timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
  });

  it('waits even when the outcomes stream does not exist yet', async () => {
    const other = await connect({ servers: natsUrl(), prefix: freshPrefix(), resultPollMs: 100 });
    try {
      await expect(other.result('x', { timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
    } finally {
      await other.close();
    }
  });
});

describe('watch', () => {
  it('yields completions and emitted events, filtered by workflowId', async () => {
    const stream = client.watch({ workflowId: 'w1' });
    const seen: unknown[] = [];
    const reading = (async () => {
      for await (const ev of stream) {
        seen.push(ev);
        if (seen.length === 2) break;
      }
    })();
    // The watch has pinned its start ('new') in the outcomes stream: what is stored now is seen.
    await ensureStreams(await jetstreamManager(nc), prefix);
    await stream.ready;
    nc.publish(s.emit('w2'), encodeBody({ workflowId: 'w2', runId: 'r', event: { type: 'other' } }));
    nc.publish(s.emit('w1'), encodeBody({ workflowId: 'w1', runId: 'r', event: { type: 'orderCharged' } }));
    nc.publish(s.done('order', 'w1'), encodeBody({ workflowId: 'w1', runId: 'r', status: 'completed', output: 1 }));
    await reading;
    expect(seen).toEqual([
      {
        kind: 'emit',
        subject: s.emit('w1'),
        seq: 2,
        body: { workflowId: 'w1', runId: 'r', event: { type: 'orderCharged' } },
      },
      {
        kind: 'done',
        subject: s.done('order', 'w1'),
        seq: 3,
        body: { workflowId: 'w1', runId: 'r', status: 'completed', output: 1 },
      },
    ]);
  });

  it('ends the iteration on stop() and on close()', async () => {
    const a = client.watch({ type: 'order' });
    const iterating = (async () => {
      const got: unknown[] = [];
      for await (const ev of a) got.push(ev);
      return got;
    })();
    a.stop();
    await expect(iterating).resolves.toEqual([]);
  });
});

describe('close', () => {
  it('closes while its server is away (reconnecting) instead of failing to drain', async () => {
    const servers = await privateServers();
    const c = await connect({ servers: servers.nats.url, prefix: freshPrefix() });
    servers.nats.kill('SIGKILL');
    await waitFor('nats-server to be gone', () =>
      connectNats(servers.nats.url, { reconnect: false, timeout: 500 }).then(
        () => false,
        () => true,
      ),
    );
    await expect(c.close()).resolves.toBeUndefined();
  });
});
