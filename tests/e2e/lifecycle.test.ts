import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBody, encodeBody } from '../../shared/bus/codec.js';
import type { SquallClient } from '../../shared/client/index.js';
import { InvalidInputError, NotFoundError, WorkflowFailedError } from '../../shared/errors.js';
import { subjects as subjectsOf } from '../../shared/names.js';
import { connectNats, waitFor } from '../harness/index.js';
import { jsonHeaders } from './json-wire.js';
import { type ServiceEnv, startEngine } from './processes.js';

const FIXTURES = {
  workflows: 'tests/fixtures/lifecycle/workflows.ts',
  activities: 'tests/fixtures/lifecycle/activities.ts',
} as const;

let env: ServiceEnv;
let client: SquallClient;

beforeAll(async () => {
  ({ env, client } = await startEngine(FIXTURES));
});

type Event = { type: string; [k: string]: unknown };

async function events(workflowId: string, runId?: string): Promise<Event[]> {
  const page = await client.history(workflowId, runId === undefined ? {} : { runId });
  return page.commits.flatMap((c) => c.events as unknown as Event[]);
}

const typesOf = (es: Event[]) => es.map((e) => e.type);

async function statusOf(workflowId: string): Promise<string | undefined> {
  try {
    return (await client.describe(workflowId)).status;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

function untilStatus(workflowId: string, status: string, timeoutMs = 20_000): Promise<true> {
  return waitFor(
    `${workflowId} to be ${status}`,
    async () => ((await statusOf(workflowId)) === status ? true : undefined),
    {
      timeoutMs,
    },
  );
}

describe('terminate', () => {
  it('ends a run at once: activity and timer cancelled, RunTerminated, result() rejects', async () => {
    const { runId } = await client.start('sleeper', undefined, { workflowId: 'term-1' });
    await waitFor('the linger activity to be scheduled', async () =>
      typesOf(await events('term-1')).includes('ActivityScheduled') ? true : undefined,
    );
    const reply = await client.terminate('term-1', 'ops said so');
    expect(reply).toMatchObject({ accepted: true, runId });
    const failure = await client.result('term-1', { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).details).toMatchObject({
      status: 'terminated',
      error: { code: 'TERMINATED', message: 'run term-1 was terminated: ops said so' },
    });
    const es = await events('term-1');
    expect(typesOf(es).slice(-4)).toEqual([
      'TerminateRequested',
      'ActivityCancelled',
      'TimerCancelled',
      'RunTerminated',
    ]);
    expect(es.at(-1)).toMatchObject({ type: 'RunTerminated', reason: 'ops said so' });
    expect(await client.describe('term-1')).toMatchObject({ status: 'terminated', runId });
  });

  it('refuses a closed run, an unknown run, a bad id and a bad reason with typed errors', async () => {
    await client.start('kid', undefined, { workflowId: 'term-2' });
    await client.terminate('term-2');
    await untilStatus('term-2', 'terminated');
    // The reply reads the run summary, written just after the commit: it may accept once more.
    const refusal = await waitFor('a terminate of the closed run to be refused', () =>
      client.terminate('term-2').then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(refusal).toBeInstanceOf(NotFoundError);
    expect((refusal as Error).message).toMatch(/is terminated; it takes no more terminates/);
    await expect(client.terminate('term-nobody')).rejects.toBeInstanceOf(NotFoundError);
    await expect(client.terminate('bad id')).rejects.toBeInstanceOf(InvalidInputError);
    await expect(client.terminate('term-2', 5 as never)).rejects.toBeInstanceOf(InvalidInputError);

    const nc = await connectNats(env.natsUrl);
    const reply = await nc.request(subjectsOf(env.prefix).terminate('term-2'), JSON.stringify({ reason: 5 }), {
      headers: jsonHeaders(),
      timeout: 5_000,
    });
    expect(reply.headers?.get('Squall-Error')).toBe('INVALID_INPUT');
    expect(decodeBody(reply.data, reply.headers, reply.subject)).toMatchObject({
      error: { message: 'terminate.reason must be a string, got number' },
    });
  });
});

describe('child workflows', () => {
  it("a child's output reaches its parent's onDone; the child knows its parent", async () => {
    const { runId } = await client.start('parent', { policy: 'terminate', label: 'a' }, { workflowId: 'par-1' });
    await untilStatus('par-1-kid-1', 'running');
    expect((await client.query('par-1')).pendingChildren).toEqual([
      {
        childSeq: 1,
        workflowType: 'kid',
        invokeId: 'kid',
        childWorkflowId: 'par-1-kid-1',
        parentClosePolicy: 'terminate',
      },
    ]);
    expect((await client.query('par-1-kid-1')).parent).toEqual({
      workflowId: 'par-1',
      runId,
      invokeId: 'kid',
      childSeq: 1,
    });
    await client.signal('par-1-kid-1', { type: 'finish', value: 42 });
    const out = await client.result('par-1', { timeoutMs: 20_000 });
    expect(out).toMatchObject({ result: { label: 'a', value: 42 } });
    const parentEvents = await events('par-1');
    expect(parentEvents.find((e) => e.type === 'ChildStarted')).toMatchObject({
      childSeq: 1,
      workflowType: 'kid',
      childWorkflowId: 'par-1-kid-1',
      parentClosePolicy: 'terminate',
    });
    expect(parentEvents.find((e) => e.type === 'ChildCompleted')).toMatchObject({
      childSeq: 1,
      output: { label: 'a', value: 42 },
    });
    const childEvents = await events('par-1-kid-1');
    expect(childEvents[0]).toMatchObject({
      type: 'RunStarted',
      input: { label: 'a' },
      parent: { workflowId: 'par-1', runId, invokeId: 'kid', childSeq: 1 },
    });
  });

  it("a child's failure reaches onError as a WorkflowFailedError naming the child", async () => {
    await client.start('parent', { policy: 'terminate' }, { workflowId: 'par-2' });
    await untilStatus('par-2-kid-1', 'running');
    await client.signal('par-2-kid-1', { type: 'fail' });
    const out = await client.result<{ error: Record<string, unknown> }>('par-2', { timeoutMs: 20_000 });
    expect(out.error).toMatchObject({
      name: 'WorkflowFailedError',
      code: 'WORKFLOW_FAILED',
      message: expect.stringMatching(/^child run par-2-kid-1 \(.+\) failed: kid was told to fail$/),
      details: { childWorkflowId: 'par-2-kid-1', status: 'failed' },
    });
  });

  it('terminating the parent terminates a child under the terminate policy', async () => {
    const { runId } = await client.start('parent', { policy: 'terminate' }, { workflowId: 'par-3' });
    await untilStatus('par-3-kid-1', 'running');
    await client.terminate('par-3');
    await untilStatus('par-3-kid-1', 'terminated');
    expect(typesOf(await events('par-3')).slice(-3)).toEqual(['TerminateRequested', 'ChildDetached', 'RunTerminated']);
    expect((await events('par-3-kid-1')).at(-2)).toMatchObject({ type: 'TerminateRequested', byParent: runId });
  });

  it('leaving the invoking state cancels a child under requestCancel; the parent runs on', async () => {
    await client.start('parent', { policy: 'requestCancel' }, { workflowId: 'par-4' });
    await untilStatus('par-4-kid-1', 'running');
    await client.signal('par-4', { type: 'leave' });
    await untilStatus('par-4-kid-1', 'cancelled');
    expect(await client.query('par-4')).toMatchObject({ status: 'running', value: 'left' });
    expect((await events('par-4')).find((e) => e.type === 'ChildDetached')).toMatchObject({
      childWorkflowId: 'par-4-kid-1',
      policy: 'requestCancel',
    });
    // The child's cancellation reaches the parent after it stopped waiting: recorded as stale.
    await waitFor('the stale child outcome', async () =>
      (await events('par-4')).find((e) => e.type === 'ChildFailed' && e.ignored === 'stale'),
    );
  });

  it('an abandoned child outlives its parent, whose closed run then ignores the outcome', async () => {
    await client.start('parent', { policy: 'abandon' }, { workflowId: 'par-5' });
    await untilStatus('par-5-abandoned', 'running');
    await client.signal('par-5', { type: 'stop' });
    await untilStatus('par-5', 'completed');
    expect(await statusOf('par-5-abandoned')).toBe('running');
    await client.signal('par-5-abandoned', { type: 'finish', value: 1 });
    await untilStatus('par-5-abandoned', 'completed');
    expect(typesOf(await events('par-5')).at(-1)).toBe('RunCompleted');
  });

  it('a child that cannot start (its workflowId is taken) fails for its parent', async () => {
    await client.start('kid', undefined, { workflowId: 'par-6-abandoned' });
    await client.start('parent', { policy: 'abandon' }, { workflowId: 'par-6' });
    const out = await client.result<{ error: Record<string, unknown> }>('par-6', { timeoutMs: 20_000 });
    expect(out.error).toMatchObject({
      code: 'WORKFLOW_FAILED',
      details: { childWorkflowId: 'par-6-abandoned', status: 'failed', cause: { code: 'ALREADY_STARTED' } },
    });
    expect(await statusOf('par-6-abandoned')).toBe('running');
  });

  it("a parent's close request for a run that is not its child (the id was reused) changes nothing", async () => {
    const { runId } = await client.start('kid', undefined, { workflowId: 'par-7-kid-1' });
    const nc = await connectNats(env.natsUrl);
    const s = subjectsOf(env.prefix);
    nc.publish(s.terminate('par-7-kid-1'), encodeBody({ reason: 'parent gone', byParent: 'some-other-run' }));
    nc.publish(s.signal('par-7-kid-1'), encodeBody({ type: 'finish', value: 'mine' }));
    await untilStatus('par-7-kid-1', 'completed');
    const es = await events('par-7-kid-1', runId);
    expect(typesOf(es)).not.toContain('TerminateRequested');
  });

  it('a child of a workflow type no router knows fails for its parent with the unknown-type error', async () => {
    await client.start('orphan', undefined, { workflowId: 'orph-1' });
    const out = await client.result<{ error: Record<string, unknown> }>('orph-1', { timeoutMs: 20_000 });
    expect(out.error).toMatchObject({
      code: 'WORKFLOW_FAILED',
      details: {
        childWorkflowId: 'orph-1-ghost-1',
        status: 'failed',
        cause: { code: 'INVALID_INPUT', message: 'unknown workflow type "nosuch"' },
      },
    });
  });
});

describe('continue-as-new', () => {
  it('a run continues as new twice; result() follows to the last run; each run links the previous', async () => {
    const first = await client.start('counter', { generation: 0, total: 0 }, { workflowId: 'count-1' });
    const out = await client.result('count-1', { timeoutMs: 30_000 });
    expect(out).toEqual({ generation: 2, total: 3 });
    // The done message goes out before the closed summary is written: wait for the summaries.
    await waitFor('three summaries of count-1', async () => {
      const runs = (await client.list({ workflowType: 'counter' })).runs.filter((r) => r.workflowId === 'count-1');
      const statuses = runs.map((r) => r.status).sort();
      return statuses.join() === 'completed,continued,continued' ? statuses : undefined;
    });
    const firstEvents = await events('count-1', first.runId);
    expect(firstEvents.at(-1)).toMatchObject({ type: 'RunContinuedAsNew', input: { generation: 1, total: 1 } });
    const last = await client.describe('count-1');
    expect(last).toMatchObject({ status: 'completed' });
    const lastStart = (await events('count-1', last.runId))[0];
    expect(lastStart).toMatchObject({ type: 'RunStarted', input: { generation: 2, total: 2 } });
    const middleRunId = lastStart?.continuedFrom as string;
    expect((await client.query('count-1')).continuedFrom).toBe(middleRunId);
    expect((await events('count-1', middleRunId))[0]).toMatchObject({ continuedFrom: first.runId });
  });

  it('a child that continues as new reports to its parent from its last run', async () => {
    await client.start('tally', undefined, { workflowId: 'tally-1' });
    expect(await client.result('tally-1', { timeoutMs: 30_000 })).toEqual({ generation: 2, total: 13 });
  });

  it('a start that claims to continue a run that did not continue is parked, not started', async () => {
    const nc = await connectNats(env.natsUrl);
    const s = subjectsOf(env.prefix);
    const { runId } = await client.start('kid', undefined, { workflowId: 'forge-1' });
    const dlq = nc.subscribe(s.dlq('invalid-input'), { max: 1 });
    const parked = (async () => {
      for await (const m of dlq) return m.headers?.get('Squall-Original-Subject');
      return undefined;
    })();
    await nc.publish(s.start('kid'), encodeBody({ workflowId: 'forge-1', continuedFrom: runId }));
    expect(await parked).toBe(s.start('kid'));
    expect(await client.describe('forge-1')).toMatchObject({ runId, status: 'running' });
  });
});
