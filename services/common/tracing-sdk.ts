/**
 * The OpenTelemetry SDK of a service process, set up only when the user asks for export with the
 * standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): a tracer
 * provider with a batching OTLP/HTTP (JSON) exporter, registered globally with the
 * AsyncLocalStorage context manager. Unset, nothing is imported and nothing is sent.
 */
import { ConfigError } from '../../shared/errors.js';
import { redactUrl } from '../../shared/log.js';

/** Environment variables read here (the process's, or a test's). */
export type TracingEnv = Readonly<Record<string, string | undefined>>;

/** The commands whose process sets tracing up when asked: the services, and `dev` (all three in one). */
export const TRACED_COMMANDS: ReadonlySet<string> = new Set(['router', 'executor', 'timer', 'dev']);

/** How long a stopping process waits for its last spans to go out. */
const FLUSH_DEADLINE_MS = 3_000;

/** Tracing set up for a process. */
export interface TracingHandle {
  /** Where spans go (`…/v1/traces`), credentials redacted, for the start log line. */
  readonly endpoint: string;
  /** Sends the spans still batched and stops the exporter. */
  shutdown(): Promise<void>;
}

/**
 * The OTLP/HTTP traces URL the environment asks for, or undefined when tracing is off (no
 * endpoint set, or `OTEL_SDK_DISABLED=true`, as the OpenTelemetry spec says). The
 * signal-specific variable is used as given; the base one gets `/v1/traces` appended (as the
 * OpenTelemetry spec says). Throws ConfigError for a value that is not an http(s) URL.
 */
export function tracesEndpoint(env: TracingEnv): string | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!specific && !base) return undefined;
  const name = specific ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const raw = (specific || base) as string;
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new ConfigError(`${name} must be an http(s) URL, got ${JSON.stringify(redactUrl(raw))}`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http(s) URL (OTLP/HTTP), got ${JSON.stringify(redactUrl(raw))}`);
  }
  return specific ? url.href : `${url.href.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Sets up tracing for service `service` (the resource's `service.name` is `squall-<service>`
 * unless OTEL_SERVICE_NAME says otherwise) when the environment asks for it; undefined, having
 * loaded nothing, when it does not.
 */
export async function startTracing(service: string, env: TracingEnv): Promise<TracingHandle | undefined> {
  const url = tracesEndpoint(env);
  if (url === undefined) return undefined;
  const [
    { NodeTracerProvider, BatchSpanProcessor },
    { OTLPTraceExporter },
    { defaultResource, resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || `squall-${service}`;
  const provider = new NodeTracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': serviceName })),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  provider.register();
  return {
    endpoint: redactUrl(url),
    // A collector away must not hold the process's exit past its own deadline.
    shutdown: async () => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => {
        timer = setTimeout(r, FLUSH_DEADLINE_MS);
      });
      await Promise.race([provider.shutdown().catch(() => {}), late]);
      clearTimeout(timer);
    },
  };
}
