/**
 * The services' SDK set-up: off (nothing loaded or registered) unless the standard OTLP endpoint
 * variable is set; a bad endpoint is a ConfigError naming the variable; set, spans reach an
 * OTLP/HTTP receiver (a small HTTP server here) as `squall-<service>`.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, trace } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { startTracing, tracesEndpoint } from '../../../services/common/tracing-sdk.js';
import { ConfigError } from '../../../shared/errors.js';
import { squallTracer, tracingOn } from '../../../shared/telemetry/index.js';
import { runCli } from '../../harness/cli.js';

afterAll(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

describe('tracesEndpoint', () => {
  it('is off when neither variable is set (or both are blank)', () => {
    expect(tracesEndpoint({})).toBeUndefined();
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBeUndefined();
  });

  it('is off when OTEL_SDK_DISABLED is true, whatever the endpoint', () => {
    expect(tracesEndpoint({ OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeUndefined();
    expect(tracesEndpoint({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe(
      'http://c:4318/v1/traces',
    );
  });

  it('appends /v1/traces to the base endpoint and takes the traces endpoint as given', () => {
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c.example/otlp/' })).toBe(
      'https://c.example/otlp/v1/traces',
    );
    expect(
      tracesEndpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/custom',
      }),
    ).toBe('http://c:4318/custom');
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'not a url'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://collector:4317'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'ftp://user:secret@collector/'],
  ])('refuses %s=%s with a ConfigError naming it, credentials redacted', (name, value) => {
    let caught: unknown;
    try {
      tracesEndpoint({ [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).code).toBe('CONFIG');
    expect((caught as Error).message).toContain(name);
    expect((caught as Error).message).not.toContain('secret');
  });

  it('a service command with a bad endpoint exits 1 with the error before connecting', async () => {
    const r = await runCli(['router', '--workflows', 'no/such/module.ts'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url',
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.err[0] as string)).toMatchObject({
      error: { code: 'CONFIG', message: expect.stringContaining('OTEL_EXPORTER_OTLP_ENDPOINT') },
    });
  });
});

describe('startTracing', () => {
  it('loads and registers nothing when no endpoint is set', async () => {
    expect(await startTracing('router', {})).toBeUndefined();
    expect(tracingOn()).toBe(false);
  });

  it('exports spans over OTLP/HTTP to the endpoint, as squall-<service>', async () => {
    const received: { path: string; type: string; body: string }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const tracing = await startTracing('executor', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
      expect(tracing?.endpoint).toBe(`http://127.0.0.1:${port}/v1/traces`);
      expect(tracingOn()).toBe(true);
      squallTracer().startSpan('squall.attempt charge').end();
      await tracing?.shutdown(); // flushes the batch
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ path: '/v1/traces', type: expect.stringContaining('application/json') });
      const body = received[0]?.body ?? '';
      expect(body).toContain('squall.attempt charge');
      expect(body).toContain('squall-executor');
    } finally {
      server.close();
    }
  });
});
