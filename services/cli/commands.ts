/**
 * Every `squall` command, declared once: its synopsis and help lines, and each value with the flag
 * or positional it comes from, its environment fallback, default and kind. The parser (args.ts)
 * and the help text (usage.ts) are both read off this table; no other module names a flag.
 */
import { existsSync } from 'node:fs';
import type { IdReusePolicy } from '../../shared/client/index.js';
import type { RunStatus } from '../../shared/history/events.js';
import type { LogLevel } from '../../shared/log.js';
import { DEFAULT_PREFIX } from '../../shared/names.js';
import type { PayloadCodecSettings } from '../../shared/payload/config.js';
import { DEFAULT_DB, DEFAULT_MONGO_URL, DEFAULT_NATS_URL } from '../common/options.js';
import {
  checkToken,
  dbName,
  event,
  fault,
  json,
  jsonObject,
  keyValues,
  logLevel,
  mongoUrl,
  natsUrl,
  oneOf,
  port,
  positiveInt,
  prefix,
  priority,
  type Setting,
  streamReplicas as streamReplicasKind,
  text,
  toggle,
  token,
} from './settings.js';
import type { CliCommand, CommandKind, CommandOf, Connection, NatsFlags, ReplaySource, ScheduleOp } from './types.js';
import { SCHEDULE_OPS, UsageError } from './types.js';

/** The console's port (`squall ui`, and `squall dev` without --sample). */
export const DEFAULT_UI_PORT = 4800;
/** The sample workflow module `dev` runs when none is given. */
export const SAMPLE_WORKFLOWS = 'examples/order/workflows.ts';
/** The sample activity module `dev` runs when none is given. */
export const SAMPLE_ACTIVITIES = 'examples/order/activities.ts';

/** A setting for each field of `V`, typed as that field. */
export type Settings<V> = { readonly [P in keyof V]-?: Setting<Exclude<V[P], undefined>> };

/** One command: how it is shown in `squall help`, and the values it reads. */
export interface CommandSpec<V = Record<string, unknown>> {
  /** The help section it is listed in. */
  readonly section: 'services' | 'runs' | 'definitions';
  /** One line, also quoted by usage errors. */
  readonly synopsis: string;
  /** Lines under the synopsis in `squall help`. */
  readonly help: readonly string[];
  /** In the order they are read; positionals in the order they are given. */
  readonly settings: Settings<V>;
  /** Makes the command from its values when it is more than `{ kind, ...values }`; throws UsageError. */
  build?(values: V): CliCommand;
}

type Fields<K extends CommandKind> = Omit<CommandOf<K>, 'kind'>;
/** `replay` resolves `--history` and `--run` into one ReplaySource. */
type ReplayValues = { workflows: string; history: string; runId?: string };
/** `fail-callback` gathers `--error` and `--code` into one error. */
type FailValues = { token: string; message: string; code?: string };
/** `schedule` reads its range as times and checks which values its operation needs. */
type ScheduleValues = { op: ScheduleOp; id: string; spec?: Record<string, unknown>; from?: string; to?: string };
type SpecOf<K extends CommandKind> = K extends 'replay'
  ? CommandSpec<ReplayValues>
  : K extends 'fail-callback'
    ? CommandSpec<FailValues>
    : K extends 'schedule'
      ? CommandSpec<ScheduleValues>
      : CommandSpec<Fields<K>>;

const ID_REUSE_POLICIES = [
  'returnExisting',
  'rejectWhileOpen',
  'allowAfterClose',
  'rejectDuplicate',
] as const satisfies readonly IdReusePolicy[];

const STATUSES = [
  'running',
  'completed',
  'failed',
  'cancelled',
  'terminated',
  'continued',
] as const satisfies readonly RunStatus[];

const moduleFlag = (flag: string, env?: string): Setting<string> => ({
  kind: text,
  flag,
  placeholder: '<module>',
  required: true,
  ...(env === undefined ? {} : { env }),
});
const healthPort: Setting<number> = { kind: port, flag: 'health-port', env: 'SQUALL_HEALTH_PORT', placeholder: 'N' };
/** Replicas of the streams the service creates (or, when set, updates); unset keeps what exists. */
const streamReplicas: Setting<number> = {
  kind: streamReplicasKind,
  flag: 'stream-replicas',
  env: 'SQUALL_STREAM_REPLICAS',
  placeholder: 'N',
};
const workflowIdArg: Setting<string> = { kind: token('workflowId'), positional: 'workflowId' };
const runIdFlag: Setting<string> = { kind: token('runId'), flag: 'run' };
const reason: Setting<string> = { kind: text, flag: 'reason' };
const table: Setting<boolean> = { kind: toggle, flag: 'table' };
const atSeqFlag: Setting<number> = { kind: positiveInt, flag: 'at', placeholder: '<seq>', required: true };

/** The commands, in the order `squall help` lists them. */
export const COMMANDS: { readonly [K in CommandKind]: SpecOf<K> } = {
  router: {
    section: 'services',
    synopsis:
      'squall router --workflows <module> [--activities <module>] [--stream-replicas N] [--cache-mb N] [--cache-ttl-ms N] [--retention-ms N] [--sweep-interval-ms N] [--ack-wait-ms N] [--health-port N]',
    help: [
      'decide runs of the workflows the module exports (.ts or .js)',
      '--activities: the module of the activities the workflows declare inline (the router runs them)',
      '--stream-replicas: JetStream replicas of the streams (1; 3 on a NATS cluster); unset keeps those that exist',
      '--cache-mb: memory budget of the hot-run cache (waiting runs evicted first); unset: 10,000 runs',
      '--cache-ttl-ms: runs not decided for this long leave the cache; unset: none',
      "--retention-ms: how long closed runs' history is kept when their start set none; unset: 30 days",
      '--sweep-interval-ms: how often closed runs past their retention are swept; unset: 60000',
      '--ack-wait-ms: how long an input a router took and did not ack waits before redelivery; unset: 30000',
    ],
    settings: {
      workflows: moduleFlag('workflows', 'SQUALL_WORKFLOWS'),
      activities: { kind: text, flag: 'activities', placeholder: '<module>' },
      streamReplicas,
      cacheMb: { kind: positiveInt, flag: 'cache-mb', env: 'SQUALL_ROUTER_CACHE_MB', placeholder: 'N' },
      cacheTtlMs: { kind: positiveInt, flag: 'cache-ttl-ms', env: 'SQUALL_ROUTER_CACHE_TTL_MS', placeholder: 'N' },
      retentionMs: { kind: positiveInt, flag: 'retention-ms', env: 'SQUALL_RETENTION_MS', placeholder: 'N' },
      sweepIntervalMs: {
        kind: positiveInt,
        flag: 'sweep-interval-ms',
        env: 'SQUALL_SWEEP_INTERVAL_MS',
        placeholder: 'N',
      },
      ackWaitMs: { kind: positiveInt, flag: 'ack-wait-ms', env: 'SQUALL_ROUTER_ACK_WAIT_MS', placeholder: 'N' },
      healthPort,
      fault: { kind: fault, env: 'SQUALL_FAULT' },
    },
  },
  executor: {
    section: 'services',
    synopsis:
      'squall executor --activities <module> [--concurrency N] [--ack-wait-ms N] [--stream-replicas N] [--health-port N]',
    help: ['run the activities the module exports'],
    settings: {
      activities: moduleFlag('activities', 'SQUALL_ACTIVITIES'),
      concurrency: { kind: positiveInt, flag: 'concurrency', env: 'SQUALL_CONCURRENCY', placeholder: 'N' },
      ackWaitMs: { kind: positiveInt, flag: 'ack-wait-ms', env: 'SQUALL_ACK_WAIT_MS', placeholder: 'N' },
      streamReplicas,
      healthPort,
    },
  },
  timer: {
    section: 'services',
    synopsis: 'squall timer [--stream-replicas N] [--health-port N]',
    help: ['fire durable timers'],
    settings: { streamReplicas, healthPort },
  },
  dev: {
    section: 'services',
    synopsis: 'squall dev [--workflows <module>] [--activities <module>] [--sample] [--ui-port N]',
    help: [
      'router + executor + timer in one process, on a local nats-server and MongoDB started for',
      'the session when NATS_URL / MONGO_URL are not set. Default modules: the sample order',
      'workflow. --sample runs one order end to end, prints its history and output, and exits.',
      'Without --sample it also serves the console (squall ui) on --ui-port and prints its URL.',
    ],
    settings: {
      workflows: { kind: text, flag: 'workflows', env: 'SQUALL_WORKFLOWS', default: SAMPLE_WORKFLOWS },
      activities: { kind: text, flag: 'activities', env: 'SQUALL_ACTIVITIES', default: SAMPLE_ACTIVITIES },
      sample: { kind: toggle, flag: 'sample', default: false },
      uiPort: { kind: port, flag: 'ui-port', env: 'SQUALL_UI_PORT', placeholder: 'N', default: DEFAULT_UI_PORT },
    },
  },
  ui: {
    section: 'services',
    synopsis: 'squall ui [--port N] [--host <addr>]',
    help: [
      'the web console: runs list, each run as a live statechart with its history, signals,',
      'cancel/terminate, bulk terminate. Binds 127.0.0.1 by default; it has no login of its own.',
    ],
    settings: {
      port: { kind: port, flag: 'port', env: 'SQUALL_UI_PORT', placeholder: 'N', default: DEFAULT_UI_PORT },
      host: { kind: text, flag: 'host', env: 'SQUALL_UI_HOST', placeholder: '<addr>', default: '127.0.0.1' },
    },
  },
  start: {
    section: 'runs',
    synopsis:
      'squall start <type> [--input \'<json>\'] [--id <workflowId>] [--policy <idReusePolicy>] [--signal \'<json event>\'] [--memo \'<json>\'] [--attr key=value]... [--debounce \'{"key":..,"windowMs":..}\'] [--singleton \'{"key":..,"mode":"skip|queue"}\'] [--priority <1-5>] [--run-timeout-ms N] [--execution-timeout-ms N] [--retention-ms N] [--wait [--timeout <ms>]]',
    help: [
      'idReusePolicy: returnExisting (default), rejectWhileOpen, allowAfterClose, rejectDuplicate',
      '--debounce / --singleton / --priority: flow control of the start (docs/flow-control.md)',
      '--signal (needs --id): signal-with-start; signals the open run of the id, or starts one',
      'and signals it; prints {workflowId, runId, started}',
      '--attr / --where values: numbers and true/false are typed, anything else is a string',
      '--run-timeout-ms / --execution-timeout-ms: the run fails with TIMEOUT when open past them;',
      '--retention-ms: how long its history is kept once closed (docs/workflows.md#run-timeouts-and-retention)',
    ],
    settings: {
      workflowType: { kind: token('workflowType'), positional: 'workflowType' },
      input: { kind: json, flag: 'input' },
      workflowId: { kind: token('workflowId'), flag: 'id' },
      idReusePolicy: { kind: oneOf(ID_REUSE_POLICIES), flag: 'policy' },
      wait: { kind: toggle, flag: 'wait', default: false },
      timeoutMs: {
        kind: positiveInt,
        flag: 'timeout',
        requires: { setting: 'wait', message: '--timeout only applies with --wait' },
      },
      signal: {
        kind: event,
        flag: 'signal',
        requires: { setting: 'workflowId', message: '--signal (signal-with-start) needs --id' },
      },
      memo: { kind: jsonObject, flag: 'memo' },
      searchAttributes: { kind: keyValues, flag: 'attr' },
      debounce: { kind: jsonObject, flag: 'debounce' },
      singleton: { kind: jsonObject, flag: 'singleton' },
      priority: { kind: priority, flag: 'priority' },
      runTimeoutMs: { kind: positiveInt, flag: 'run-timeout-ms', placeholder: 'N' },
      executionTimeoutMs: { kind: positiveInt, flag: 'execution-timeout-ms', placeholder: 'N' },
      retentionMs: { kind: positiveInt, flag: 'retention-ms', placeholder: 'N' },
    },
  },
  signal: {
    section: 'runs',
    synopsis: "squall signal <workflowId> '<json event>'",
    help: [`e.g. squall signal order-1 '{"type":"approve"}'`],
    settings: { workflowId: workflowIdArg, event: { kind: event, positional: 'event' } },
  },
  cancel: {
    section: 'runs',
    synopsis: 'squall cancel <workflowId> [--reason <text>]',
    help: [],
    settings: { workflowId: workflowIdArg, reason },
  },
  terminate: {
    section: 'runs',
    synopsis: 'squall terminate <workflowId> [--reason <text>]',
    help: ['end the run now, without asking its machine; children get their parent close policy'],
    settings: { workflowId: workflowIdArg, reason },
  },
  branch: {
    section: 'runs',
    synopsis: 'squall branch <workflowId> --at <seq> [--run <runId>] [--new-id <workflowId>] [--allow-open]',
    help: [
      "a new run whose history is the run's up to commit <seq> (see squall history), then live;",
      '--allow-open: the source may still be open (it goes on too). Prints {workflowId, runId, created}',
    ],
    settings: {
      workflowId: workflowIdArg,
      atSeq: atSeqFlag,
      runId: runIdFlag,
      newWorkflowId: { kind: token('workflowId'), flag: 'new-id' },
      allowOpen: { kind: toggle, flag: 'allow-open', default: false },
    },
  },
  reset: {
    section: 'runs',
    synopsis: 'squall reset <workflowId> --at <seq> [--run <runId>]',
    help: ['like branch, on the same workflowId: its open run is terminated first'],
    settings: { workflowId: workflowIdArg, atSeq: atSeqFlag, runId: runIdFlag },
  },
  resume: {
    section: 'runs',
    synopsis: 'squall resume <workflowId> [--run <runId>]',
    help: ['a failed run again, from its last commit before the failure, as a new run of the workflowId'],
    settings: { workflowId: workflowIdArg, runId: runIdFlag },
  },
  query: {
    section: 'runs',
    synopsis: 'squall query <workflowId>',
    help: [],
    settings: { workflowId: workflowIdArg },
  },
  describe: {
    section: 'runs',
    synopsis: 'squall describe <workflowId> [--run <runId>] [--table]',
    help: ['--table: short human view (status, state, tags, pending activities with attempts, timers)'],
    settings: { workflowId: workflowIdArg, runId: runIdFlag, table },
  },
  history: {
    section: 'runs',
    synopsis: 'squall history <workflowId> [--run <runId>] [--from <seq>] [--limit N] [--table]',
    help: [
      'one line per commit; --table: one row per event with times, attempts and errors',
      '--from: first commit seq (default 1); --limit: at most N commits (each page read is one router request)',
    ],
    settings: {
      workflowId: workflowIdArg,
      runId: runIdFlag,
      fromSeq: { kind: positiveInt, flag: 'from', placeholder: '<seq>' },
      limit: { kind: positiveInt, flag: 'limit', placeholder: 'N' },
      table,
    },
  },
  list: {
    section: 'runs',
    synopsis: 'squall list [--status <status>] [--type <workflowType>] [--where key=value]... [--limit N]',
    help: [`one line per run; status: ${STATUSES.join(', ')}`],
    settings: {
      status: { kind: oneOf(STATUSES), flag: 'status' },
      workflowType: { kind: token('workflowType'), flag: 'type' },
      limit: { kind: positiveInt, flag: 'limit' },
      where: { kind: keyValues, flag: 'where' },
    },
  },
  watch: {
    section: 'runs',
    synopsis: 'squall watch [--id <workflowId>] [--type <workflowType>]',
    help: ['completions and emitted events as they happen, until Ctrl-C'],
    settings: {
      workflowId: { kind: token('workflowId'), flag: 'id' },
      workflowType: { kind: token('workflowType'), flag: 'type' },
    },
  },
  replay: {
    section: 'runs',
    synopsis: 'squall replay --workflows <module> --history <file|workflowId> [--run <runId>]',
    help: [
      "replay recorded histories under the module's definitions: one line per run, ok or the",
      'NondeterminismError naming the event; exit 1 if any run fails. --history is a file (what',
      "'squall history' prints, or a JSON array / { commits }) or a workflowId read from MongoDB",
    ],
    settings: {
      workflows: moduleFlag('workflows'),
      history: { kind: text, flag: 'history', placeholder: '<file|workflowId>', required: true },
      runId: runIdFlag,
    },
    build: ({ workflows, history, runId }) => ({ kind: 'replay', workflows, history: replaySource(history, runId) }),
  },
  check: {
    section: 'definitions',
    synopsis: 'squall check <workflows> [--activities <module>] [--strict]',
    help: [
      'static checks of every definition the workflows module exports: unreachable states, states',
      'with no way out, events no state handles, activities --activities does not export, final',
      'states without output, undefined after delays (--strict: also delays computed at run time).',
      'One line per finding, exit 1 if any; else "no findings in N workflows"',
    ],
    settings: {
      workflows: { kind: text, positional: 'workflows' },
      activities: { kind: text, flag: 'activities', placeholder: '<module>' },
      strict: { kind: toggle, flag: 'strict', default: false },
    },
  },
  'complete-callback': {
    section: 'runs',
    synopsis: "squall complete-callback <token> [--output '<json>']",
    help: [],
    settings: { token: { kind: text, positional: 'token' }, output: { kind: json, flag: 'output' } },
  },
  'fail-callback': {
    section: 'runs',
    synopsis: 'squall fail-callback <token> --error <message> [--code <code>]',
    help: ['finish a callback a run handed out (its token, e.g. from squall query)'],
    settings: {
      token: { kind: text, positional: 'token' },
      message: { kind: text, flag: 'error', placeholder: '<message>', required: true },
      code: { kind: text, flag: 'code' },
    },
    build: ({ token, message, code }) => ({
      kind: 'fail-callback',
      token,
      error: code === undefined ? { message } : { message, code },
    }),
  },
  'heartbeat-callback': {
    section: 'runs',
    synopsis: 'squall heartbeat-callback <token>',
    help: ["restart a callback's heartbeat window (heartbeatTimeoutMs) while the outside work goes on"],
    settings: { token: { kind: text, positional: 'token' } },
  },
  schedule: {
    section: 'runs',
    synopsis: `squall schedule <${SCHEDULE_OPS.join('|')}> <id> [--spec '<json>'] [--from <time>] [--to <time>]`,
    help: [
      `create/update take --spec, e.g. squall schedule create nightly --spec '{"cron":"0 2 * * *","workflow":{"type":"report"}}'`,
      'backfill takes --from and --to (ISO dates or ms since the epoch); see docs/schedules.md',
    ],
    settings: {
      op: { kind: oneOf(SCHEDULE_OPS), positional: 'op' },
      id: { kind: token('workflowId'), positional: 'id' },
      spec: { kind: jsonObject, flag: 'spec' },
      from: { kind: text, flag: 'from', placeholder: '<time>' },
      to: { kind: text, flag: 'to', placeholder: '<time>' },
    },
    build: scheduleCommand,
  },
  schedules: {
    section: 'runs',
    synopsis: 'squall schedules',
    help: ['one line per schedule: its spec and its progress'],
    settings: {},
  },
  event: {
    section: 'runs',
    synopsis: "squall event <publish> <key> [--payload '<json>'] [--id <eventId>]",
    help: [
      'a user event: every run waiting on the key whose filter matches takes it once (docs/events.md);',
      'prints {eventId, seq}',
    ],
    settings: {
      op: { kind: oneOf(['publish'] as const), positional: 'op' },
      key: { kind: token('eventKey'), positional: 'key' },
      payload: { kind: json, flag: 'payload' },
      eventId: { kind: token('eventKey'), flag: 'id' },
    },
  },
  help: { section: 'runs', synopsis: 'squall help', help: [], settings: {} },
};

/** Checks that a schedule operation got what it needs, and reads the backfill range. */
function scheduleCommand(v: ScheduleValues): CliCommand {
  const { op, id, spec } = v;
  if ((op === 'create' || op === 'update') && spec === undefined) {
    throw new UsageError(`schedule ${op}: needs --spec '<json>' (see docs/schedules.md)`);
  }
  if (op !== 'create' && op !== 'update' && spec !== undefined) throw new UsageError(`schedule ${op}: takes no --spec`);
  const time = (raw: string | undefined, flag: string): number | undefined => {
    if (raw === undefined) {
      if (op === 'backfill') throw new UsageError(`schedule backfill: needs --${flag} <time>`);
      return undefined;
    }
    if (op !== 'backfill') throw new UsageError(`schedule ${op}: takes no --${flag}`);
    const t = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
    if (!Number.isFinite(t))
      throw new UsageError(`schedule backfill: --${flag} ${JSON.stringify(raw)} is not an ISO date or ms`);
    return t;
  };
  const from = time(v.from, 'from');
  const to = time(v.to, 'to');
  return {
    kind: 'schedule',
    op,
    id,
    ...(spec === undefined ? {} : { spec }),
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
  };
}

/** Where the servers are: flags every command takes, over the environment. */
export const CONNECTION: Settings<Omit<Connection, 'nats'>> = {
  natsUrl: { kind: natsUrl, flag: 'nats', env: 'NATS_URL', placeholder: '<url>', helpDefault: DEFAULT_NATS_URL },
  mongoUrl: { kind: mongoUrl, flag: 'mongo', env: 'MONGO_URL', placeholder: '<url>', helpDefault: DEFAULT_MONGO_URL },
  prefix: { kind: prefix, flag: 'prefix', env: 'SQUALL_PREFIX', placeholder: '<p>', default: DEFAULT_PREFIX },
  dbName: { kind: dbName, flag: 'db', env: 'SQUALL_DB', placeholder: '<name>', default: DEFAULT_DB },
};

/**
 * NATS credentials and TLS: flags every command takes, over the environment. At most one kind of
 * credential; secrets are best given by file or environment (flags show in `ps`). See docs/security.md.
 */
export const NATS_SECURITY: Settings<NatsFlags> = {
  token: { kind: text, flag: 'nats-token', env: 'SQUALL_NATS_TOKEN', placeholder: '<token>' },
  user: { kind: text, flag: 'nats-user', env: 'SQUALL_NATS_USER', placeholder: '<user>' },
  password: { kind: text, flag: 'nats-password', env: 'SQUALL_NATS_PASSWORD', placeholder: '<pw>' },
  nkeySeedFile: { kind: text, flag: 'nats-nkey-seed', env: 'SQUALL_NATS_NKEY_SEED_FILE', placeholder: '<file>' },
  creds: { kind: text, flag: 'nats-creds', env: 'SQUALL_NATS_CREDS', placeholder: '<file>' },
  tlsCa: { kind: text, flag: 'nats-tls-ca', env: 'SQUALL_NATS_TLS_CA', placeholder: '<file>' },
  tlsCert: { kind: text, flag: 'nats-tls-cert', env: 'SQUALL_NATS_TLS_CERT', placeholder: '<file>' },
  tlsKey: { kind: text, flag: 'nats-tls-key', env: 'SQUALL_NATS_TLS_KEY', placeholder: '<file>' },
};

/**
 * Payload codecs (docs/security.md#payload-encryption): every command takes them, services and
 * client commands alike, so what one seals the others open. Keys inline only by environment
 * (flags show in `ps`).
 */
export const PAYLOAD_CODECS: Settings<PayloadCodecSettings> = {
  encryptionKeys: { kind: text, env: 'SQUALL_ENCRYPTION_KEYS' },
  encryptionKeyFile: {
    kind: text,
    flag: 'encryption-key-file',
    env: 'SQUALL_ENCRYPTION_KEY_FILE',
    placeholder: '<file>',
  },
  compression: { kind: text, flag: 'compression', env: 'SQUALL_COMPRESSION', placeholder: 'deflate|none' },
};

/** Settings of the whole process that only the environment gives. */
export const PROCESS: Settings<{ logLevel?: LogLevel }> = {
  logLevel: { kind: logLevel, env: 'SQUALL_LOG_LEVEL' },
};

/**
 * `--history` is a file when one exists at that path, else a workflowId (whose latest run, or
 * `--run`, is read from MongoDB); a path-like name that does not exist is a mistake, not an id.
 */
function replaySource(history: string, runId: string | undefined): ReplaySource {
  if (existsSync(history)) {
    if (runId !== undefined) throw new UsageError('replay: --run applies to a workflowId, not to a file');
    return { file: history };
  }
  if (/[/\\]|\.(json|jsonl|ndjson)$/.test(history)) {
    throw new UsageError(`replay: --history file ${JSON.stringify(history)} does not exist`);
  }
  const workflowId = checkToken('workflowId', history, 'replay: --history (no such file, so a workflowId)');
  return runId === undefined ? { workflowId } : { workflowId, runId };
}
