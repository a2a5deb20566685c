/** The decider over the in-memory store: start, result, signal, a duplicate input, a lost append race. */
import { describe, expect, it } from 'vitest';
import type { TaskMessage } from '../../../shared/bus/messages.js';
import { deciderBench, historyOf } from './over-memory.js';

const start = (workflowType: string, workflowId: string) =>
  ({ kind: 'start', workflowType, workflowId, idReusePolicy: 'returnExisting' }) as const;
const signal = (workflowId: string, type: string) =>
  ({ kind: 'run', workflowId, decision: { kind: 'signal', event: { type } } }) as const;

describe('RunDecider over the memory store', () => {
  it('starts a run: commit stored, summary written, first task published', async () => {
    const { decider, store, published } = deciderBench();
    const outcome = await decider.process(start('sequence', 'seq-1'), { startKey: 'e/1', msgId: 'm1' });
    expect(outcome).toMatchObject({ kind: 'started', workflowId: 'seq-1', created: true });
    const runId = outcome.kind === 'started' ? outcome.runId : '';
    await decider.drain();
    expect((await historyOf(store, runId)).map((c) => c.seq)).toEqual([1]);
    expect(await store.getRun(runId)).toMatchObject({ status: 'running', lastSeq: 1 });
    // The start's message id is on the workflowId's holder, which the claim wrote.
    expect(await store.workflowIdHolder('seq-1')).toEqual({ runId, gen: 1, startMsgId: 'm1' });
    expect(published.map((m) => m.msgId)).toEqual([`${runId}:1:0`]);
    expect((published[0]?.body as TaskMessage | undefined)?.activity).toBe('stepA');
  });

  it('the same start again answers with the run it began', async () => {
    const { decider } = deciderBench();
    const first = await decider.process(start('steps', 'st-0'), { startKey: 'e/1' });
    const again = await decider.process(start('steps', 'st-0'), { startKey: 'e/1' });
    expect(again).toEqual(first);
  });

  it('folds an activity result into its run and schedules the next step', async () => {
    const { decider, published } = deciderBench();
    const started = await decider.process(start('sequence', 'seq-2'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    const task = published[0]?.body as TaskMessage;
    const outcome = await decider.process(
      {
        kind: 'run',
        runId,
        workflowId: 'seq-2',
        decision: { kind: 'activityCompleted', activitySeq: task.activitySeq, attempt: 1, output: 'A' },
      },
      { startKey: 'ev/1' },
    );
    expect(outcome).toEqual({ kind: 'applied', workflowId: 'seq-2', runId, seq: 2, workflowType: 'sequence' });
    expect(published.map((m) => (m.body as TaskMessage).activity)).toEqual(['stepA', 'stepB']);
    expect((published[1]?.body as TaskMessage | undefined)?.input).toEqual({ previous: ['A'] });
  });

  it('a signal right after a start finds the run before its summary is written, here and on another router', async () => {
    const { decider, store, another } = deciderBench({ summaryDelayMs: 60_000 });
    const started = await decider.process(start('steps', 'st-ns'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    // No summary yet: the start's is written behind like any open state's.
    expect(await store.getRun(runId)).toBeUndefined();
    expect(await decider.process(signal('st-ns', 'add'), { startKey: 'e/2' })).toMatchObject({ runId, seq: 2 });
    const elsewhere = another();
    expect(await elsewhere.holderStatus('st-ns')).toEqual({ runId, status: 'running' });
    expect((await elsewhere.current('st-ns'))?.state.lastSeq).toBe(2);
    await decider.drain(); // writes the delayed summary
    expect(await store.getRun(runId)).toMatchObject({ status: 'running', lastSeq: 2 });
  });

  it('applies a signal to the open run of its workflowId', async () => {
    const { decider, store } = deciderBench();
    await decider.process(start('steps', 'st-1'), { startKey: 'e/1' });
    const outcome = await decider.process(signal('st-1', 'add'), { startKey: 'e/2' });
    expect(outcome).toMatchObject({ kind: 'applied', seq: 2 });
    await decider.drain();
    const run = await store.getRunByWorkflowId('st-1');
    expect((run?.state.snapshot as { context: { adds: number } } | undefined)?.context.adds).toBe(1);
  });

  it('drops an outside input it has taken before (a redelivery), so it counts once', async () => {
    const { decider, store } = deciderBench();
    const started = await decider.process(start('steps', 'st-2'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    expect(await decider.process(signal('st-2', 'add'), { startKey: 'e/2', msgId: 'sig-1' })).toMatchObject({
      kind: 'applied',
    });
    const again = await decider.process(signal('st-2', 'add'), { startKey: 'e/2', msgId: 'sig-1' });
    expect(again).toEqual({ kind: 'dropped', workflowId: 'st-2', runId, why: 'duplicate', workflowType: 'steps' });
    expect((await historyOf(store, runId)).map((c) => c.seq)).toEqual([1, 2]);
  });

  it('loses an append race to another router, reloads and decides again on top of its commit', async () => {
    const { decider, another, store } = deciderBench();
    const started = await decider.process(start('steps', 'st-3'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    // The other router appends seq 2 while this one still holds the run at seq 1 in its cache.
    expect(await another().process(signal('st-3', 'add'), { startKey: 'e/2' })).toMatchObject({ seq: 2 });
    const outcome = await decider.process(signal('st-3', 'next'), { startKey: 'e/3' });
    expect(outcome).toMatchObject({ kind: 'applied', seq: 3 });
    expect(decider.appendRaces).toBe(1);
    const history = await historyOf(store, runId);
    const signals = history.flatMap((c) => c.events.filter((e) => e.type === 'SignalReceived'));
    expect(signals.map((e) => (e.type === 'SignalReceived' ? e.signal.type : ''))).toEqual(['add', 'next']);
  });

  it('a close decided on a stale state, its summary written beside an append that lost, is taken back', async () => {
    const { decider, another, store } = deciderBench();
    const started = await decider.process(start('steps', 'st-4'), { startKey: 'e/1' });
    const runId = started.kind === 'started' ? started.runId : '';
    await decider.process(signal('st-4', 'next'), { startKey: 'e/2' });
    // The other router completes the run at seq 3 while this one holds it at seq 2.
    expect(await another().process(signal('st-4', 'finish'), { startKey: 'e/3' })).toMatchObject({ seq: 3 });
    expect(await store.getRun(runId)).toMatchObject({ status: 'completed', lastSeq: 3 });
    // This one terminates it at seq 3: its closing summary goes out beside the append, which loses.
    const terminate = { kind: 'run', workflowId: 'st-4', decision: { kind: 'terminate', reason: 'test' } } as const;
    expect(await decider.process(terminate, { startKey: 'e/4' })).toMatchObject({ kind: 'dropped', why: 'closed' });
    expect(decider.appendRaces).toBe(1);
    await decider.drain();
    // The summary is the run as its history has it: completed, not terminated.
    expect(await store.getRun(runId)).toMatchObject({ status: 'completed', lastSeq: 3 });
    expect((await historyOf(store, runId)).at(-1)?.events.at(-1)?.type).toBe('RunCompleted');
  });
});
