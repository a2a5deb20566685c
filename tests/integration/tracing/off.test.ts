/**
 * Tracing off (no SDK registered in this process, as in a service without
 * OTEL_EXPORTER_OTLP_ENDPOINT): a run through the client, the router, the executor and the timer
 * puts no trace header on any message, records no trace with the run, and logs no trace fields.
 */
import { type NatsConnection, connect as natsConnect } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TRACEPARENT_HEADER, TRACESTATE_HEADER, tracingOn } from '../../../shared/telemetry/index.js';
import { eventsOf, ofType } from '../../e2e/activities-helpers.js';
import { natsUrl } from '../../harness/index.js';
import { runTraced, startWorld, type TracingWorld } from './world.js';

let world: TracingWorld;
let nc: NatsConnection;
/** Every message seen on the test's prefix: subject and header names. */
const seen: { subject: string; headers: string[] }[] = [];

beforeAll(async () => {
  world = await startWorld();
  nc = await natsConnect({ servers: natsUrl() });
  nc.subscribe(`${world.prefix}.>`, {
    callback: (_err, msg) => {
      seen.push({ subject: msg.subject, headers: msg.headers ? msg.headers.keys() : [] });
    },
  });
  await nc.flush();
}, 60_000);

afterAll(async () => {
  await nc?.close();
  await world?.close();
});

/**
 * `start`, `task`, …; events-stream subjects (`event.<partition>.<kind>.<runId>`) by their kind,
 * and results offered directly to a router (`direct.<partition>.<runId>`) as `result`.
 */
function kindOf(subject: string): string {
  const tokens = subject.split('.');
  if (tokens[0] === 'direct') return 'result';
  return (tokens[0] === 'event' ? tokens[2] : tokens[0]) ?? '';
}

it('with tracing off, no message carries trace headers and no line or run a trace', async () => {
  expect(tracingOn()).toBe(false);
  const { runId } = await runTraced(world.client, 'untraced-1');
  await nc.flush();
  // The run's whole way: its start, task, result, timer schedule, firing, signal and completion.
  const kinds = new Set(seen.map((m) => kindOf(m.subject.slice(world.prefix.length + 1))));
  for (const kind of ['start', 'task', 'result', 'timer', 'fired', 'signal', 'done']) {
    expect([...kinds], `a ${kind} message seen`).toContain(kind);
  }
  const traced = seen.filter((m) =>
    m.headers.some((h) => [TRACEPARENT_HEADER, TRACESTATE_HEADER].includes(h.toLowerCase())),
  );
  // Headers were seen (msg ids), none of them a trace's.
  expect(seen.some((m) => m.headers.includes('Nats-Msg-Id'))).toBe(true);
  expect(traced).toEqual([]);
  const [started] = ofType(await eventsOf(world.client, 'untraced-1'), 'RunStarted');
  expect(started).toBeDefined();
  expect(started?.trace).toBeUndefined();
  const ofRun = world.lines.filter((l) => l.runId === runId);
  expect(ofRun.length).toBeGreaterThan(0);
  expect(world.lines.filter((l) => 'traceId' in l || 'spanId' in l)).toEqual([]);
});
