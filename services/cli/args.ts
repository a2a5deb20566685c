/**
 * The `squall` command line, parsed: subcommands, flags, positionals and the connection settings
 * from flags and environment, all checked here so a mistake is a UsageError (exit code 2) before
 * anything connects.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { IdReusePolicy } from '../../shared/client/index.js';
import { validateSearchAttributes } from '../../shared/engine/search-attributes.js';
import type { RunStatus, SearchAttributes, SignalEvent } from '../../shared/history/events.js';
import { type LogLevel, parseLogLevel } from '../../shared/log.js';
import { DEFAULT_PREFIX, validatePrefix, validateToken } from '../../shared/names.js';
import { DEFAULT_DB, DEFAULT_MONGO_URL, DEFAULT_NATS_URL } from '../common/options.js';

/** Defaults when neither a flag nor the environment names a server. */
export { DEFAULT_DB, DEFAULT_MONGO_URL, DEFAULT_NATS_URL };

/** How long a service may finish in-flight work after SIGTERM/SIGINT. */
export const SHUTDOWN_DEADLINE_MS = 8_000;
/** The sample modules `dev` runs when none are given. */
export const SAMPLE_WORKFLOWS = 'examples/order/workflows.ts';
export const SAMPLE_ACTIVITIES = 'examples/order/activities.ts';

/** The synopsis of each command, used by the help text and by usage errors. */
export const SYNOPSIS = {
  router: 'squall router --workflows <module> [--health-port N]',
  executor: 'squall executor --activities <module> [--concurrency N] [--health-port N]',
  timer: 'squall timer [--health-port N]',
  dev: 'squall dev [--workflows <module>] [--activities <module>] [--sample]',
  start:
    "squall start <type> [--input '<json>'] [--id <workflowId>] [--policy <idReusePolicy>] [--signal '<json event>'] [--memo '<json>'] [--attr key=value]... [--wait [--timeout <ms>]]",
  signal: "squall signal <workflowId> '<json event>'",
  cancel: 'squall cancel <workflowId> [--reason <text>]',
  terminate: 'squall terminate <workflowId> [--reason <text>]',
  query: 'squall query <workflowId>',
  describe: 'squall describe <workflowId> [--run <runId>] [--table]',
  history: 'squall history <workflowId> [--run <runId>] [--table]',
  list: 'squall list [--status <status>] [--type <workflowType>] [--where key=value]... [--limit N]',
  watch: 'squall watch [--id <workflowId>] [--type <workflowType>]',
  replay: 'squall replay --workflows <module> --history <file|workflowId> [--run <runId>]',
  'complete-callback': "squall complete-callback <token> [--output '<json>']",
  'fail-callback': 'squall fail-callback <token> --error <message> [--code <code>]',
  help: 'squall help',
} as const;

/** The usage text of `squall help`. */
export const USAGE = `squall: durable workflows as XState statecharts (NATS JetStream + MongoDB)

Services (run until SIGTERM/SIGINT, then finish in-flight work for up to ${SHUTDOWN_DEADLINE_MS / 1000} s):
  ${SYNOPSIS.router}
      decide runs of the workflows the module exports (.ts or .js)
  ${SYNOPSIS.executor}
      run the activities the module exports
  ${SYNOPSIS.timer}
      fire durable timers
  ${SYNOPSIS.dev}
      router + executor + timer in one process, on a local nats-server and MongoDB started for
      the session when NATS_URL / MONGO_URL are not set. Default modules: the sample order
      workflow. --sample runs one order end to end, prints its history and output, and exits.

Runs (JSON output, one object per line):
  ${SYNOPSIS.start}
      idReusePolicy: returnExisting (default), rejectWhileOpen, allowAfterClose, rejectDuplicate
      --signal (needs --id): signal-with-start; signals the open run of the id, or starts one
      and signals it; prints {workflowId, runId, started}
      --attr / --where values: numbers and true/false are typed, anything else is a string
  ${SYNOPSIS.signal}
      e.g. squall signal order-1 '{"type":"approve"}'
  ${SYNOPSIS.cancel}
  ${SYNOPSIS.terminate}
      end the run now, without asking its machine; children get their parent close policy
  ${SYNOPSIS.query}
  ${SYNOPSIS.describe}
      --table: short human view (status, state, tags, pending activities with attempts, timers)
  ${SYNOPSIS.history}
      one line per commit; --table: one row per event with times, attempts and errors
  ${SYNOPSIS.list}
      one line per run; status: running, completed, failed, cancelled, terminated, continued
  ${SYNOPSIS.watch}
      completions and emitted events as they happen, until Ctrl-C
  ${SYNOPSIS.replay}
      replay recorded histories under the module's definitions: one line per run, ok or the
      NondeterminismError naming the event; exit 1 if any run fails. --history is a file (what
      'squall history' prints, or a JSON array / { commits }) or a workflowId read from MongoDB
  ${SYNOPSIS['complete-callback']}
  ${SYNOPSIS['fail-callback']}
      finish a callback a run handed out (its token, e.g. from squall query)
  ${SYNOPSIS.help}

Connection (flags override the environment):
  --nats <url>    NATS_URL       default ${DEFAULT_NATS_URL}
  --mongo <url>   MONGO_URL      default ${DEFAULT_MONGO_URL}
  --prefix <p>    SQUALL_PREFIX  default ${DEFAULT_PREFIX}
  --db <name>     SQUALL_DB      default ${DEFAULT_DB}
Also: SQUALL_WORKFLOWS, SQUALL_ACTIVITIES and SQUALL_CONCURRENCY stand in for the service flags;
SQUALL_LOG_LEVEL (debug|info|warn|error) sets the services' log level (logs go to stderr).
Health: every service answers on NATS (<prefix>.health.<service>); with --health-port N
(SQUALL_HEALTH_PORT) it also serves GET /healthz (live) and /readyz (connected and consuming).

Exit codes: 0 ok; 1 error, reported as one JSON line on stderr {"error":{"code","message"}};
2 usage error.`;

/** A mistake in the command line: exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  override readonly name = 'UsageError';
}

/** Where the servers are, as given by flags and environment. Undefined URL = not given. */
export interface Connection {
  natsUrl?: string;
  mongoUrl?: string;
  prefix: string;
  dbName: string;
}

/** A parsed command line. */
export type CliCommand =
  | { kind: 'help' }
  | { kind: 'router'; workflows: string; healthPort?: number; fault?: RouterFault }
  | { kind: 'executor'; activities: string; concurrency?: number; healthPort?: number }
  | { kind: 'timer'; healthPort?: number }
  | { kind: 'dev'; workflows: string; activities: string; sample: boolean }
  | {
      kind: 'start';
      workflowType: string;
      input?: unknown;
      workflowId?: string;
      idReusePolicy?: IdReusePolicy;
      wait: boolean;
      timeoutMs?: number;
      /** Signal-with-start. */
      signal?: SignalEvent;
      memo?: Record<string, unknown>;
      searchAttributes?: SearchAttributes;
    }
  | { kind: 'signal'; workflowId: string; event: SignalEvent }
  | { kind: 'cancel'; workflowId: string; reason?: string }
  | { kind: 'terminate'; workflowId: string; reason?: string }
  | { kind: 'query'; workflowId: string }
  | { kind: 'describe'; workflowId: string; runId?: string; table?: boolean }
  | { kind: 'history'; workflowId: string; runId?: string; table?: boolean }
  | { kind: 'list'; status?: RunStatus; workflowType?: string; limit?: number; where?: SearchAttributes }
  | { kind: 'watch'; workflowId?: string; workflowType?: string }
  | { kind: 'replay'; workflows: string; history: ReplaySource }
  | { kind: 'complete-callback'; token: string; output?: unknown }
  | { kind: 'fail-callback'; token: string; error: { message: string; code?: string } };

/** Where `squall replay` reads histories: a file, or a workflowId's run (latest, or `runId`) in MongoDB. */
export type ReplaySource = { file: string } | { workflowId: string; runId?: string };

/**
 * A crash point for fault tests, from `SQUALL_FAULT` (test-only; never set it in production):
 * `exit-after-append:<n>` exits (code 137) right after the n-th commit this router appended is
 * stored, before any summary write or publish; `exit-after-commit:<n>` exits right before
 * publishing the commands of the n-th commit that has any, i.e. after it is stored and (for a
 * closing commit) after its summary; `exit-after-publish:<n>` exits right after the n-th command
 * message was published, before the input is acked and the commit marked published.
 */
export interface RouterFault {
  kind: 'exit-after-append' | 'exit-after-commit' | 'exit-after-publish';
  n: number;
}

/** Parses `SQUALL_FAULT`; throws UsageError on anything but the three documented forms. */
export function parseFault(value: string): RouterFault {
  const m = /^(exit-after-append|exit-after-commit|exit-after-publish):(\d+)$/.exec(value);
  const n = Number(m?.[2]);
  if (!m || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(
      `SQUALL_FAULT must be exit-after-append:<n>, exit-after-commit:<n> or exit-after-publish:<n> (n >= 1), got ${JSON.stringify(value)}`,
    );
  }
  return { kind: m[1] as RouterFault['kind'], n };
}

/** A command line with its connection and log level. */
export interface ParsedCli {
  command: CliCommand;
  connection: Connection;
  /** From SQUALL_LOG_LEVEL; undefined when unset (services then log at info, `dev --sample` at warn). */
  logLevel?: LogLevel;
}

/** Environment variables the CLI reads. */
export type Env = Readonly<Record<string, string | undefined>>;

const CONNECTION_OPTIONS = {
  nats: { type: 'string' },
  mongo: { type: 'string' },
  prefix: { type: 'string' },
  db: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** The flags of each subcommand besides the connection flags. */
const COMMAND_OPTIONS: Record<CliCommand['kind'], OptionSpec> = {
  help: {},
  router: { workflows: { type: 'string' }, 'health-port': { type: 'string' } },
  executor: { activities: { type: 'string' }, concurrency: { type: 'string' }, 'health-port': { type: 'string' } },
  timer: { 'health-port': { type: 'string' } },
  dev: { workflows: { type: 'string' }, activities: { type: 'string' }, sample: { type: 'boolean' } },
  start: {
    input: { type: 'string' },
    id: { type: 'string' },
    policy: { type: 'string' },
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
    signal: { type: 'string' },
    memo: { type: 'string' },
    attr: { type: 'string', multiple: true },
  },
  signal: {},
  cancel: { reason: { type: 'string' } },
  terminate: { reason: { type: 'string' } },
  query: {},
  describe: { run: { type: 'string' }, table: { type: 'boolean' } },
  history: { run: { type: 'string' }, table: { type: 'boolean' } },
  list: {
    status: { type: 'string' },
    type: { type: 'string' },
    limit: { type: 'string' },
    where: { type: 'string', multiple: true },
  },
  watch: { id: { type: 'string' }, type: { type: 'string' } },
  replay: { workflows: { type: 'string' }, history: { type: 'string' }, run: { type: 'string' } },
  'complete-callback': { output: { type: 'string' } },
  'fail-callback': { error: { type: 'string' }, code: { type: 'string' } },
};

const POSITIONALS: Record<CliCommand['kind'], string[]> = {
  help: [],
  router: [],
  executor: [],
  timer: [],
  dev: [],
  start: ['workflowType'],
  signal: ['workflowId', 'event'],
  cancel: ['workflowId'],
  terminate: ['workflowId'],
  query: ['workflowId'],
  describe: ['workflowId'],
  history: ['workflowId'],
  list: [],
  watch: [],
  replay: [],
  'complete-callback': ['token'],
  'fail-callback': ['token'],
};

const ID_REUSE_POLICIES = [
  'returnExisting',
  'rejectWhileOpen',
  'allowAfterClose',
  'rejectDuplicate',
] as const satisfies readonly IdReusePolicy[];

function isPolicy(value: string): value is IdReusePolicy {
  return (ID_REUSE_POLICIES as readonly string[]).includes(value);
}

const STATUSES: ReadonlySet<string> = new Set<RunStatus>([
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'continued',
]);

/** Parses argv (without node and script) and the environment; throws UsageError. */
export function parseCli(argv: readonly string[], env: Env = {}): ParsedCli {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError("no command given; run 'squall help'");
  const kind = name === '--help' || name === '-h' ? 'help' : name;
  if (!Object.hasOwn(COMMAND_OPTIONS, kind))
    throw new UsageError(`unknown command ${JSON.stringify(name)}; run 'squall help'`);
  const k = kind as CliCommand['kind'];
  let parsed: { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...rest],
      options: { ...CONNECTION_OPTIONS, ...COMMAND_OPTIONS[k] },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`${k}: ${(err as Error).message}`);
  }
  const v = parsed.values;
  const connection = parseConnection(v, env);
  const logLevel = env.SQUALL_LOG_LEVEL ? { logLevel: parseLogLevel(env.SQUALL_LOG_LEVEL) } : {};
  if (v.help === true || k === 'help') return { command: { kind: 'help' }, connection, ...logLevel };

  const names = POSITIONALS[k];
  const pos = parsed.positionals;
  if (pos.length < names.length) throw new UsageError(`${k}: missing <${names[pos.length]}>; usage: ${usageLine(k)}`);
  if (pos.length > names.length) throw new UsageError(`${k}: unexpected argument ${JSON.stringify(pos[names.length])}`);
  const str = (key: string): string | undefined => (typeof v[key] === 'string' ? (v[key] as string) : undefined);

  return { command: buildCommand(k, pos, str, v, env), connection, ...logLevel };
}

function buildCommand(
  k: CliCommand['kind'],
  pos: string[],
  str: (key: string) => string | undefined,
  v: Record<string, string | boolean | string[] | undefined>,
  env: Env,
): CliCommand {
  const id = (kind: 'workflowId' | 'runId' | 'workflowType', value: string | undefined, what: string) =>
    value === undefined ? undefined : token(kind, value, `${k}: ${what}`);
  const healthPortOf = (): { healthPort?: number } => {
    const port = positiveInt(k, 'health-port', str('health-port') ?? (env.SQUALL_HEALTH_PORT || undefined));
    if (port !== undefined && port > 65_535) throw new UsageError(`${k}: --health-port must be at most 65535`);
    return port === undefined ? {} : { healthPort: port };
  };
  switch (k) {
    case 'help':
      return { kind: 'help' };
    case 'router': {
      const workflows = required(k, 'workflows', str('workflows') ?? env.SQUALL_WORKFLOWS);
      return {
        kind: 'router',
        workflows,
        ...healthPortOf(),
        ...(env.SQUALL_FAULT ? { fault: parseFault(env.SQUALL_FAULT) } : {}),
      };
    }
    case 'executor': {
      const concurrency = positiveInt(k, 'concurrency', str('concurrency') ?? env.SQUALL_CONCURRENCY);
      const activities = required(k, 'activities', str('activities') ?? env.SQUALL_ACTIVITIES);
      return {
        kind: k,
        activities,
        ...(concurrency === undefined ? {} : { concurrency }),
        ...healthPortOf(),
      };
    }
    case 'timer':
      return { kind: 'timer', ...healthPortOf() };
    case 'dev':
      return {
        kind: 'dev',
        workflows: str('workflows') ?? env.SQUALL_WORKFLOWS ?? SAMPLE_WORKFLOWS,
        activities: str('activities') ?? env.SQUALL_ACTIVITIES ?? SAMPLE_ACTIVITIES,
        sample: v.sample === true,
      };
    case 'start': {
      const cmd: CliCommand = {
        kind: 'start',
        workflowType: token('workflowType', pos[0] as string, 'start'),
        wait: v.wait === true,
      };
      const input = str('input');
      if (input !== undefined) cmd.input = parseJson(k, '--input', input);
      const workflowId = id('workflowId', str('id'), '--id');
      if (workflowId !== undefined) cmd.workflowId = workflowId;
      const policy = str('policy');
      if (policy !== undefined) {
        if (!isPolicy(policy)) {
          throw new UsageError(
            `start: --policy must be one of ${ID_REUSE_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`,
          );
        }
        cmd.idReusePolicy = policy;
      }
      const timeoutMs = positiveInt(k, 'timeout', str('timeout'));
      if (timeoutMs !== undefined) {
        if (!cmd.wait) throw new UsageError('start: --timeout only applies with --wait');
        cmd.timeoutMs = timeoutMs;
      }
      const signal = str('signal');
      if (signal !== undefined) {
        if (cmd.workflowId === undefined) throw new UsageError('start: --signal (signal-with-start) needs --id');
        cmd.signal = eventOf(k, '--signal', signal);
      }
      const memo = str('memo');
      if (memo !== undefined) cmd.memo = parseJson(k, '--memo', memo) as Record<string, unknown>;
      const attrs = keyValues(k, '--attr', v.attr);
      if (attrs !== undefined) cmd.searchAttributes = attrs;
      return cmd;
    }
    case 'signal': {
      const event = parseJson(k, '<event>', pos[1] as string);
      if (
        typeof event !== 'object' ||
        event === null ||
        Array.isArray(event) ||
        typeof (event as { type?: unknown }).type !== 'string'
      ) {
        throw new UsageError('signal: <event> must be a JSON object with a string "type", e.g. \'{"type":"approve"}\'');
      }
      return { kind: 'signal', workflowId: token('workflowId', pos[0] as string, k), event: event as SignalEvent };
    }
    case 'cancel':
    case 'terminate': {
      const reason = str('reason');
      const workflowId = token('workflowId', pos[0] as string, k);
      return reason === undefined ? { kind: k, workflowId } : { kind: k, workflowId, reason };
    }
    case 'query':
      return { kind: 'query', workflowId: token('workflowId', pos[0] as string, k) };
    case 'describe':
    case 'history': {
      const runId = id('runId', str('run'), '--run');
      const workflowId = token('workflowId', pos[0] as string, k);
      const table = v.table === true ? { table: true } : {};
      return runId === undefined ? { kind: k, workflowId, ...table } : { kind: k, workflowId, runId, ...table };
    }
    case 'list': {
      const cmd: CliCommand = { kind: 'list' };
      const status = str('status');
      if (status !== undefined) {
        if (!STATUSES.has(status))
          throw new UsageError(
            `list: --status must be one of ${[...STATUSES].join(', ')}, got ${JSON.stringify(status)}`,
          );
        cmd.status = status as RunStatus;
      }
      const type = id('workflowType', str('type'), '--type');
      if (type !== undefined) cmd.workflowType = type;
      const limit = positiveInt(k, 'limit', str('limit'));
      if (limit !== undefined) cmd.limit = limit;
      const where = keyValues(k, '--where', v.where);
      if (where !== undefined) cmd.where = where;
      return cmd;
    }
    case 'replay': {
      const workflows = required(k, 'workflows', str('workflows'));
      const history = str('history');
      if (history === undefined || history === '') {
        throw new UsageError(`replay: --history <file|workflowId> is required; usage: ${usageLine(k)}`);
      }
      const runId = id('runId', str('run'), '--run');
      if (existsSync(history)) {
        if (runId !== undefined) throw new UsageError('replay: --run applies to a workflowId, not to a file');
        return { kind: 'replay', workflows, history: { file: history } };
      }
      if (/[/\\]|\.(json|jsonl|ndjson)$/.test(history)) {
        throw new UsageError(`replay: --history file ${JSON.stringify(history)} does not exist`);
      }
      const workflowId = token('workflowId', history, 'replay: --history (no such file, so a workflowId)');
      return { kind: 'replay', workflows, history: runId === undefined ? { workflowId } : { workflowId, runId } };
    }
    case 'complete-callback': {
      const output = str('output');
      const token = pos[0] as string;
      return output === undefined ? { kind: k, token } : { kind: k, token, output: parseJson(k, '--output', output) };
    }
    case 'fail-callback': {
      const message = str('error');
      if (!message) throw new UsageError(`${k}: --error <message> is required; usage: ${usageLine(k)}`);
      const code = str('code');
      return { kind: k, token: pos[0] as string, error: code === undefined ? { message } : { message, code } };
    }
    case 'watch': {
      const cmd: CliCommand = { kind: 'watch' };
      const workflowId = id('workflowId', str('id'), '--id');
      if (workflowId !== undefined) cmd.workflowId = workflowId;
      const type = id('workflowType', str('type'), '--type');
      if (type !== undefined) cmd.workflowType = type;
      return cmd;
    }
  }
}

function parseConnection(v: Record<string, string | boolean | string[] | undefined>, env: Env): Connection {
  const flag = (key: string): string | undefined => (typeof v[key] === 'string' ? (v[key] as string) : undefined);
  const connection: Connection = {
    prefix: flag('prefix') ?? env.SQUALL_PREFIX ?? DEFAULT_PREFIX,
    dbName: flag('db') ?? env.SQUALL_DB ?? DEFAULT_DB,
  };
  try {
    validatePrefix(connection.prefix);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(connection.dbName)) {
    throw new UsageError(
      `database name ${JSON.stringify(connection.dbName)} must be 1 to 63 letters, digits, '_' or '-'`,
    );
  }
  const natsUrl = flag('nats') ?? (env.NATS_URL || undefined);
  if (natsUrl !== undefined) connection.natsUrl = checkUrl('NATS', natsUrl, ['nats:', 'tls:', 'ws:', 'wss:']);
  const mongoUrl = flag('mongo') ?? (env.MONGO_URL || undefined);
  if (mongoUrl !== undefined) connection.mongoUrl = checkUrl('MongoDB', mongoUrl, ['mongodb:', 'mongodb+srv:']);
  return connection;
}

function checkUrl(what: string, value: string, protocols: string[]): string {
  for (const part of value.split(',')) {
    let protocol: string;
    try {
      protocol = new URL(part.trim()).protocol;
    } catch {
      throw new UsageError(
        `${what} URL ${JSON.stringify(part)} is not a URL; expected e.g. ${protocols[0]}//127.0.0.1`,
      );
    }
    if (!protocols.includes(protocol)) {
      throw new UsageError(
        `${what} URL ${JSON.stringify(part)} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`,
      );
    }
  }
  return value;
}

/** A JSON XState event `{ "type": ..., ...data }` given as a flag or argument. */
function eventOf(k: string, what: string, text: string): SignalEvent {
  const event = parseJson(k, what, text);
  if (
    typeof event !== 'object' ||
    event === null ||
    Array.isArray(event) ||
    typeof (event as { type?: unknown }).type !== 'string'
  ) {
    throw new UsageError(`${k}: ${what} must be a JSON object with a string "type", e.g. '{"type":"approve"}'`);
  }
  return event as SignalEvent;
}

/**
 * Repeated `key=value` flags as search attributes: `42`, `-1.5` are numbers, `true`/`false`
 * booleans, anything else a string. Keys and values are checked as the router checks them.
 */
export function keyValues(k: string, what: string, raw: unknown): SearchAttributes | undefined {
  if (raw === undefined) return undefined;
  const items = Array.isArray(raw) ? raw : [raw];
  const out: SearchAttributes = {};
  for (const item of items) {
    const text = String(item);
    const eq = text.indexOf('=');
    if (eq <= 0) throw new UsageError(`${k}: ${what} must be key=value, got ${JSON.stringify(text)}`);
    const key = text.slice(0, eq);
    const value = text.slice(eq + 1);
    out[key] = /^-?\d+(\.\d+)?$/.test(value)
      ? Number(value)
      : value === 'true'
        ? true
        : value === 'false'
          ? false
          : value;
  }
  try {
    return validateSearchAttributes(out, what);
  } catch (err) {
    throw new UsageError(`${k}: ${(err as Error).message}`);
  }
}

function token(kind: 'workflowId' | 'runId' | 'workflowType', value: string, where: string): string {
  try {
    return validateToken(kind, value);
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
}

function required(k: CliCommand['kind'], flag: string, value: string | undefined): string {
  if (value === undefined || value === '')
    throw new UsageError(`${k}: --${flag} <module> is required; usage: ${usageLine(k)}`);
  return value;
}

function positiveInt(k: string, flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${k}: --${flag} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseJson(k: string, what: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UsageError(`${k}: ${what} is not valid JSON (${(err as Error).message})`);
  }
}

function usageLine(k: CliCommand['kind']): string {
  return SYNOPSIS[k];
}
