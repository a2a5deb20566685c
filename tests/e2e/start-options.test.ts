/**
 * Start options end to end, with a router process over real NATS and a real MongoDB-protocol
 * server: signal-with-start (client, raw NATS JSON, CLI, racing callers), starts deduplicated by
 * `Nats-Msg-Id`, memo and search attributes (set at start, upserted by the machine, filtered by
 * `list`), and the errors bad values get.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { InvalidInputError } from '../../shared/errors.js';
import { streamNames, subjects as subjectsOf } from '../../shared/names.js';
import { connectNats, waitFor } from '../harness/index.js';
import { readDeadLetters } from './dead-letters.js';
import { jsonHeaders, parseJson } from './json-wire.js';
import { type ServiceEnv, spawnSquall, startEngine } from './processes.js';

const WORKFLOWS = 'tests/fixtures/callbacks/workflows.ts';
let env: ServiceEnv;
let client: SquallClient;

beforeAll(async () => {
  ({ env, client } = await startEngine({ workflows: WORKFLOWS, timer: false, requestTimeoutMs: 20_000 }));
});

/** Runs the CLI against the test's namespace; resolves with its stdout lines and exit code. */
async function cli(args: string[]): Promise<{ code: number | string; lines: Record<string, unknown>[] }> {
  const p = spawnSquall('cli', args, env);
  const code = await p.exited;
  return { code, lines: p.logs };
}

describe('signal-with-start', () => {
  it('starts a run with the signal when none is open, then signals the open run', async () => {
    const first = await client.signalWithStart(
      'cart',
      'sws-1',
      { type: 'add', item: 'tea' },
      { input: { customer: 'c1' } },
    );
    expect(first).toMatchObject({ workflowId: 'sws-1', started: true });
    const second = await client.signalWithStart('cart', 'sws-1', { type: 'add', item: 'milk' }, { input: { x: 1 } });
    expect(second).toEqual({ workflowId: 'sws-1', runId: first.runId, started: false });
    const q = await client.query('sws-1');
    expect(q.context).toEqual({ customer: 'c1', items: ['tea', 'milk'] });

    const history = await client.history('sws-1');
    expect(history.commits[0]?.events.map((e) => e.type)).toContain('SignalReceived');
    expect(history.commits[0]?.events[0]).toMatchObject({ type: 'RunStarted', signal: { type: 'add', item: 'tea' } });

    await client.signal('sws-1', { type: 'checkout' });
    expect(await client.result('sws-1', { timeoutMs: 20_000 })).toEqual({ customer: 'c1', items: ['tea', 'milk'] });
    // The id is closed now: the next signal-with-start opens a new run.
    const third = await client.signalWithStart('cart', 'sws-1', { type: 'add', item: 'jam' });
    expect(third.started).toBe(true);
    expect(third.runId).not.toBe(first.runId);
  });

  it('racing callers on one workflowId create one run and lose no signal', async () => {
    const n = 8;
    const racing = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        connect({ servers: env.natsUrl, prefix: env.prefix, requestTimeoutMs: 20_000 }).then(async (c) => {
          try {
            return await c.signalWithStart('cart', 'sws-race', { type: 'add', item: `i${i}` });
          } finally {
            await c.close();
          }
        }),
      ),
    );
    const runIds = new Set(racing.map((r) => r.runId));
    expect(runIds.size).toBe(1);
    expect(racing.filter((r) => r.started)).toHaveLength(1);
    await client.signal('sws-race', { type: 'checkout' });
    const out = await client.result<{ items: string[] }>('sws-race', { timeoutMs: 20_000 });
    expect([...out.items].sort()).toEqual(Array.from({ length: n }, (_, i) => `i${i}`).sort());
  });

  it('works over raw NATS JSON with a signal field on the start body', async () => {
    const nc = await connectNats(env.natsUrl);
    const s = subjectsOf(env.prefix);
    const body = { workflowId: 'sws-wire', input: { customer: 'w' }, signal: { type: 'add', item: 'wire' } };
    const reply = await nc.request(s.start('cart'), encodeBody(body, { json: true }), {
      headers: jsonHeaders(),
      timeout: 20_000,
    });
    const answer = parseJson(reply.data);
    expect(answer).toMatchObject({ workflowId: 'sws-wire', created: true });
    expect((await client.query('sws-wire')).context).toEqual({ customer: 'w', items: ['wire'] });

    const noId = await nc.request(s.start('cart'), encodeBody({ signal: { type: 'add' } }, { json: true }), {
      headers: jsonHeaders(),
      timeout: 20_000,
    });
    expect(noId.headers?.get('Squall-Error')).toBe('INVALID_INPUT');
    expect(JSON.stringify(parseJson(noId.data))).toContain('needs a workflowId');
  });

  it('works from the CLI', async () => {
    const started = await cli(['start', 'cart', '--id', 'sws-cli', '--signal', '{"type":"add","item":"cli"}']);
    expect(started.code).toBe(0);
    expect(started.lines[0]).toMatchObject({ workflowId: 'sws-cli', started: true });
    const again = await cli(['start', 'cart', '--id', 'sws-cli', '--signal', '{"type":"add","item":"two"}']);
    expect(again.lines[0]).toMatchObject({ workflowId: 'sws-cli', started: false, runId: started.lines[0]?.runId });
    expect((await client.query('sws-cli')).context).toMatchObject({ items: ['cli', 'two'] });
  });

  it('refuses a reserved signal type before sending', async () => {
    await expect(client.signalWithStart('cart', 'sws-bad', { type: 'xstate.init' })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
  });
});

describe('start deduplication by Nats-Msg-Id', () => {
  it('a start published twice with one Nats-Msg-Id makes one run, even after that run closed', async () => {
    const nc = await connectNats(env.natsUrl);
    const s = subjectsOf(env.prefix);
    const h = jsonHeaders();
    h.set('Nats-Msg-Id', 'dedup-start-1');
    const body = encodeBody({ workflowId: 'dedup-1', searchAttributes: { batch: 'dedup' } }, { json: true });
    // Plain publishes (no reply subject): only the inbox stream's copy counts.
    nc.publish(s.start('cart'), body, { headers: h });
    await waitFor('the run to start', async () => (await client.list({ where: { batch: 'dedup' } })).runs.length > 0, {
      timeoutMs: 20_000,
    });
    await client.signal('dedup-1', { type: 'checkout' });
    await client.result('dedup-1', { timeoutMs: 20_000 });
    // The done message goes out right after the commit; the summary may land a moment later.
    await waitFor('the summary to show the run closed', async () =>
      (await client.list({ where: { batch: 'dedup' } })).runs.every((r) => r.status === 'completed'),
    );
    const inbox = streamNames(env.prefix).inbox;
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info(inbox)).state.last_seq;
    // Without deduplication this copy would open a second run of the closed id (returnExisting).
    nc.publish(s.start('cart'), body, { headers: h });
    await nc.flush();
    const marker = await client.start('cart', undefined, { workflowId: 'dedup-marker' });
    expect(marker.created).toBe(true);
    // The marker is the only message stored since: the copy was dropped by the stream.
    expect((await jsm.streams.info(inbox)).state.last_seq).toBe(before + 1);
    const runs = (await client.list({ where: { batch: 'dedup' } })).runs;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ workflowId: 'dedup-1', status: 'completed' });
  });

  it('a start request retried with the same Nats-Msg-Id is answered with the run it created', async () => {
    const nc = await connectNats(env.natsUrl);
    const s = subjectsOf(env.prefix);
    const h = jsonHeaders();
    h.set('Nats-Msg-Id', 'dedup-req-1');
    const body = encodeBody({ workflowId: 'dedup-2', input: { customer: 'r' } }, { json: true });
    const a = parseJson((await nc.request(s.start('cart'), body, { headers: h, timeout: 20_000 })).data);
    const b = parseJson((await nc.request(s.start('cart'), body, { headers: h, timeout: 20_000 })).data);
    expect(a).toMatchObject({ workflowId: 'dedup-2', created: true });
    expect(b).toEqual(a);
  });
});

describe('memo and search attributes', () => {
  it('stores them on the run, returns them from describe and filters list by them', async () => {
    const started = await client.start(
      'cart',
      { customer: 'c7' },
      {
        workflowId: 'attrs-1',
        memo: { source: 'web', tags: ['a', 'b'] },
        searchAttributes: { customer: 'c7', priority: 2, vip: true },
      },
    );
    await client.start('cart', { customer: 'c8' }, { workflowId: 'attrs-2', searchAttributes: { customer: 'c8' } });
    const described = await client.describe('attrs-1');
    expect(described.memo).toEqual({ source: 'web', tags: ['a', 'b'] });
    expect(described.searchAttributes).toEqual({ customer: 'c7', priority: 2, vip: true, stage: 'open' });

    // Summaries are written behind the start (at once, not awaited, when attributes are set).
    const byCustomer = await waitFor('both runs in list', async () => {
      const page = await client.list({ where: { customer: 'c7' } });
      return (await client.list({ where: { customer: 'c8' } })).runs.length === 1 && page.runs.length === 1
        ? page
        : undefined;
    });
    expect(byCustomer.runs.map((r) => r.runId)).toEqual([started.runId]);
    expect(
      (await client.list({ where: { customer: 'c7', vip: true }, type: 'cart', status: 'running' })).runs,
    ).toHaveLength(1);
    expect((await client.list({ where: { customer: 'c7', vip: false } })).runs).toHaveLength(0);
    // Values match with their type: the number 2, not the string "2".
    expect((await client.list({ where: { priority: '2' } })).runs).toHaveLength(0);
    expect((await client.list({ where: { priority: 2 } })).runs).toHaveLength(1);
  });

  it('picks up attributes the machine upserts while it runs', async () => {
    await client.start('cart', { customer: 'u1' }, { workflowId: 'attrs-up', searchAttributes: { owner: 'up' } });
    await client.signal('attrs-up', { type: 'add', item: 'x' });
    await client.signal('attrs-up', { type: 'add', item: 'y' });
    await waitFor(
      'list to see items=2',
      async () => (await client.list({ where: { owner: 'up', items: 2 } })).runs.length === 1,
      { timeoutMs: 20_000 },
    );
    await client.signal('attrs-up', { type: 'checkout' });
    await client.result('attrs-up', { timeoutMs: 20_000 });
    // The done message goes out right after the commit; the summary may land a moment later.
    await waitFor(
      'list to see the closed run',
      async () => (await client.list({ where: { owner: 'up', stage: 'checkedOut' } })).runs.length === 1,
    );
    const done = await client.list({ where: { owner: 'up', stage: 'checkedOut' } });
    expect(done.runs).toHaveLength(1);
    expect(done.runs[0]).toMatchObject({ status: 'completed', searchAttributes: { owner: 'up', items: 2 } });
    const history = await client.history('attrs-up');
    const upserts = history.commits.flatMap((c) => c.events).filter((e) => e.type === 'SearchAttributesUpserted');
    expect(upserts.map((e) => (e as { attributes: unknown }).attributes)).toEqual([
      { stage: 'open' },
      { items: 1 },
      { items: 2 },
      { stage: 'checkedOut' },
    ]);
  });

  it('sets and filters them from the CLI', async () => {
    const started = await cli(['start', 'cart', '--id', 'attrs-cli', '--attr', 'region=eu', '--attr', 'tier=3']);
    expect(started.code).toBe(0);
    const listed = await cli(['list', '--where', 'region=eu', '--where', 'tier=3']);
    expect(listed.code).toBe(0);
    expect(listed.lines.map((l) => l.workflowId)).toEqual(['attrs-cli']);
  });

  it('answers bad values with InvalidInputError and parks a bad start', async () => {
    await expect(client.start('cart', undefined, { searchAttributes: { 'a.b': 1 } })).rejects.toThrow(
      /key "a.b" is invalid/,
    );
    await expect(client.start('cart', undefined, { memo: { $x: 1 } })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(client.list({ where: { k: [1] as never } })).rejects.toBeInstanceOf(InvalidInputError);

    const nc = await connectNats(env.natsUrl);
    const s = subjectsOf(env.prefix);
    const bad = encodeBody({ workflowId: 'attrs-bad', searchAttributes: { n: 'x'.repeat(300) } }, { json: true });
    const reply = await nc.request(s.start('cart'), bad, { headers: jsonHeaders(), timeout: 20_000 });
    expect(reply.headers?.get('Squall-Error')).toBe('INVALID_INPUT');
    expect(JSON.stringify(parseJson(reply.data))).toContain('300 characters long');
    const list = await nc.request(s.api('list'), encodeBody({ where: { $ne: 1 } }, { json: true }), {
      headers: jsonHeaders(),
      timeout: 20_000,
    });
    expect(list.headers?.get('Squall-Error')).toBe('INVALID_INPUT');
    await waitFor('the bad start to be parked', async () =>
      (await readDeadLetters(nc, env.prefix)).some(
        (d) => d.reason === 'invalid-input' && d.error.includes('300 characters long'),
      ),
    );
  });
});
