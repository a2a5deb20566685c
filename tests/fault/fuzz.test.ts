/**
 * Bad input fuzzing: thousands of random and malformed messages on every subject a service
 * consumes (random bytes, wrong types, huge bodies, invalid ids, unknown types and runs), malformed
 * requests, and a flood of signals, while real runs go on. Every real run completes, every service
 * stays up and ready, and every bad durable message is on the dead-letter stream, once, with a
 * reason. `SQUALL_FUZZ_MESSAGES` (default 2000) and `SQUALL_FUZZ_SEED` make a run reproducible.
 */
import { jetstream } from '@nats-io/jetstream';
import { type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HealthReply } from '../../services/common/service.js';
import { decodeBody, encodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { type Subjects, subjects as subjectsOf } from '../../shared/names.js';
import { readDeadLetters } from '../e2e/dead-letters.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, startService } from '../e2e/processes.js';
import { connectNats, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../harness/index.js';

const MESSAGES = Number(process.env.SQUALL_FUZZ_MESSAGES ?? 2000);
const SEED = Number(process.env.SQUALL_FUZZ_SEED ?? Date.now() % 1_000_000);
const REAL_RUNS = 20;
const FLOOD = 300;
const FUZZ_HEADER = 'Fuzz-Id';

let env: ServiceEnv;
let s: Subjects;
let nc: NatsConnection;
let client: SquallClient;
let services: ServiceProcess[];

/** mulberry32: a small seeded generator, so a failing seed can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(async () => {
  env = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  services = [await startService('router', ['router', '--workflows', SAMPLE.workflows], env)];
  services.push(
    ...(await Promise.all([
      startService('executor', ['executor', '--activities', SAMPLE.activities], env),
      startService('timer', ['timer'], env),
    ])),
  );
  s = subjectsOf(env.prefix);
  nc = await connectNats(env.natsUrl);
  client = await connect({ nc, prefix: env.prefix });
  return async () => {
    await client.close();
  };
}, 120_000);

/** One bad message: where it goes, its bytes, and whether it is sent as JSON. */
interface Bad {
  subject: string;
  data: Uint8Array;
  json?: boolean;
  durable: 'inbox' | 'stream';
}

function makeBad(random: () => number, n: number): Bad {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const bytes = (len: number): Uint8Array => {
    const b = new Uint8Array(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(random() * 256);
    b[0] = 0xc1; // never valid MessagePack, so random bytes never decode to a real command by chance
    return b;
  };
  const id = `fz${n}`;
  // (An empty or null start body is valid: it starts a run with a generated id.)
  const wrongTypes: unknown[] = [42, 'start', [1, 2, 3], true, { workflowId: 7 }, { idReusePolicy: 'sometimes' }];
  const badIds = ['has space', 'a*b', 'x>y', 'a/b', 'back\\slash', 'tab\tid', ''];
  const big = (): Uint8Array => encodeBody({ workflowId: id, input: { blob: 'x'.repeat(300_000) } });
  const enc = encodeBody;
  switch (Math.floor(random() * 16)) {
    case 0:
      return { subject: s.start('order'), data: bytes(1 + Math.floor(random() * 200)), durable: 'inbox' };
    case 1:
      return {
        subject: s.start('order'),
        data: new TextEncoder().encode('{"workflowId": '),
        json: true,
        durable: 'inbox',
      };
    case 2:
      return { subject: s.start('order'), data: enc(pick(wrongTypes)), durable: 'inbox' };
    case 3:
      return { subject: s.start(`nope${n % 7}`), data: enc({ workflowId: id }), durable: 'inbox' };
    case 4:
      return { subject: s.start('order'), data: enc({ workflowId: pick(badIds), input: {} }), durable: 'inbox' };
    case 5:
      return { subject: s.start('order'), data: big(), durable: 'inbox' };
    case 6:
      return { subject: s.signal(`ghost-${id}`), data: enc({ type: 'approve' }), durable: 'inbox' };
    case 7:
      return {
        subject: s.signal(`ghost-${id}`),
        data: enc(pick([{ kind: 'approve' }, { type: 'xstate.init' }, [1], 'approve', { type: '' }])),
        durable: 'inbox',
      };
    case 8:
      return { subject: s.cancel(`ghost-${id}`), data: enc({ reason: 42 }), durable: 'inbox' };
    case 9:
      return { subject: s.result(`r-${id}`), data: bytes(1 + Math.floor(random() * 100)), durable: 'stream' };
    case 10:
      return {
        subject: s.result(`r-${id}`),
        data: enc(pick([{ runId: `r-${id}` }, { runId: 5, ok: 'yes' }, [], { ok: true, activitySeq: -1 }])),
        durable: 'stream',
      };
    case 11:
      // Well formed, for a run that does not exist.
      return {
        subject: s.result(`r-${id}`),
        data: enc({ runId: `r-${id}`, workflowId: `w-${id}`, activitySeq: 1, attempt: 1, ok: true, output: 1 }),
        durable: 'stream',
      };
    case 12:
      return {
        subject: s.fired(`r-${id}`),
        data: pick([bytes(20), enc({ runId: `r-${id}`, timerSeq: 'soon' })]),
        durable: 'stream',
      };
    case 13:
      return {
        subject: s.task(pick(['chargeCard', 'shipOrder', 'sendEmail'])),
        data: pick([bytes(50), enc({ runId: `r-${id}`, activity: 'chargeCard' }), enc('task')]),
        durable: 'stream',
      };
    case 14:
      return random() < 0.5
        ? {
            subject: s.timerSchedule(`r-${id}`),
            data: pick([bytes(30), enc({ runId: `r-${id}`, timerSeq: 1, fireAt: 'now' }), enc([])]),
            durable: 'stream',
          }
        : {
            subject: s.timerCancel(`r-${id}`),
            data: pick([bytes(30), enc({ runId: 5, timerSeq: 'first' }), enc([])]),
            durable: 'stream',
          };
    default:
      return { subject: s.result(`r-${id}`), data: big(), durable: 'stream' };
  }
}

describe('fuzz', () => {
  it(`${MESSAGES} bad messages on every subject while real runs complete (seed ${SEED})`, async () => {
    const random = rng(SEED);
    const js = jetstream(nc);
    // Real work first, so it runs among the bad messages.
    const ids = Array.from({ length: REAL_RUNS }, (_, i) => `real-${i}`);
    await Promise.all(
      ids.map((id) => client.start('order', { orderId: id, amount: 10, approvalTimeoutMs: 1_500 }, { workflowId: id })),
    );
    await client.start(
      'order',
      { orderId: 'flooded', amount: 10, approvalTimeoutMs: 600_000 },
      { workflowId: 'flooded' },
    );

    const sent: Record<string, number> = {};
    const fuzzIds = new Set<string>();
    let requestsAnswered = 0;
    for (let n = 0; n < MESSAGES; n++) {
      const bad = makeBad(random, n);
      const h = natsHeaders();
      h.set(FUZZ_HEADER, String(n));
      if (bad.json) h.set('content-type', 'application/json');
      if (bad.durable === 'inbox') nc.publish(bad.subject, bad.data, { headers: h });
      else await js.publish(bad.subject, bad.data, { headers: h });
      fuzzIds.add(String(n));
      const kind = bad.subject.slice(env.prefix.length + 1).split('.')[0] ?? '?';
      sent[kind] = (sent[kind] ?? 0) + 1;
      if (n % 200 === 0) await nc.flush();
    }
    // Malformed requests get error replies; nothing durable, so nothing to park.
    const requests: [string, Uint8Array][] = [
      [s.query('has space'.replace(' ', '_')), encodeBody({})],
      [s.api('describe'), encodeBody('nope')],
      [s.api('history'), encodeBody({ workflowId: 5 })],
      [s.api('list'), encodeBody({ limit: 'many' })],
      [s.api('frobnicate'), encodeBody({})],
      [s.start('order'), new Uint8Array([0xc1])],
    ];
    for (const [subject, data] of requests) {
      const reply = await nc.request(subject, data, { timeout: 10_000 });
      if (reply.headers?.get('Squall-Error')) requestsAnswered++;
    }
    // A flood of signals the run cannot take: each is recorded as ignored, none changes it.
    await Promise.all(
      Array.from({ length: FLOOD }, (_, i) => nc.publish(s.signal('flooded'), encodeBody({ type: 'bogus', i }))),
    );
    await nc.flush();

    for (const id of ids) {
      await expect(client.result(id, { timeoutMs: 120_000 })).resolves.toMatchObject({ status: 'timedOut' });
    }
    await waitFor(
      'the flood to be recorded',
      async () => {
        const h = await client.history('flooded', { limit: 10_000 });
        const n = h.commits.flatMap((c) => c.events).filter((e) => (e as { type: string }).type === 'SignalReceived');
        return n.length === FLOOD;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect((await client.query('flooded')).value).toBe('awaitingApproval');
    await client.cancel('flooded', 'fuzz over');

    // Every bad durable message (the last of them waits out its unknown-run redeliveries) is parked.
    const dead = await waitFor(
      `${MESSAGES} dead letters`,
      async () => {
        const d = await readDeadLetters(nc, env.prefix);
        const seen = new Set(d.map((x) => x.headers[FUZZ_HEADER]).filter((x) => x !== undefined));
        return seen.size === fuzzIds.size ? d : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 2_000 },
    );
    const fuzzed = dead.filter((d) => d.headers[FUZZ_HEADER] !== undefined);
    const reasons: Record<string, number> = {};
    for (const d of fuzzed) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
    expect(fuzzed.every((d) => d.reason !== '' && d.error !== '')).toBe(true);
    expect(fuzzed).toHaveLength(MESSAGES); // each parked exactly once
    expect(requestsAnswered).toBe(requests.length);

    // Everyone still up and ready.
    for (const p of services) expect(p.proc.exitCode, `${p.name} exited`).toBeNull();
    for (const service of ['router', 'executor', 'timer']) {
      const msg = await nc.request(s.health(service), encodeBody({}), { timeout: 5_000 });
      expect(decodeBody(msg.data, msg.headers, msg.subject) as HealthReply).toMatchObject({ live: true, ready: true });
    }
    process.stderr.write(
      `${JSON.stringify({ fuzz: { seed: SEED, messages: MESSAGES, sent, deadLetters: fuzzed.length, reasons, flood: FLOOD, realRuns: REAL_RUNS } })}\n`,
    );
  }, 600_000);
});
