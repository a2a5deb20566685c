import { beforeAll, describe, expect, it } from 'vitest';
import { encodeBody } from '../../shared/bus/codec.js';
import type { SquallClient } from '../../shared/client/index.js';
import { CallbackClosedError, InvalidInputError } from '../../shared/errors.js';
import { subjects as subjectsOf } from '../../shared/names.js';
import { connectNats, waitFor } from '../harness/index.js';
import { readDeadLetters } from './dead-letters.js';
import { jsonHeaders, parseJson } from './json-wire.js';
import { type ServiceEnv, spawnSquall, startEngine } from './processes.js';

const WORKFLOWS = 'tests/fixtures/callbacks/workflows.ts';
let env: ServiceEnv;
let client: SquallClient;

beforeAll(async () => {
  ({ env, client } = await startEngine({ workflows: WORKFLOWS, requestTimeoutMs: 20_000 }));
});

/** Starts an approval run and returns the token it handed to its machine (also shown by query). */
async function startApproval(workflowId: string, input: Record<string, unknown> = {}): Promise<string> {
  await client.start('approval', input, { workflowId });
  let token = '';
  await waitFor(`${workflowId} to hold a callback token`, async () => {
    const q = await client.query(workflowId);
    token = (q.context as { token?: string }).token ?? '';
    return token !== '' && q.pendingCallbacks?.[0]?.token === token;
  });
  return token;
}

type ApprovalOutput = { result?: unknown; error?: { name: string; message: string; code?: string } };

describe('callbacks', () => {
  it('is completed by the client; a completion after the run closed is refused and parked', async () => {
    const token = await startApproval('cb-client');
    expect(await client.completeCallback(token, { by: 'ann' })).toMatchObject({ accepted: true });
    const out = await client.result<ApprovalOutput>('cb-client', { timeoutMs: 20_000 });
    expect(out.result).toEqual({ by: 'ann' });

    const late = await client.completeCallback(token, { by: 'bob' }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(CallbackClosedError);
    expect((late as Error).message).toContain('is completed; its callbacks are closed');

    const nc = await connectNats(env.natsUrl);
    await waitFor('the late completion to be parked', async () =>
      (await readDeadLetters(nc, env.prefix)).some(
        (d) => d.reason === 'closed-run' && d.originalSubject === subjectsOf(env.prefix).callback('complete'),
      ),
    );
    const history = await client.history('cb-client');
    const types = history.commits.flatMap((c) => c.events.map((e) => e.type));
    expect(types.filter((t) => t === 'CallbackCompleted')).toHaveLength(1);
    expect(types).toContain('CallbackCreated');
  });

  it('is completed over raw NATS JSON', async () => {
    const token = await startApproval('cb-wire');
    const nc = await connectNats(env.natsUrl);
    const s = subjectsOf(env.prefix);
    const reply = await nc.request(
      s.callback('complete'),
      encodeBody({ token, output: { by: 'wire' } }, { json: true }),
      {
        headers: jsonHeaders(),
        timeout: 20_000,
      },
    );
    expect(parseJson(reply.data)).toMatchObject({ accepted: true, workflowId: 'cb-wire' });
    const out = await client.result<ApprovalOutput>('cb-wire', { timeoutMs: 20_000 });
    expect(out.result).toEqual({ by: 'wire' });

    const bad = await nc.request(s.callback('complete'), encodeBody({ token: 'nope' }, { json: true }), {
      headers: jsonHeaders(),
      timeout: 20_000,
    });
    expect(bad.headers?.get('Squall-Error')).toBe('INVALID_INPUT');
    expect(JSON.stringify(parseJson(bad.data))).toContain('invalid callback token');
  });

  it('answers a request whose durable copy already moved the run: the same outcome is accepted, another refused', async () => {
    const token = await startApproval('cb-race');
    const nc = await connectNats(env.natsUrl);
    const s = subjectsOf(env.prefix);
    // A plain publish reaches only the inbox stream, as the durable copy of a request does when
    // the router takes it before the request itself is answered.
    nc.publish(s.callback('complete'), encodeBody({ token, output: { by: 'race' } }, { json: true }), {
      headers: jsonHeaders(),
    });
    const out = await client.result<ApprovalOutput>('cb-race', { timeoutMs: 20_000 });
    expect(out.result).toEqual({ by: 'race' });
    expect(await client.completeCallback(token, { by: 'race' })).toMatchObject({
      accepted: true,
      workflowId: 'cb-race',
    });
    await expect(client.completeCallback(token, { by: 'other' })).rejects.toBeInstanceOf(CallbackClosedError);
    await expect(client.failCallback(token, { message: 'late' })).rejects.toBeInstanceOf(CallbackClosedError);
  });

  it('is failed by the client, and from the CLI', async () => {
    const token = await startApproval('cb-fail');
    await client.failCallback(token, { name: 'Rejected', message: 'no budget', code: 'BUDGET' });
    const out = await client.result<ApprovalOutput>('cb-fail', { timeoutMs: 20_000 });
    expect(out.error).toMatchObject({ name: 'Rejected', message: 'no budget', code: 'BUDGET' });

    const cliToken = await startApproval('cb-cli');
    const p = spawnSquall('cli', ['fail-callback', cliToken, '--error', 'declined by cli'], env);
    expect(await p.exited).toBe(0);
    expect(p.logs[0]).toMatchObject({ accepted: true, workflowId: 'cb-cli' });
    const cliOut = await client.result<ApprovalOutput>('cb-cli', { timeoutMs: 20_000 });
    expect(cliOut.error).toMatchObject({ message: 'declined by cli' });

    const again = spawnSquall('cli', ['complete-callback', cliToken, '--output', '{"by":"late"}'], env);
    expect(await again.exited).toBe(1);
  });

  it('times out on a durable timer with a TimeoutError', async () => {
    const token = await startApproval('cb-timeout', { timeoutMs: 1500 });
    const out = await client.result<ApprovalOutput>('cb-timeout', { timeoutMs: 30_000 });
    expect(out.error).toMatchObject({ name: 'TimeoutError', code: 'TIMEOUT' });
    const types = (await client.history('cb-timeout')).commits.flatMap((c) => c.events.map((e) => e.type));
    expect(types).toEqual(
      expect.arrayContaining(['CallbackCreated', 'TimerScheduled', 'TimerFired', 'CallbackTimedOut']),
    );
    await expect(client.completeCallback(token, 1)).rejects.toBeInstanceOf(CallbackClosedError);
  });

  it('a duplicate completion of an open run moves it once: refused, recorded as ignored and parked', async () => {
    const token = await startApproval('cb-dup', { keepOpen: true });
    await client.completeCallback(token, { by: 'first' });
    await waitFor('the run to hold', async () => (await client.query('cb-dup')).value === 'holding');
    const refused = await client.completeCallback(token, { by: 'second' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CallbackClosedError);
    expect((refused as Error).message).toContain('was already completed');

    // A plain publish skips the request check: the durable copy is what the router must refuse.
    const nc = await connectNats(env.natsUrl);
    nc.publish(
      subjectsOf(env.prefix).callback('complete'),
      encodeBody({ token, output: { by: 'third' } }, { json: true }),
      {
        headers: jsonHeaders(),
      },
    );
    await waitFor('the duplicate to be parked', async () =>
      (await readDeadLetters(nc, env.prefix)).some((d) => d.reason === 'callback-closed'),
    );
    // The refused request's durable copy and the plain publish: both recorded as ignored.
    await waitFor('both duplicates to be recorded', async () => {
      const events = (await client.history('cb-dup')).commits.flatMap((c) => c.events);
      return events.filter((e) => e.type === 'CallbackCompleted').length === 3;
    });
    const completions = (await client.history('cb-dup')).commits
      .flatMap((c) => c.events)
      .filter((e) => e.type === 'CallbackCompleted');
    expect(completions.map((e) => (e as { ignored?: string }).ignored)).toEqual([undefined, 'stale', 'stale']);
    await waitFor(
      'both duplicates to be parked',
      async () => (await readDeadLetters(nc, env.prefix)).filter((d) => d.reason === 'callback-closed').length === 2,
    );
    expect((await client.query('cb-dup')).context).toMatchObject({ result: { by: 'first' } });
    await client.signal('cb-dup', { type: 'finish' });
    expect(await client.result<ApprovalOutput>('cb-dup', { timeoutMs: 20_000 })).toMatchObject({
      result: { by: 'first' },
    });
  });

  it('refuses a malformed token before sending', async () => {
    await expect(client.completeCallback('cb1_garbage')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(client.failCallback('x', 'no')).rejects.toBeInstanceOf(InvalidInputError);
  });
});
