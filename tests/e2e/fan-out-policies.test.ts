/**
 * Issue 18's fan-out, callback and polling helpers end to end, services as child processes: a
 * map under a completion policy whose executor is SIGKILLed midway (every item counted once, the
 * policy decides, the items still running cancelled), a parallel state won by its first success,
 * a callback with a submitter kept alive by heartbeats from the client, the CLI and raw NATS (and
 * one that misses its heartbeat), and a wait-for-condition whose state is threaded between checks.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeBody } from '../../shared/bus/codec.js';
import type { SquallClient } from '../../shared/client/index.js';
import type { BatchResult, CallbackWaitResult, WaitResult } from '../../shared/engine/patterns/index.js';
import { CallbackClosedError } from '../../shared/errors.js';
import { subjects as subjectsOf } from '../../shared/names.js';
import type { ProbeItem } from '../fixtures/fan-out/workflows.js';
import { connectNats, waitFor } from '../harness/index.js';
import { eventsOf, ofType } from './activities-helpers.js';
import { jsonHeaders, parseJson } from './json-wire.js';
import { type ServiceEnv, type ServiceProcess, spawnSquall, startEngine, startService } from './processes.js';

const FIXTURES = {
  workflows: 'tests/fixtures/fan-out/workflows.ts',
  activities: 'tests/fixtures/fan-out/activities.ts',
} as const;

let env: ServiceEnv;
let client: SquallClient;
let executor: ServiceProcess;

beforeAll(async () => {
  const engine = await startEngine({ ...FIXTURES, executorArgs: ['--concurrency', '16'] });
  ({ env, client } = engine);
  executor = engine.executor as ServiceProcess;
});

describe('fan-out policies, callbacks with a submitter, wait strategies', () => {
  it('a map under { minSuccessful: 8, toleratedFailureCount: 2 } survives an executor SIGKILL: each item counted once', async () => {
    const items: ProbeItem[] = Array.from({ length: 14 }, (_, n) => ({ n, ms: 400, fail: n === 3 || n === 9 }));
    await client.start('quorum', { items }, { workflowId: 'quorum-1' });
    await waitFor('three probes to finish', async () => {
      const events = await eventsOf(client, 'quorum-1');
      return ofType(events, 'ActivityCompleted').length + ofType(events, 'ActivityFailed').length >= 3;
    });
    executor.kill('SIGKILL');
    await executor.exited;
    executor = await startService('executor-2', ['executor', '--activities', FIXTURES.activities], env);

    const out = await client.result<BatchResult<{ n: number }>>('quorum-1', { timeoutMs: 60_000 });
    expect(out).toMatchObject({ status: 'succeeded', completionReason: 'MIN_SUCCESSFUL_REACHED' });
    expect(out.succeeded).toHaveLength(8);
    for (const i of out.succeeded) expect(out.results[i]).toEqual({ n: i });
    for (const i of out.failed) expect([3, 9]).toContain(i);
    const every = [...out.succeeded, ...out.failed, ...out.cancelled, ...out.notStarted].sort((a, b) => a - b);
    expect(every).toEqual(items.map((_, i) => i));

    const events = await eventsOf(client, 'quorum-1');
    // The attempts the dead executor held timed out and ran again elsewhere.
    expect(ofType(events, 'ActivityTimedOut').length).toBeGreaterThan(0);
    const scheduled = ofType(events, 'ActivityScheduled');
    expect(scheduled).toHaveLength(out.counts.started);
    expect(new Set(scheduled.map((e) => e.invokeId)).size).toBe(scheduled.length);
    const seqOf = new Map(scheduled.map((e) => [e.invokeId, e.activitySeq]));
    const finals = [
      ...ofType(events, 'ActivityCompleted').filter((e) => !e.ignored),
      ...ofType(events, 'ActivityFailed').filter((e) => !e.ignored), // probe failures are non-retryable: final
    ];
    // One recorded outcome per item that finished, none for the items the policy cancelled.
    const outcomes = finals.map((e) => e.activitySeq).sort((a, b) => a - b);
    const finished = [...out.succeeded, ...out.failed].map((i) => seqOf.get(`squall.map.probes.${i}`));
    expect(outcomes).toEqual(finished.sort((a, b) => (a ?? 0) - (b ?? 0)));
    const cancelled = ofType(events, 'ActivityCancelled').map((e) => e.activitySeq);
    expect(cancelled.sort()).toEqual(out.cancelled.map((i) => seqOf.get(`squall.map.probes.${i}`)).sort());
    expect(ofType(events, 'RunCompleted')).toHaveLength(1);
  }, 90_000);

  it("a parallel state under 'firstSuccessful' ends at the first success and cancels the slow branch", async () => {
    await client.start('fastestMirror', undefined, { workflowId: 'mirror-1' });
    const out = await client.result<BatchResult<{ n: number }>>('mirror-1', { timeoutMs: 30_000 });
    expect(out).toMatchObject({
      status: 'succeeded',
      completionReason: 'MIN_SUCCESSFUL_REACHED',
      results: [null, null, { n: 2 }],
      succeeded: [2],
      failed: [1],
      cancelled: [0],
      notStarted: [],
    });
    const events = await eventsOf(client, 'mirror-1');
    const slow = ofType(events, 'ActivityScheduled').find((e) => e.invokeId === 'squall.map.mirrors.0');
    expect(ofType(events, 'ActivityCancelled').map((e) => e.activitySeq)).toEqual([slow?.activitySeq]);
  });

  it('waitForCallback: the submit activity gets the token; heartbeats by client, CLI and NATS keep it open', async () => {
    await client.start('approveByLink', undefined, { workflowId: 'link-1' });
    let token = '';
    await waitFor('the link to be sent', async () => {
      const q = await client.query('link-1');
      token = q.pendingCallbacks?.[0]?.token ?? '';
      return (q.context as { approval?: CallbackWaitResult }).approval?.status === 'waiting';
    });
    expect((await client.query('link-1')).pendingCallbacks?.[0]?.heartbeatDueAt).toEqual(expect.any(Number));

    expect(await client.heartbeatCallback(token)).toMatchObject({ accepted: true, workflowId: 'link-1' });
    const cli = spawnSquall('cli', ['heartbeat-callback', token], env);
    expect(await cli.exited).toBe(0);
    expect(cli.logs[0]).toMatchObject({ accepted: true });
    const nc = await connectNats(env.natsUrl);
    const reply = await nc.request(
      subjectsOf(env.prefix).callback('heartbeat'),
      encodeBody({ token }, { json: true }),
      {
        headers: jsonHeaders(),
        timeout: 20_000,
      },
    );
    expect(parseJson(reply.data)).toMatchObject({ accepted: true });
    await waitFor('three heartbeats in history', async () => {
      const events = await eventsOf(client, 'link-1');
      return ofType(events, 'CallbackHeartbeat').length === 3;
    });
    // Each heartbeat re-armed the window: the first one and three more.
    const windows = ofType(await eventsOf(client, 'link-1'), 'TimerScheduled').filter((t) =>
      t.sendId.endsWith('.heartbeat'),
    );
    expect(windows).toHaveLength(4);

    await client.completeCallback(token, { by: 'ann' });
    const out = await client.result<CallbackWaitResult<{ by: string }>>('link-1', { timeoutMs: 20_000 });
    expect(out).toEqual({ status: 'completed', token, output: { by: 'ann' }, error: null });
    await expect(client.heartbeatCallback(token)).rejects.toBeInstanceOf(CallbackClosedError);
  });

  it('waitForCallback: no heartbeat within the window fails it with a TimeoutError', async () => {
    await client.start('approveByLinkStrict', undefined, { workflowId: 'link-2' });
    const out = await client.result<CallbackWaitResult>('link-2', { timeoutMs: 30_000 });
    expect(out).toMatchObject({
      status: 'failed',
      output: null,
      error: { name: 'TimeoutError', code: 'TIMEOUT', details: { timeoutType: 'heartbeat' } },
    });
    expect(out.error?.message).toMatch(/got no heartbeat within 1500 ms/);
  });

  it('waitForCondition with a strategy threads the state from check to check', async () => {
    await client.start('crawlCursor', { pages: 3 }, { workflowId: 'crawl-1' });
    const out = await client.result<WaitResult<{ cursor: number; seen: number[] }>>('crawl-1', { timeoutMs: 30_000 });
    expect(out).toEqual({ status: 'satisfied', checks: 3, output: { cursor: 3, seen: [0, 1, 2] }, error: null });
    const events = await eventsOf(client, 'crawl-1');
    expect(ofType(events, 'ActivityScheduled').map((e) => e.input)).toEqual([
      { cursor: 0, seen: [] },
      { cursor: 1, seen: [0] },
      { cursor: 2, seen: [0, 1] },
    ]);
    const sleeps = ofType(events, 'TimerScheduled').filter((t) => t.purpose === undefined);
    expect(sleeps.map((t) => t.delayMs)).toEqual([100, 200]);
  });
});
