/**
 * Branch, reset and resume over real servers (docs/workflows.md#branch-reset-and-resume): a new
 * run repeats its source's history up to a commit, issues again what was pending there, and goes
 * on live; bad requests are refused with typed errors and change nothing.
 */
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeBody } from '../../shared/bus/codec.js';
import type { SquallClient } from '../../shared/client/index.js';
import { InvalidInputError, NotFoundError, WorkflowFailedError } from '../../shared/errors.js';
import { subjects as subjectsOf } from '../../shared/names.js';
import { connectNats, waitFor } from '../harness/index.js';
import { jsonHeaders } from './json-wire.js';
import { type ServiceEnv, startEngine } from './processes.js';

const FIXTURES = {
  workflows: 'tests/fixtures/branch/workflows.ts',
  activities: 'tests/fixtures/branch/activities.ts',
} as const;

let env: ServiceEnv;
let client: SquallClient;

beforeAll(async () => {
  ({ env, client } = await startEngine(FIXTURES));
});

type Event = { type: string; [k: string]: unknown };
type Commit = { seq: number; events: Event[] };

async function commits(workflowId: string, runId?: string): Promise<Commit[]> {
  const page = await client.history(workflowId, runId === undefined ? {} : { runId });
  return page.commits as unknown as Commit[];
}

/** Waits until the run of workflowId has `seq` commits. */
function untilSeq(workflowId: string, seq: number): Promise<Commit[]> {
  return waitFor(`${workflowId} to reach commit ${seq}`, async () => {
    const cs = await commits(workflowId);
    return cs.length >= seq ? cs : undefined;
  });
}

/** What replay compares of a commit: the type of each event and the activity it schedules, if any. */
const shape = (c: Commit) => c.events.map((e) => [e.type, e.activity ?? e.sendId ?? null]);

describe('branch', () => {
  it('repeats a completed run up to atSeq, then runs live: the same commands as the original', async () => {
    await client.start('ledger', undefined, { workflowId: 'led-1' });
    await untilSeq('led-1', 2); // 1: start, record #1 scheduled; 2: its result, the timer armed
    await client.signal('led-1', { type: 'go' });
    const original = await client.result<{ entries: { n: number; runId: string }[] }>('led-1', { timeoutMs: 20_000 });
    const source = await commits('led-1');
    const sourceRun = (await client.describe('led-1')).runId;

    const { workflowId, runId, created } = await client.branch('led-1', { atSeq: 2, newWorkflowId: 'led-1-b' });
    expect({ workflowId, created }).toEqual({ workflowId: 'led-1-b', created: true });
    const copied = await untilSeq('led-1-b', 3);
    expect(copied[0]?.events[0]).toMatchObject({
      type: 'RunStarted',
      workflowId: 'led-1-b',
      runId,
      origin: { kind: 'branch', workflowId: 'led-1', runId: sourceRun, atSeq: 2 },
    });
    expect(copied.slice(0, 2).map(shape)).toEqual(source.slice(0, 2).map(shape));
    expect(copied[1]?.events).toEqual(source[1]?.events);
    expect(copied[2]?.events.map((e) => e.type)).toEqual(['RunBranched']);

    await client.signal('led-1-b', { type: 'go' });
    const branched = await client.result<{ entries: { n: number; runId: string }[]; branches: number }>('led-1-b', {
      timeoutMs: 20_000,
    });
    const live = await commits('led-1-b');
    // After the branch point, the branch decides as the original did (its commit 3 is RunBranched).
    expect(live.slice(3).map(shape)).toEqual(source.slice(2).map(shape));
    expect(branched.entries).toEqual([original.entries[0], { n: 2, runId }]);
    expect(branched.branches).toBe(1);
    expect(await client.describe('led-1-b')).toMatchObject({
      status: 'completed',
      origin: { kind: 'branch', workflowId: 'led-1', runId: sourceRun, atSeq: 2 },
    });
    // The source is untouched.
    expect((await commits('led-1')).length).toBe(source.length);
  });

  it('refuses an unknown run, a seq beyond the end and an open source, changing nothing', async () => {
    await expect(client.branch('led-none', { atSeq: 1 })).rejects.toBeInstanceOf(NotFoundError);
    await client.start('ledger', undefined, { workflowId: 'led-2' });
    const before = await untilSeq('led-2', 2);
    const open = await client.branch('led-2', { atSeq: 1, newWorkflowId: 'led-2-b' }).catch((e: unknown) => e);
    expect(open).toBeInstanceOf(InvalidInputError);
    expect((open as Error).message).toMatch(/still open; branch it with allowOpen/);

    // The raw NATS form, as `nats req` sends it: refused by the router with the error named.
    const nc = await connectNats();
    try {
      const runId = (await client.describe('led-2')).runId;
      const body = {
        workflowId: 'led-2-c',
        from: { kind: 'branch', workflowId: 'led-2', runId, atSeq: 99, allowOpen: true },
      };
      const headers = jsonHeaders();
      headers.set('Nats-Msg-Id', randomUUID());
      const reply = await nc.request(subjectsOf(env.prefix).start('ledger'), JSON.stringify(body), {
        headers,
        timeout: 20_000,
      });
      expect(reply.headers?.get('Squall-Error')).toBe('INVALID_INPUT');
      expect(decodeBody(reply.data, reply.headers, reply.subject)).toMatchObject({
        error: { message: expect.stringMatching(/commit 99 is beyond the end of its history \(last commit \d+\)/) },
      });
    } finally {
      await nc.close();
    }
    for (const id of ['led-2-b', 'led-2-c']) {
      await expect(client.describe(id)).rejects.toBeInstanceOf(NotFoundError);
    }
    expect((await commits('led-2')).length).toBe(before.length);
    expect((await client.describe('led-2')).status).toBe('running');

    // allowOpen: the open source goes on, the branch too.
    const both = await client.branch('led-2', { atSeq: 2, newWorkflowId: 'led-2-d', allowOpen: true });
    await untilSeq('led-2-d', 3);
    await client.signal('led-2-d', { type: 'go' });
    await expect(client.result('led-2-d', { timeoutMs: 20_000 })).resolves.toMatchObject({ outcome: 'recorded' });
    expect(both.created).toBe(true);
    expect((await client.describe('led-2')).status).toBe('running');
  });
});

describe('reset', () => {
  it('terminates the open run and goes on from atSeq under the same workflowId', async () => {
    const first = await client.start('ledger', undefined, { workflowId: 'led-3' });
    await untilSeq('led-3', 2);
    // Back to commit 1: record #1 is pending again and runs again for the new run.
    const reset = await client.reset('led-3', { atSeq: 1 });
    expect(reset).toMatchObject({ workflowId: 'led-3', created: true });
    expect(reset.runId).not.toBe(first.runId);
    expect(await client.describe('led-3', { runId: first.runId })).toMatchObject({ status: 'terminated' });
    const old = await commits('led-3', first.runId);
    expect(old.at(-1)?.events.at(-1)).toMatchObject({ type: 'RunTerminated' });
    await untilSeq('led-3', 3);
    await client.signal('led-3', { type: 'go' });
    const out = await client.result<{ entries: { runId: string }[]; resets: number }>('led-3', {
      runId: reset.runId,
      timeoutMs: 20_000,
    });
    expect(out.resets).toBe(1);
    expect(out.entries.map((e) => e.runId)).toEqual([reset.runId, reset.runId]);
    expect(await client.describe('led-3')).toMatchObject({
      runId: reset.runId,
      origin: { kind: 'reset', workflowId: 'led-3', runId: first.runId, atSeq: 1 },
    });
  });
});

describe('resume', () => {
  it('re-enters a failed run before its failure; a run that did not fail is refused', async () => {
    const path = join(tmpdir(), `squall-fragile-${randomUUID()}`);
    try {
      const failed = await client.start('fragile', { path }, { workflowId: 'frag-1' });
      await expect(client.result('frag-1', { timeoutMs: 20_000 })).rejects.toBeInstanceOf(WorkflowFailedError);
      writeFileSync(path, 'ok');
      const resumed = await client.resume('frag-1');
      expect(resumed).toMatchObject({ workflowId: 'frag-1', created: true });
      await expect(client.result('frag-1', { runId: resumed.runId, timeoutMs: 20_000 })).resolves.toEqual({
        resets: 1,
      });
      expect(await client.describe('frag-1')).toMatchObject({
        runId: resumed.runId,
        origin: { kind: 'resume', runId: failed.runId, atSeq: 1 },
      });
      const refused = await client.resume('frag-1').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(InvalidInputError);
      expect((refused as Error).message).toMatch(/it is completed; only a failed run is resumed/);
    } finally {
      rmSync(path, { force: true });
    }
  });
});
