/**
 * One run, one trace: with an OpenTelemetry SDK registered in this process (an in-memory
 * exporter), a run that starts, runs an activity, waits on a timer, waits for an untraced signal,
 * runs a second activity and completes leaves one trace across the client, the router and the
 * executor: start → decisions → attempts → completion. Decisions whose input carries no context
 * (the timer's firing, the signal) hang from the run's recorded trace. Every log line of the run
 * carries its trace id.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  NodeTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ATTR, formatTraceparent } from '../../../shared/telemetry/index.js';
import { eventsOf, ofType } from '../../e2e/activities-helpers.js';
import { waitFor } from '../../harness/index.js';
import { runTraced, startWorld, type TracingWorld } from './world.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
let world: TracingWorld;

beforeAll(async () => {
  provider.register();
  world = await startWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

/** The one span named `name` among `spans` (fails if there is not exactly one). */
function only(spans: ReadableSpan[], name: string, where: (s: ReadableSpan) => boolean = () => true): ReadableSpan {
  const found = spans.filter((s) => s.name === name && where(s));
  expect(
    found.map((s) => s.name),
    `one span ${name}`,
  ).toEqual([name]);
  return found[0] as ReadableSpan;
}

const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan): string => s.spanContext().spanId;

it('a run leaves one trace: start → decisions → attempts → completion, across a timer and a signal', async () => {
  const { runId } = await runTraced(world.client, 'traced-1');
  const spans = await waitFor(
    'the completion span and the last attempt span exported',
    () => {
      // The last attempt's span ends when the router answers its result (direct results), which
      // may be after the completion's.
      const all = exporter.getFinishedSpans();
      const names = new Set(all.map((s) => s.name));
      return names.has('squall.complete traced') && names.has('squall.attempt finish') ? all : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  const ofRun = spans.filter((s) => s.attributes[ATTR.runId] === runId || s.attributes[ATTR.workflowId] === 'traced-1');
  const traceIds = new Set(ofRun.map((s) => s.spanContext().traceId));
  expect(traceIds.size, 'one trace').toBe(1);

  const start = only(ofRun, 'squall.start traced');
  expect(parentOf(start)).toBeUndefined();
  expect(start.attributes).toMatchObject({ [ATTR.workflowType]: 'traced', [ATTR.runId]: runId });

  // The run recorded the context it came with: the parent of its inputs that carry none.
  const [runStarted] = ofType(await eventsOf(world.client, 'traced-1'), 'RunStarted');
  expect(runStarted?.trace).toBe(formatTraceparent(start.spanContext()));

  const decided = (kind: string) => ofRun.filter((s) => s.name === `squall.decide ${kind}`);
  const started = only(ofRun, 'squall.decide start');
  expect(parentOf(started)).toBe(idOf(start));
  expect(started.attributes).toMatchObject({
    [ATTR.runId]: runId,
    [ATTR.workflowId]: 'traced-1',
    [ATTR.workflowType]: 'traced',
    [ATTR.input]: 'start',
    [ATTR.seq]: 1,
    [ATTR.outcome]: 'started',
  });

  // The first attempt hangs from the decision that scheduled it; its result's decision from it.
  const prepare = only(ofRun, 'squall.attempt prepare');
  expect(parentOf(prepare)).toBe(idOf(started));
  expect(prepare.attributes).toMatchObject({ [ATTR.attempt]: 1, [ATTR.outcome]: 'completed' });
  const completions = decided('activityCompleted');
  expect(completions).toHaveLength(2);
  const prepared = completions.find((s) => parentOf(s) === idOf(prepare));
  expect(prepared?.attributes).toMatchObject({ [ATTR.input]: 'activityCompleted', [ATTR.outcome]: 'applied' });

  // The timer's firing and the signal carry no context: both hang from the run's recorded trace.
  const fired = only(ofRun, 'squall.decide timerFired');
  const signalled = only(ofRun, 'squall.decide signal');
  for (const d of [fired, signalled]) {
    expect(parentOf(d)).toBe(idOf(start));
    expect(d.attributes).toMatchObject({
      [ATTR.runId]: runId,
      [ATTR.workflowType]: 'traced',
      [ATTR.outcome]: 'applied',
    });
    expect(typeof d.attributes[ATTR.seq]).toBe('number');
  }

  // The second attempt was scheduled by the signal's decision; its result closed the run.
  const finish = only(ofRun, 'squall.attempt finish');
  expect(parentOf(finish)).toBe(idOf(signalled));
  const closing = completions.find((s) => parentOf(s) === idOf(finish));
  expect(closing).toBeDefined();
  const complete = only(ofRun, 'squall.complete traced');
  expect(parentOf(complete)).toBe(idOf(closing as ReadableSpan));
  expect(complete.attributes).toMatchObject({ [ATTR.status]: 'completed', [ATTR.runId]: runId });

  // Commit seqs rise along the run.
  const seqs = [started, prepared, fired, signalled, closing].map((s) => s?.attributes[ATTR.seq] as number);
  expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
});

it("every log line of a run carries the run's trace id", async () => {
  // Told it waits by the router's own line for the timer's firing, not by describe: a read request
  // is not part of the run's trace, and its lines (a describe racing a decision) carry none.
  const firingDecided = (runId: string) =>
    waitFor(
      'the firing decided',
      () => world.lines.some((l) => l.msg === 'input decided' && String(l.subject).endsWith(`.fired.${runId}`)),
      { timeoutMs: 30_000, intervalMs: 20 },
    );
  const { runId } = await runTraced(world.client, 'traced-2', firingDecided);
  const start = await waitFor(
    'the start span exported',
    () =>
      exporter.getFinishedSpans().find((s) => s.name === 'squall.start traced' && s.attributes[ATTR.runId] === runId),
    { timeoutMs: 10_000, intervalMs: 50 },
  );
  const traceId = start.spanContext().traceId;
  const ofRun = world.lines.filter((l) => l.runId === runId);
  expect(
    ofRun.some((l) => l.msg === 'preparing'),
    "the activity's own line",
  ).toBe(true);
  for (const line of ofRun) {
    expect(line, 'a log line of the run').toMatchObject({ traceId, spanId: expect.stringMatching(/^[0-9a-f]{16}$/) });
  }
  // Lines that name no run (the router's input lines) carry it too while deciding one of its inputs.
  const traced = world.lines.filter((l) => l.traceId === traceId);
  expect(new Set(traced.map((l) => l.service))).toEqual(new Set(['router', 'executor']));
  expect(traced.some((l) => l.msg === 'input decided')).toBe(true);
});
