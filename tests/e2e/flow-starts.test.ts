/**
 * Debounce, singletons and workflow concurrency keys end to end: two routers as separate
 * processes over real NATS and a real MongoDB-protocol server, driven by the client (and raw
 * JSON for what the client refuses to send). Queued starts are seen waiting in their key's
 * flow document before the run ahead of them is finished.
 */

import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { InvalidInputError, NotFoundError, StartSkippedError, StartSupersededError } from '../../shared/errors.js';
import { FlowState, flowSubject, type RunSlotsDoc } from '../../shared/flow/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';
import { trackForFile } from '../harness/resources.js';
import { FLOW_FIXTURES } from './flow-helpers.js';
import { jsonHeaders, parseJson } from './json-wire.js';
import { type ServiceEnv, startService } from './processes.js';

let env: ServiceEnv;
let client: SquallClient;
let flow: FlowState;

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  await Promise.all([
    startService('router-1', ['router', '--workflows', FLOW_FIXTURES.workflows], env),
    startService('router-2', ['router', '--workflows', FLOW_FIXTURES.workflows], env),
  ]);
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
  const nc = await natsConnect({ servers: env.natsUrl });
  trackForFile(() => nc.close());
  flow = new FlowState({ js: jetstream(nc), jsm: await jetstreamManager(nc), prefix: env.prefix });
  return async () => {
    await client.close();
  };
});

/** The start keys waiting in line in a run-slots document. */
async function waiting(kind: 'singleton' | 'runs', type: string, key: string): Promise<number> {
  const doc = await flow.read<RunSlotsDoc>(flowSubject(env.prefix, kind, type, key));
  return doc.value?.waiters.length ?? 0;
}

async function isStarted(workflowId: string): Promise<boolean> {
  return client.describe(workflowId).then(
    () => true,
    (err: unknown) => {
      if (err instanceof NotFoundError) return false;
      throw err;
    },
  );
}

describe('flow control of starts', () => {
  it('debounce collapses 50 starts into one run: the last; the 49 others are superseded', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `deb-${i}`);
    const settled = await Promise.allSettled(
      ids.map((workflowId, i) => client.start('quick', { i }, { workflowId, debounce: { key: 'k1', windowMs: 1000 } })),
    );
    const ran = settled.flatMap((s, i) => (s.status === 'fulfilled' ? [ids[i] as string] : []));
    expect(ran).toHaveLength(1);
    const rejected = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    expect(rejected).toHaveLength(49);
    for (const e of rejected) {
      expect(e).toBeInstanceOf(StartSupersededError);
      expect((e as StartSupersededError).code).toBe('START_SUPERSEDED');
    }
    const winner = ran[0] as string;
    expect(await client.result(winner, { timeoutMs: 20_000 })).toEqual({ i: ids.indexOf(winner) });
    const started = await Promise.all(ids.map(isStarted));
    expect(started.filter(Boolean)).toHaveLength(1);
    // The key takes new starts after its window: a later start runs on its own.
    const next = await client.start(
      'quick',
      { i: 99 },
      { workflowId: 'deb-next', debounce: { key: 'k1', windowMs: 200 } },
    );
    expect(next.created).toBe(true);
  }, 60_000);

  it('singleton skip: a start while the key is open is skipped; after the close one starts', async () => {
    const singleton = { key: 's1', mode: 'skip' } as const;
    expect((await client.start('held', undefined, { workflowId: 'skip-1', singleton })).created).toBe(true);
    const skipped = await client.start('held', undefined, { workflowId: 'skip-2', singleton }).catch((e: unknown) => e);
    expect(skipped).toBeInstanceOf(StartSkippedError);
    expect((skipped as StartSkippedError).message).toMatch(/run skip-1 with singleton key "s1" is open/);
    expect(await isStarted('skip-2')).toBe(false);
    await client.signal('skip-1', { type: 'finish' });
    await client.result('skip-1', { timeoutMs: 10_000 });
    expect((await client.start('held', undefined, { workflowId: 'skip-3', singleton })).created).toBe(true);
  });

  it('singleton queue: a start while the key is open starts once the open run closes', async () => {
    const singleton = { key: 'q1', mode: 'queue' } as const;
    await client.start('held', undefined, { workflowId: 'queue-1', singleton });
    const second = client.start('held', undefined, { workflowId: 'queue-2', singleton });
    await waitFor('queue-2 waiting in line', async () => (await waiting('singleton', 'held', 'q1')) === 1);
    expect(await isStarted('queue-2')).toBe(false);
    await client.signal('queue-1', { type: 'finish' });
    expect((await second).created).toBe(true);
    const [first, next] = await Promise.all([client.describe('queue-1'), client.describe('queue-2')]);
    expect(first.status).toBe('completed');
    expect(next.startedAt).toBeGreaterThanOrEqual(first.closedAt ?? Number.POSITIVE_INFINITY);
  }, 30_000);

  it('a workflow concurrency key of 2: the third open run of a key waits, in order, other keys do not', async () => {
    await client.start('gated', { key: 'g' }, { workflowId: 'gated-1' });
    await client.start('gated', { key: 'g' }, { workflowId: 'gated-2' });
    const third = client.start('gated', { key: 'g' }, { workflowId: 'gated-3' });
    await waitFor('gated-3 waiting in line', async () => (await waiting('runs', 'gated', 'g')) === 1);
    const fourth = client.start('gated', { key: 'g' }, { workflowId: 'gated-4' });
    await waitFor('gated-4 waiting in line', async () => (await waiting('runs', 'gated', 'g')) === 2);
    // Another key is not held up by this one.
    expect((await client.start('gated', { key: 'other' }, { workflowId: 'gated-other' })).created).toBe(true);
    expect(await isStarted('gated-3')).toBe(false);
    await client.signal('gated-1', { type: 'finish' });
    expect((await third).created).toBe(true);
    expect(await isStarted('gated-4')).toBe(false);
    await client.signal('gated-2', { type: 'finish' });
    expect((await fourth).created).toBe(true);
  }, 40_000);

  it('bad flow options get a clear error naming them, from the client and from the router', async () => {
    const bad = (opts: object) =>
      client.start('held', undefined, { workflowId: 'bad-1', ...opts }).catch((e: unknown) => e);
    const zero = await bad({ debounce: { key: 'k', windowMs: 0 } });
    expect(zero).toBeInstanceOf(InvalidInputError);
    expect((zero as Error).message).toMatch(/debounce\.windowMs: must be an integer from 1/);
    const mode = await bad({ singleton: { key: 'k', mode: 'sometimes' } });
    expect((mode as Error).message).toMatch(/singleton\.mode: must be one of skip, queue, got "sometimes"/);
    const empty = await bad({ singleton: { key: '', mode: 'skip' } });
    expect((empty as Error).message).toMatch(/singleton\.key: must not be empty/);
    // Raw JSON skips the client's checks: the router names the field.
    const raw = await client.nc.request(
      `${env.prefix}.start.held`,
      JSON.stringify({ workflowId: 'bad-raw', singleton: { key: 'k', mode: 'never' } }),
      { headers: jsonHeaders(), timeout: 10_000 },
    );
    expect(raw.headers?.get('Squall-Error')).toBe('INVALID_INPUT');
    expect(JSON.stringify(parseJson(raw.data))).toMatch(/start\.singleton\.mode: must be one of skip, queue/);
    // A workflow concurrency key function that throws refuses the start, naming the workflow.
    const thrown = await client.start('badGated', { key: 'x' }, { workflowId: 'bad-gated' }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(InvalidInputError);
    expect((thrown as Error).message).toMatch(/workflow badGated concurrency\.key threw: no key here/);
  });
});
