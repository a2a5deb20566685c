/** Inline steps over the memory store: chain folding, elided timers, retries, timeouts, parallel and mixed steps. */
import { describe, expect, it } from 'vitest';
import { RunDecider } from '../../../services/router/decider.js';
import { InlineSteps } from '../../../services/router/inline-steps.js';
import { compileRouterOptions } from '../../../services/router/options.js';
import type { OutboundMessage } from '../../../services/router/outbox.js';
import type { TaskMessage, TimerScheduleMessage } from '../../../shared/bus/messages.js';
import { checkDefinition } from '../../../shared/engine/check.js';
import {
  type ActivityDefinition,
  type ActivityFn,
  activity,
  defineActivity,
  defineWorkflow,
  replayCommits,
  WorkflowRegistry,
} from '../../../shared/engine/index.js';
import { ConfigError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/log.js';
import { subjects } from '../../../shared/names.js';
import { createMemoryStore } from '../../../shared/store/memory-store.js';
import type { ChainAppend, StoredCommit } from '../../../shared/store/types.js';
import { inlineFlaky, inlineOnce, inlineSequence, inlineWorkflows } from '../../fixtures/inline-workflows.js';
import { historyOf, ManualClock } from './over-memory.js';

const s = subjects('t');

function bench(fns: Record<string, ActivityFn>, opts: { maxDecisions?: number; budgetMs?: number } = {}) {
  const clock = new ManualClock();
  const store = createMemoryStore({ now: () => clock.now() });
  const chains: number[] = [];
  const appendChain = store.appendChain.bind(store);
  store.appendChain = (cs: StoredCommit[]): Promise<ChainAppend> => {
    chains.push(cs.length);
    return appendChain(cs);
  };
  const published: OutboundMessage[] = [];
  const activities = new Map<string, ActivityDefinition>(
    Object.entries(fns).map(([name, fn]) => [name, defineActivity(name, fn) as ActivityDefinition]),
  );
  const decider = new RunDecider({
    store,
    registry: new WorkflowRegistry(inlineWorkflows),
    subjects: s,
    log: silentLogger,
    clock,
    summaryDelayMs: 0,
    publish: async (m) => {
      published.push(m);
    },
    inline: new InlineSteps({ activities, clock, log: silentLogger, keepAliveMs: 1000, ...opts }),
  });
  const start = async (workflowType: string, workflowId: string): Promise<string> => {
    const o = await decider.process(
      { kind: 'start', workflowType, workflowId, idReusePolicy: 'returnExisting' },
      { startKey: `e/${workflowId}` },
    );
    if (o.kind !== 'started') throw new Error(`not started: ${JSON.stringify(o)}`);
    return o.runId;
  };
  return { decider, store, clock, published, chains, start };
}

const echo =
  (tag: string): ActivityFn =>
  (input) =>
    `${tag}${(input as { n: number }).n}`;
const three = { inlineA: echo('a'), inlineB: echo('b'), inlineC: echo('c') };

async function replayed(store: ReturnType<typeof bench>['store'], runId: string, def = inlineWorkflows[0]) {
  const commits = await historyOf(store, runId);
  return { commits, state: replayCommits(def as (typeof inlineWorkflows)[number], commits) };
}

describe('inline steps: chain folding in the router', () => {
  it('runs three inline steps in the start decision: four commits in one ordered append, only the completion published', async () => {
    const b = bench(three);
    const runId = await b.start('inlineSequence', 'in-1');
    await b.decider.drain();
    const run = await b.store.getRun(runId);
    expect(run?.state).toMatchObject({ status: 'completed', output: ['a1', 'b2', 'c3'] });
    const { commits, state } = await replayed(b.store, runId);
    expect(commits.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
    expect(b.chains).toEqual([4]);
    expect(state).toEqual(run?.state);
    // Scheduled, completed and recorded like an executor's: ActivityScheduled ... ActivityCompleted.
    const types = commits.flatMap((c) => c.events.map((e) => e.type));
    expect(types.filter((t) => t === 'ActivityScheduled')).toHaveLength(3);
    expect(types.filter((t) => t === 'ActivityCompleted')).toHaveLength(3);
    // No task goes out, and the startToClose timers armed and cancelled within the chain are elided.
    expect(b.published.map((m) => m.subject)).toEqual([s.done('inlineSequence', 'in-1')]);
  });

  it('runs parallel inline steps side by side', async () => {
    let release: () => void = () => undefined;
    const both = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    const waitForSibling =
      (tag: string): ActivityFn =>
      async () => {
        if (++started === 2) release();
        await both; // resolves only when the other step has started too
        return tag;
      };
    const b = bench({ inlineA: waitForSibling('L'), inlineB: waitForSibling('R') });
    const runId = await b.start('inlineParallel', 'in-par');
    const run = await b.store.getRun(runId);
    expect(run?.state.status).toBe('completed');
    expect([...((run?.state.output as string[] | undefined) ?? [])].sort()).toEqual(['L', 'R']);
    const { state } = await replayed(b.store, runId, inlineWorkflows[2]);
    expect(state.status).toBe('completed');
  });

  it('mixes inline steps and an executor activity: the executor task is published, the chain resumes on its result', async () => {
    const b = bench({ inlineA: echo('a'), inlineC: echo('c') });
    const runId = await b.start('inlineMixed', 'in-mix');
    const tasks = b.published.filter((m) => m.subject === s.task('execMiddle'));
    expect(tasks).toHaveLength(1);
    const task = tasks[0]?.body as TaskMessage;
    expect(task.input).toEqual({ n: 2 });
    const outcome = await b.decider.process(
      {
        kind: 'run',
        runId,
        workflowId: 'in-mix',
        decision: { kind: 'activityCompleted', activitySeq: task.activitySeq, attempt: task.attempt, output: 'x2' },
      },
      { startKey: 'ev/1' },
    );
    expect(outcome).toMatchObject({ kind: 'applied' });
    await b.decider.drain();
    expect((await b.store.getRun(runId))?.state).toMatchObject({ status: 'completed', output: ['a1', 'x2', 'c3'] });
    const taskSubjects = [s.task('inlineA'), s.task('execMiddle'), s.task('inlineC')];
    expect(b.published.filter((m) => taskSubjects.includes(m.subject)).map((m) => m.subject)).toEqual([
      s.task('execMiddle'),
    ]);
    const { state } = await replayed(b.store, runId, inlineWorkflows[1]);
    expect(state.status).toBe('completed');
  });

  it('retries a failed attempt on its backoff timer, which ends the chain; the firing runs attempt 2 inline', async () => {
    const attempts: number[] = [];
    const b = bench({
      inlineFlaky: (_input, ctx) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) throw new Error('flaky');
        return 'ok';
      },
    });
    const runId = await b.start('inlineFlaky', 'in-retry');
    expect(attempts).toEqual([1]);
    const timers = b.published.filter((m) => m.subject === s.timerSchedule(runId));
    expect(timers).toHaveLength(1); // the retry timer is live; the startToClose timer was elided
    const retry = timers[0]?.body as TimerScheduleMessage;
    b.clock.t = retry.fireAt;
    await b.decider.process(
      { kind: 'run', runId, workflowId: 'in-retry', decision: { kind: 'timerFired', timerSeq: retry.timerSeq } },
      { startKey: 'ev/2' },
    );
    await b.decider.drain();
    expect(attempts).toEqual([1, 2]);
    expect((await b.store.getRun(runId))?.state).toMatchObject({ status: 'completed', output: ['ok'] });
    const { commits, state } = await replayed(b.store, runId, inlineFlaky);
    expect(commits.flatMap((c) => c.events.map((e) => e.type))).toContain('ActivityFailed');
    expect(state.status).toBe('completed');
  });

  it('enforces startToClose in-process: the attempt is aborted and recorded as ActivityTimedOut, as an executor attempt would be', async () => {
    const aborted: unknown[] = [];
    const b = bench({
      inlineFlaky: (_input, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          });
        }),
    });
    const runId = await b.start('inlineFlaky', 'in-timeout');
    expect(aborted).toHaveLength(1);
    const commits = await historyOf(b.store, runId);
    const timedOut = commits.flatMap((c) => c.events).find((e) => e.type === 'ActivityTimedOut');
    expect(timedOut).toMatchObject({ timeoutType: 'startToClose', attempt: 1, error: { name: 'TimeoutError' } });
    // The retry timer is published; the startToClose timer that fired in-process is not.
    const timers = b.published.filter((m) => m.subject === s.timerSchedule(runId));
    expect(timers).toHaveLength(1);
    const state = replayCommits(inlineFlaky, commits);
    expect(state.activities.f?.attempt).toBe(1);
    expect(state.activities.f?.timers?.retry).toBeDefined();
  });

  it('runs an at-most-once step only once the commit scheduling it is stored, in a chain of its own', async () => {
    let b: ReturnType<typeof bench> | undefined;
    const storedBeforeRun: boolean[] = [];
    b = bench({
      ...three,
      inlineB: async (input, ctx) => {
        const stored = (await historyOf(b!.store, ctx.runId)).flatMap((c) => c.events);
        storedBeforeRun.push(stored.some((e) => e.type === 'ActivityScheduled' && e.activity === 'inlineB'));
        return echo('b')(input, ctx);
      },
    });
    const runId = await b.start('inlineOnce', 'in-once');
    await b.decider.drain();
    await b.decider.drain(); // the resumed chain is queued behind the start
    expect((await b.store.getRun(runId))?.state).toMatchObject({ status: 'completed', output: ['a1', 'b2', 'c3'] });
    expect(storedBeforeRun).toEqual([true]);
    const { state, commits } = await replayed(b.store, runId, inlineOnce);
    expect(state.status).toBe('completed');
    const scheduled = commits
      .flatMap((c) => c.events)
      .find((e) => e.type === 'ActivityScheduled' && e.activity === 'inlineB');
    expect(scheduled).toMatchObject({ policy: { inline: true, atMostOnce: true } });
  });

  it('cuts a chain at its cap, commits it, and runs the pending steps in a chain of their own', async () => {
    const b = bench(three, { maxDecisions: 2 });
    const runId = await b.start('inlineSequence', 'in-cap');
    await b.decider.drain();
    // The resumed chain is queued behind the start; drain waits for it.
    await b.decider.drain();
    expect((await b.store.getRun(runId))?.state).toMatchObject({ status: 'completed', output: ['a1', 'b2', 'c3'] });
    expect(b.chains.length).toBeGreaterThanOrEqual(2);
    const { state } = await replayed(b.store, runId);
    expect(state.status).toBe('completed');
    expect(b.published.some((m) => m.subject === s.timerSchedule(runId))).toBe(true); // the cut commit's live startToClose timer went out
  });

  it('commits a chain whose step outlives the budget, answers the start, and feeds the step outcome in later', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const b = bench(
      {
        ...three,
        inlineB: async () => {
          await released;
          return 'late';
        },
      },
      { budgetMs: 50 },
    );
    const runId = await b.start('inlineSequence', 'in-late');
    // Stored so far: the start and step a; step b is pending, its startToClose timer published.
    expect((await historyOf(b.store, runId)).map((c) => c.seq)).toEqual([1, 2]);
    expect(b.published.some((m) => m.subject === s.timerSchedule(runId))).toBe(true);
    release();
    await b.decider.drain();
    await b.decider.drain();
    expect((await b.store.getRun(runId))?.state).toMatchObject({ status: 'completed', output: ['a1', 'late', 'c3'] });
    expect((await replayed(b.store, runId)).state.status).toBe('completed');
  });
});

describe('inline steps: declaration and registration', () => {
  it('refuses a router that lacks an inline activity its workflows declare, naming both', () => {
    const run = () => compileRouterOptions({ workflows: [inlineSequence], activities: [] });
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(/workflow inlineSequence v1 declares activity inlineA inline/);
  });

  it('accepts a router given every inline activity', () => {
    const names = ['inlineA', 'inlineB', 'inlineBlock', 'inlineC', 'inlineFlaky'];
    const o = compileRouterOptions({
      workflows: inlineWorkflows,
      activities: names.map((n) => defineActivity(n, () => n) as ActivityDefinition),
    });
    expect([...o.inlineActivities.keys()].sort()).toEqual(names);
  });

  it('refuses bad inline declarations with a message naming what is wrong', () => {
    expect(() => activity({ inline: 'yes' as unknown as boolean })).toThrow(/inline must be true or false/);
    expect(() => activity({ inline: true, heartbeatTimeoutMs: 1000 })).toThrow(/heartbeatTimeoutMs does not apply/);
    const machine = inlineWorkflows[0]?.machine;
    expect(() =>
      defineWorkflow({
        name: 'badInvoke',
        machine: machine as NonNullable<typeof machine>,
        invokes: { a: { inline: true } },
      }),
    ).toThrow(/invokes\.a\.inline: declare inline per activity/);
    expect(() =>
      defineWorkflow({
        name: 'notActivity',
        machine: machine as NonNullable<typeof machine>,
        activities: { nope: { inline: true } },
      }),
    ).toThrow(/activities\.nope is not an activity/);
  });

  it("squall check says an inline activity missing from --activities is the router's to run", () => {
    const findings = checkDefinition(inlineSequence, { activities: new Set(['inlineA', 'inlineB']) });
    expect(findings.map((f) => [f.kind, f.message])).toEqual([
      [
        'missing-activity',
        'activity "inlineC" is not exported by the activities module (declared inline: the router runs it, and needs it in its --activities)',
      ],
    ]);
  });

  it('records the flag and a default startToClose in the policy; executor activities stay the default', () => {
    const def = inlineWorkflows[0];
    expect(def?.inlineActivities).toEqual(['inlineA', 'inlineB', 'inlineC']);
    expect(def?.policyFor('inlineA', 'a')).toMatchObject({ inline: true, startToCloseTimeoutMs: 60_000 });
    expect(inlineWorkflows[1]?.policyFor('execMiddle', 'b').inline).toBeUndefined();
  });
});
