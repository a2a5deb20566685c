/**
 * Direct results (shared/bus/direct-results.ts) against a real nats-server and store: a result
 * goes to the router holding its run's partition and never into the events stream; with no router
 * taking them, results go through the stream; a result offered directly and also published (the
 * reply lost) is recorded once, whichever copy comes first; an offer is declined, never lost,
 * when nobody answers, when the router has no free slot, or when the body is too large.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceHandle } from '../../../services/common/service.js';
import { startExecutor } from '../../../services/executor/executor.js';
import { DirectResults } from '../../../services/router/direct-results.js';
import type { InputMessage } from '../../../services/router/input-message.js';
import { type RouterHandle, startRouter } from '../../../services/router/router.js';
import { decodeBody, encodeBody } from '../../../shared/bus/codec.js';
import { type Bus, connectBus } from '../../../shared/bus/connect.js';
import { DIRECT_MAX_BYTES, offerDirect } from '../../../shared/bus/direct-results.js';
import { type ResultMessage, resultMsgId, type TaskMessage } from '../../../shared/bus/messages.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { createLogger } from '../../../shared/log.js';
import { consumerNames, eventPartition } from '../../../shared/names.js';
import { step, stepsWorkflow } from '../../fixtures/steps.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';

const twoSteps = stepsWorkflow(2);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Engine {
  prefix: string;
  bus: Bus;
  client: SquallClient;
  router: RouterHandle;
}

async function engine(opts: { routerDirect?: boolean; executor?: boolean } = {}): Promise<Engine> {
  const prefix = freshPrefix();
  const router = await startRouter({
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    dbName: freshDbName(),
    prefix,
    workflows: [twoSteps],
    directResults: opts.routerDirect ?? true,
    log: createLogger({ level: 'error' }),
  });
  cleanups.push(() => router.stop());
  if (opts.executor ?? true) {
    const executor: ServiceHandle = await startExecutor({ natsUrl: natsUrl(), prefix, activities: [step] });
    cleanups.push(() => executor.stop());
  }
  const bus = await connectBus({ servers: natsUrl(), prefix });
  cleanups.push(() => bus.close());
  const client = await connect({ servers: natsUrl(), prefix });
  cleanups.push(() => client.close());
  return { prefix, bus, client, router };
}

/** Messages the events stream holds on result subjects. */
async function resultsInStream(bus: Bus): Promise<number> {
  const info = await bus.jsm.streams.info(bus.streams.events, { subjects_filter: bus.subjects.all.result });
  return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

/**
 * The ActivityCompleted events of a workflow's history that count: a copy of a result already
 * recorded is kept as `ignored` (guarantees.md), as a redelivered one is.
 */
async function completions(client: SquallClient, workflowId: string): Promise<{ activitySeq: number }[]> {
  const page = await client.history(workflowId);
  return page.commits
    .flatMap((c) => c.events)
    .filter((e): e is Extract<typeof e, { type: 'ActivityCompleted' }> => e.type === 'ActivityCompleted')
    .filter((e) => e.ignored === undefined);
}

/** The task of activity `step` waiting in the tasks stream (read, not taken: no executor runs). */
async function waitingTask(bus: Bus): Promise<TaskMessage> {
  const m = await waitFor(
    'the task of step in the stream',
    async () =>
      (await bus.jsm.streams.getMessage(bus.streams.tasks, { last_by_subj: bus.subjects.task('step') })) ?? undefined,
  );
  return decodeBody(m.data, m.header, m.subject) as TaskMessage;
}

describe('direct results', () => {
  it('go to the router holding their partition, never into the events stream', async () => {
    const e = await engine();
    const ids = Array.from({ length: 6 }, (_, i) => `direct-${i}`);
    await Promise.all(ids.map((id) => e.client.start(twoSteps.name, undefined, { workflowId: id })));
    for (const id of ids) {
      expect(await e.client.result(id, { timeoutMs: 30_000 })).toEqual({ ok: true });
      expect(await completions(e.client, id)).toHaveLength(2);
    }
    expect(await resultsInStream(e.bus)).toBe(0);
  });

  it('go through the events stream when no router takes them', async () => {
    const e = await engine({ routerDirect: false });
    const ids = ['stream-0', 'stream-1'];
    await Promise.all(ids.map((id) => e.client.start(twoSteps.name, undefined, { workflowId: id })));
    for (const id of ids) {
      expect(await e.client.result(id, { timeoutMs: 30_000 })).toEqual({ ok: true });
      expect(await completions(e.client, id)).toHaveLength(2);
    }
    expect(await resultsInStream(e.bus)).toBe(4);
  });

  it('are recorded once when offered directly and published too, in either order', async () => {
    // No executor: the test sends the first step's result itself, both ways.
    const e = await engine({ executor: false });
    await e.client.start(twoSteps.name, undefined, { workflowId: 'twice' });
    const task = await waitingTask(e.bus);
    const result: ResultMessage = {
      runId: task.runId,
      workflowId: task.workflowId,
      activitySeq: task.activitySeq,
      attempt: task.attempt,
      ok: true,
      output: { i: 1 },
    };
    const msgId = resultMsgId(result.runId, result.activitySeq, result.attempt);
    const direct = (): Promise<string> =>
      offerDirect(e.bus.nc, e.bus.subjects.directResult(result.runId), encodeBody(result), { msgId });

    expect(await direct()).toBe('settled');
    await waitFor('the first step recorded', async () =>
      (await completions(e.client, 'twice')).length === 1 ? true : undefined,
    );
    // The reply lost: the executor publishes the same result to the stream.
    await e.bus.publish(e.bus.subjects.result(result.runId), result, { msgId });
    const durable = consumerNames.routerEvents(eventPartition(result.runId));
    await waitFor('the stream copy taken and acked', async () => {
      const c = await e.bus.jsm.consumers.info(e.bus.streams.events, durable);
      return c.delivered.stream_seq >= 1 && c.num_pending === 0 && c.num_ack_pending === 0 ? true : undefined;
    });
    // And offered once more (a redelivered task ran again): found in history, settled.
    expect(await direct()).toBe('settled');

    expect(await completions(e.client, 'twice')).toEqual([expect.objectContaining({ activitySeq: task.activitySeq })]);
    // The second step was scheduled once, and the run waits for it.
    const tasks = await e.bus.jsm.streams.info(e.bus.streams.tasks, { subjects_filter: e.bus.subjects.task('step') });
    expect(tasks.state.subjects?.[e.bus.subjects.task('step')]).toBe(2);
    expect((await e.client.describe('twice')).status).toBe('running');
  });
});

/**
 * DirectResults listening on `runId`'s partition, taking offers into `taken` while `room()` says
 * so; with the subject and a body to offer.
 */
async function listening(runId: string, room: () => boolean) {
  const bus = await connectBus({ servers: natsUrl(), prefix: freshPrefix() });
  cleanups.push(() => bus.close());
  const taken: InputMessage[] = [];
  const direct = new DirectResults({
    bus,
    log: createLogger({ level: 'error' }),
    offer: (m) => {
      if (!room()) return false;
      taken.push(m);
      return true;
    },
  });
  cleanups.push(async () => direct.stop());
  direct.take(new Set([eventPartition(runId)]));
  await bus.nc.flush();
  return { bus, direct, taken, runId, subject: bus.subjects.directResult(runId), body: encodeBody({ runId }) };
}

describe('offerDirect', () => {
  it('is declined at once when nobody listens, and for a body too large to go as one message', async () => {
    const bus = await connectBus({ servers: natsUrl(), prefix: freshPrefix() });
    cleanups.push(() => bus.close());
    const subject = bus.subjects.directResult('run-x');
    const t0 = Date.now();
    expect(await offerDirect(bus.nc, subject, encodeBody({ a: 1 }), { msgId: 'm1', timeoutMs: 10_000 })).toBe(
      'declined',
    );
    expect(Date.now() - t0).toBeLessThan(5_000);

    // A listener that would settle anything never sees the oversized one.
    let seen = 0;
    const sub = bus.nc.subscribe(subject, {
      callback: (_err, m) => {
        seen++;
        m.respond(new TextEncoder().encode('settled'));
      },
    });
    cleanups.push(async () => sub.unsubscribe());
    await bus.nc.flush();
    expect(await offerDirect(bus.nc, subject, new Uint8Array(DIRECT_MAX_BYTES + 1), { msgId: 'm2' })).toBe('declined');
    expect(await offerDirect(bus.nc, subject, encodeBody({ a: 1 }), { msgId: 'm3' })).toBe('settled');
    expect(seen).toBe(1);
  });

  it('is unanswered when the listener does not answer in time (it may have decided it)', async () => {
    const bus = await connectBus({ servers: natsUrl(), prefix: freshPrefix() });
    cleanups.push(() => bus.close());
    const subject = bus.subjects.directResult('run-y');
    const sub = bus.nc.subscribe(subject, { callback: () => undefined });
    cleanups.push(async () => sub.unsubscribe());
    await bus.nc.flush();
    expect(await offerDirect(bus.nc, subject, encodeBody({ a: 1 }), { msgId: 'm4', timeoutMs: 200 })).toBe(
      'unanswered',
    );
  });

  it('is answered retry by a router with no free slot, settled once its input is acked, declined once nobody listens', async () => {
    let room = false;
    const { bus, direct, taken, runId, subject, body } = await listening('run-z', () => room);

    expect(await offerDirect(bus.nc, subject, body, { msgId: 'busy' })).toBe('unanswered');

    room = true;
    const settled = offerDirect(bus.nc, subject, body, { msgId: 'free' });
    await waitFor('the offer taken', () => taken[0]);
    const input = taken[0] as InputMessage;
    expect(input.subject).toBe(bus.subjects.result(runId));
    expect(input.headers?.get('Nats-Msg-Id')).toBe('free');
    expect(decodeBody(input.data, input.headers, input.subject)).toEqual({ runId });
    input.ack();
    input.nak(); // answered once: the ack stands
    expect(await settled).toBe('settled');

    // A nak (a failed decision, perhaps after its commit) is a retry: the executor publishes to the
    // stream, saying since when it may have been decided.
    const retried = offerDirect(bus.nc, subject, body, { msgId: 'nak' });
    await waitFor('the second offer taken', () => taken[1]);
    taken[1]?.nak();
    expect(await retried).toBe('unanswered');

    // A last token that is not a runId (here with a '/') is answered retry, never taken: the
    // stream's publish then refuses it with an error the executor logs.
    const notARunId = 'run/z';
    direct.take(new Set([eventPartition(runId), eventPartition(notARunId)]));
    await bus.nc.flush();
    const badSubject = bus.subjects.directResultsOfPartition(eventPartition(notARunId)).replace(/\*$/, notARunId);
    expect(await offerDirect(bus.nc, badSubject, body, { msgId: 'bad' })).toBe('unanswered');

    // A partition given back is no longer listened to: nobody took the offer.
    direct.take(new Set());
    await bus.nc.flush();
    expect(await offerDirect(bus.nc, subject, body, { msgId: 'gone', timeoutMs: 2_000 })).toBe('declined');
    expect(taken).toHaveLength(2);
  });

  it('waits past its timeout while the router has it queued (progress notices), up to its longest wait or an abort', async () => {
    const { bus, taken, subject, body } = await listening('run-q', () => true);

    // Decided after five of the executor's timeouts: still settled directly, no stream copy.
    const slow = offerDirect(bus.nc, subject, body, { msgId: 'slow', timeoutMs: 200 });
    await waitFor('the offer taken', () => taken[0]);
    await new Promise((r) => setTimeout(r, 1_000));
    taken[0]?.ack();
    expect(await slow).toBe('settled');

    // Never decided: unanswered once the longest wait is over, or at once on an abort.
    const t0 = Date.now();
    expect(await offerDirect(bus.nc, subject, body, { msgId: 'stuck', timeoutMs: 200, maxWaitMs: 800 })).toBe(
      'unanswered',
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(800);
    const abort = new AbortController();
    const aborted = offerDirect(bus.nc, subject, body, { msgId: 'aborted', timeoutMs: 200, signal: abort.signal });
    await waitFor('the third offer taken', () => taken[2]);
    abort.abort();
    expect(await aborted).toBe('unanswered');
    for (const m of taken) m.nak(); // stops their notices
  });
});
