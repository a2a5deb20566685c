/**
 * The command line's tracing: a router and an executor started as processes with
 * OTEL_EXPORTER_OTLP_ENDPOINT pointing at a small OTLP/HTTP receiver in this test export the
 * spans of a run (an untraced client's start, the approval signal) as one trace, each process as
 * its own service, and log the trace id in the run's lines.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { SAMPLE, type ServiceProcess, startService } from '../../e2e/processes.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';

/** One span as OTLP/JSON carries it, with the service that sent it. */
interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
}

type OtlpValue = { stringValue?: string };
type OtlpBody = {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans?: { spans?: Omit<ReceivedSpan, 'service'>[] }[];
  }[];
};

const received: ReceivedSpan[] = [];
let receiver: Server;
let client: SquallClient;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString();
    });
    req.on('end', () => {
      const body = JSON.parse(text) as OtlpBody;
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) received.push({ ...s, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const env = {
    natsUrl: natsUrl(),
    mongoUrl: mongoUrl(),
    prefix: freshPrefix(),
    dbName: freshDbName(),
    // Short batches, so the spans arrive while the test waits.
    extra: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '100', SQUALL_LOG_LEVEL: 'debug' },
  };
  services.push(
    ...(await Promise.all([
      startService('router', ['router', '--workflows', SAMPLE.workflows], env),
      startService('executor', ['executor', '--activities', SAMPLE.activities], env),
      startService('timer', ['timer'], { ...env, extra: {} }),
    ])),
  );
  client = await connect({ servers: env.natsUrl, prefix: env.prefix });
}, 120_000);

afterAll(async () => {
  await client?.close();
  receiver?.close();
});

it('services started with an OTLP endpoint export one trace per run and log its id', async () => {
  const { runId } = await client.start('order', { orderId: 'o-1', amount: 10 }, { workflowId: 'otlp-1' });
  await waitFor('the run to wait for approve', async () => (await client.query('otlp-1')).accepts.includes('approve'), {
    timeoutMs: 30_000,
  });
  await client.signal('otlp-1', { type: 'approve' });
  await client.result('otlp-1', { timeoutMs: 30_000 });
  const spans = await waitFor(
    'the completion span and every attempt span received',
    () => {
      // An attempt's span ends when the router answers its result (direct results), which may
      // be after the completion's.
      const names = new Set(received.map((s) => s.name));
      const all = ['squall.complete order', 'squall.attempt shipOrder', 'squall.attempt sendEmail'];
      return all.every((n) => names.has(n)) ? [...received] : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  const start = spans.filter((s) => s.name === 'squall.decide start');
  expect(start).toHaveLength(1);
  const root = start[0] as ReceivedSpan;
  // The client had no SDK: the start's decision is the root, and the run's trace.
  expect(root.parentSpanId ?? '').toBe('');
  const ofTrace = spans.filter((s) => s.traceId === root.traceId);
  expect(ofTrace).toEqual(spans);
  expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['squall-router', 'squall-executor']));
  const charge = spans.find((s) => s.name === 'squall.attempt chargeCard');
  expect(charge?.parentSpanId).toBe(root.spanId);
  // The signal came untraced: it hangs from the run's recorded trace, the start's decision.
  expect(spans.find((s) => s.name === 'squall.decide signal')?.parentSpanId).toBe(root.spanId);
  for (const name of ['squall.attempt shipOrder', 'squall.attempt sendEmail', 'squall.complete order']) {
    expect(spans.map((s) => s.name)).toContain(name);
  }
  // The executor's lines of the run carry the trace id.
  const executor = services[1] as ServiceProcess;
  const lines = executor.logs.filter((l) => l.runId === runId);
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(l).toMatchObject({ traceId: root.traceId });
});
