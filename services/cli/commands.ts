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
  type Setting,
  text,
  toggle,
  token,
} from './settings.js';
import type { CliCommand, CommandKind, CommandOf, Connection, NatsFlags, ReplaySource, ScheduleOp } from './types.js';
import { SCHEDULE_OPS, UsageError } from './types.js';

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
const workflowIdArg: Setting<string> = { kind: token('workflowId'), positional: 'workflowId' };
const runIdFlag: Setting<string> = { kind: token('runId'), flag: 'run' };
const reason: Setting<string> = { kind: text, flag: 'reason' };
const table: Setting<boolean> = { kind: toggle, flag: 'table' };

/** The commands, in the order `squall help` lists them. */
export const COMMANDS: { readonly [K in CommandKind]: SpecOf<K> } = {
  router: {
    section: 'services',
    synopsis: 'squall router --workflows <module> [--activities <module>] [--health-port N]',
    help: [
      'decide runs of the workflows the module exports (.ts or .js)',
      '--activities: the module of the activities the workflows declare inline (the router runs them)',
    ],
    settings: {
      workflows: moduleFlag('workflows', 'SQUALL_WORKFLOWS'),
      activities: { kind: text, flag: 'activities', placeholder: '<module>' },
      healthPort,
      fault: { kind: fault, env: 'SQUALL_FAULT' },
    },
  },
  executor: {
    section: 'services',
    synopsis: 'squall executor --activities <module> [--concurrency N] [--health-port N]',
    help: ['run the activities the module exports'],
    settings: {
      activities: moduleFlag('activities', 'SQUALL_ACTIVITIES'),
      concurrency: { kind: positiveInt, flag: 'concurrency', env: 'SQUALL_CONCURRENCY', placeholder: 'N' },
      healthPort,
    },
  },
  timer: {
    section: 'services',
    synopsis: 'squall timer [--health-port N]',
    help: ['fire durable timers'],
    settings: { healthPort },
  },
  dev: {
    section: 'services',
    synopsis: 'squall dev [--workflows <module>] [--activities <module>] [--sample]',
    help: [
      'router + executor + timer in one process, on a local nats-server and MongoDB started for',
      'the session when NATS_URL / MONGO_URL are not set. Default modules: the sample order',
      'workflow. --sample runs one order end to end, prints its history and output, and exits.',
    ],
    settings: {
      workflows: { kind: text, flag: 'workflows', env: 'SQUALL_WORKFLOWS', default: SAMPLE_WORKFLOWS },
      activities: { kind: text, flag: 'activities', env: 'SQUALL_ACTIVITIES', default: SAMPLE_ACTIVITIES },
      sample: { kind: toggle, flag: 'sample', default: false },
    },
  },
  start: {
    section: 'runs',
    synopsis:
      "squall start <type> [--input '<json>'] [--id <workflowId>] [--policy <idReusePolicy>] [--signal '<json event>'] [--memo '<json>'] [--attr key=value]... [--wait [--timeout <ms>]]",
    help: [
      'idReusePolicy: returnExisting (default), rejectWhileOpen, allowAfterClose, rejectDuplicate',
      '--signal (needs --id): signal-with-start; signals the open run of the id, or starts one',
      'and signals it; prints {workflowId, runId, started}',
      '--attr / --where values: numbers and true/false are typed, anything else is a string',
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
