/**
 * Structured logs: one JSON object per line on stderr, with the fields that let an operator follow
 * a run across services (service, runId, workflowId, activity, and traceId/spanId while a span is
 * active, see docs/services.md#traces). No other console output.
 */
import { activeTraceFields } from './telemetry/tracing.js';

/** The severities, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** Severity. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** A logger bound to a set of fields. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose every line also carries `fields`. */
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Where lines go; tests may capture them. */
export type LogSink = (line: string) => void;

/** Options for createLogger. */
export interface LoggerOptions {
  /** Lines below this level are dropped. The command line passes SQUALL_LOG_LEVEL here. @default 'info' */
  level?: LogLevel;
  /** @default writes to process.stderr */
  sink?: LogSink;
  /** Fields on every line, e.g. `{ service: 'router' }`. */
  fields?: LogFields;
}

/**
 * A JSON-lines logger: its methods live on the prototype, so child(), called for every input and
 * every task, makes one object rather than six closures.
 */
class JsonLogger implements Logger {
  constructor(
    private readonly min: number,
    private readonly sink: LogSink,
    private readonly bound: LogFields,
  ) {}

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  child(fields: LogFields): Logger {
    return new JsonLogger(this.min, this.sink, { ...this.bound, ...fields });
  }

  private write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (ORDER[level] < this.min) return;
    this.sink(
      safeStringify({ time: new Date().toISOString(), level, msg, ...this.bound, ...activeTraceFields(), ...fields }),
    );
  }
}

/** Creates a JSON-lines logger; it reads no environment (the level is an option). */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const sink: LogSink = opts.sink ?? ((line) => process.stderr.write(`${line}\n`));
  return new JsonLogger(ORDER[opts.level ?? 'info'], sink, opts.fields ?? {});
}

/** A logger that drops everything (for library use without logging). */
export const silentLogger: Logger = createLogger({ sink: () => {}, level: 'error' });

function safeStringify(obj: LogFields): string {
  try {
    return JSON.stringify(obj, (_k, v: unknown) => {
      if (v instanceof Error) return { name: v.name, message: v.message, code: (v as { code?: unknown }).code };
      if (typeof v === 'bigint') return v.toString();
      return v;
    });
  } catch {
    return JSON.stringify({ level: 'error', msg: 'unserializable log line' });
  }
}

/**
 * A server URL (or comma-separated list) fit for a log line or an error: a password in it becomes
 * `***` (`mongodb://app:***@host`), and so does a bare userinfo, which some clients read as a
 * token (`nats://***@host`). Credentials must never reach a log; pass every URL through here.
 */
export function redactUrl(url: string): string {
  return url.replace(/([a-z][a-z0-9+.-]*:\/\/)([^@/?#\s,]*)@/gi, (_all, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon < 0 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
  });
}
