/**
 * What a parsed `squall` command line is: the command with its checked values, the connection
 * settings and the log level. Plain data; the parser (args.ts) makes it, run.ts acts on it.
 */
import type { NatsSecurity } from '../../shared/bus/auth.js';
import type { IdReusePolicy } from '../../shared/client/index.js';
import type { RunStatus, SearchAttributes, SignalEvent } from '../../shared/history/events.js';
import type { LogLevel } from '../../shared/log.js';
import type { PayloadCodec } from '../../shared/payload/codec.js';

/** A mistake in the command line or in the environment the CLI reads: exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';
  override readonly name = 'UsageError';
}

/** Environment variables the CLI reads (the process's, or a test's). */
export type Env = Readonly<Record<string, string | undefined>>;

/** Where the servers are, as given by flags and environment. Undefined URL = not given. */
export interface Connection {
  natsUrl?: string;
  mongoUrl?: string;
  prefix: string;
  dbName: string;
  /** NATS credentials and TLS (the --nats-* flags, SQUALL_NATS_* variables); unset = none. */
  nats?: NatsSecurity;
}

/** The --nats-* flags as given, before they are checked and gathered into a NatsSecurity. */
export interface NatsFlags {
  token?: string;
  user?: string;
  password?: string;
  nkeySeedFile?: string;
  creds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * A crash point for fault tests, from `SQUALL_FAULT` (test-only; never set it in production):
 * `exit-after-append:<n>` exits (code 137) right after the n-th commit this router appended is
 * stored, before any summary write or publish; `exit-after-commit:<n>` exits right before
 * publishing the commands of the n-th commit that has any, i.e. after it is stored and (for a
 * closing commit) after its summary; `exit-after-publish:<n>` exits right after the n-th command
 * message was published, before the input is acked and the commit marked published;
 * `exit-before-close-append:<n>` exits at the n-th append of a commit that closes its run, once
 * the closing summary written beside it is stored, before the commit is.
 */
export interface RouterFault {
  kind: 'exit-after-append' | 'exit-after-commit' | 'exit-after-publish' | 'exit-before-close-append';
  n: number;
}

/** Where `squall replay` reads histories: a file, or a workflowId's run (latest, or `runId`) in MongoDB. */
export type ReplaySource = { file: string } | { workflowId: string; runId?: string };

/** A parsed command line's command. */
export type CliCommand =
  | { kind: 'help' }
  | {
      kind: 'router';
      workflows: string;
      activities?: string;
      streamReplicas?: number;
      /** `--cache-mb`: the run cache's memory budget, in MiB. */
      cacheMb?: number;
      /** `--cache-ttl-ms`: the run cache's time to live. */
      cacheTtlMs?: number;
      /** `--retention-ms`: the namespace's default retention of closed runs. */
      retentionMs?: number;
      /** `--sweep-interval-ms`: how often the retention sweep runs. */
      sweepIntervalMs?: number;
      /** `--ack-wait-ms`: the ack wait of the router's consumers. */
      ackWaitMs?: number;
      healthPort?: number;
      fault?: RouterFault;
    }
  | {
      kind: 'executor';
      activities: string;
      concurrency?: number;
      ackWaitMs?: number;
      streamReplicas?: number;
      healthPort?: number;
    }
  | { kind: 'timer'; streamReplicas?: number; healthPort?: number }
  | { kind: 'dev'; workflows: string; activities: string; sample: boolean; uiPort: number }
  | { kind: 'ui'; port: number; host: string }
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
      /** Checked by the client (parseDebounce / parseSingleton). */
      debounce?: Record<string, unknown>;
      singleton?: Record<string, unknown>;
      /** 1 to 5, checked by the parser. */
      priority?: number;
      runTimeoutMs?: number;
      executionTimeoutMs?: number;
      retentionMs?: number;
    }
  | { kind: 'signal'; workflowId: string; event: SignalEvent }
  | { kind: 'cancel'; workflowId: string; reason?: string }
  | { kind: 'terminate'; workflowId: string; reason?: string }
  | { kind: 'branch'; workflowId: string; atSeq: number; runId?: string; newWorkflowId?: string; allowOpen: boolean }
  | { kind: 'reset'; workflowId: string; atSeq: number; runId?: string }
  | { kind: 'resume'; workflowId: string; runId?: string }
  | { kind: 'query'; workflowId: string }
  | { kind: 'describe'; workflowId: string; runId?: string; table?: boolean }
  | { kind: 'history'; workflowId: string; runId?: string; fromSeq?: number; limit?: number; table?: boolean }
  | { kind: 'list'; status?: RunStatus; workflowType?: string; limit?: number; where?: SearchAttributes }
  | { kind: 'watch'; workflowId?: string; workflowType?: string }
  | { kind: 'replay'; workflows: string; history: ReplaySource }
  | { kind: 'check'; workflows: string; activities?: string; strict: boolean }
  | { kind: 'complete-callback'; token: string; output?: unknown }
  | { kind: 'fail-callback'; token: string; error: { message: string; code?: string } }
  | { kind: 'heartbeat-callback'; token: string }
  | {
      kind: 'schedule';
      op: ScheduleOp;
      id: string;
      spec?: Record<string, unknown>;
      /** Backfill range, ms since the epoch. */
      from?: number;
      to?: number;
    }
  | { kind: 'schedules' }
  /** `squall event publish <key>`: a user event for the runs waiting on its key (docs/events.md). */
  | { kind: 'event'; op: 'publish'; key: string; payload?: unknown; eventId?: string };

/** The operations of `squall schedule`. */
export const SCHEDULE_OPS = [
  'create',
  'update',
  'pause',
  'resume',
  'trigger',
  'backfill',
  'delete',
  'describe',
] as const;
export type ScheduleOp = (typeof SCHEDULE_OPS)[number];

/** The name of a command: `squall <kind> ...`. */
export type CommandKind = CliCommand['kind'];

/** The command of one kind. */
export type CommandOf<K extends CommandKind> = Extract<CliCommand, { kind: K }>;

/** A command line with its connection and log level. */
export interface ParsedCli {
  command: CliCommand;
  connection: Connection;
  /** From SQUALL_LOG_LEVEL; undefined when unset (services then log at info, `dev --sample` at warn). */
  logLevel?: LogLevel;
  /** The payload codecs (compression, encryption) the flags and environment ask for; absent = none. */
  codecs?: PayloadCodec[];
}
