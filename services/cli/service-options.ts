/**
 * The options the CLI starts each service with, made from the parsed command line: one function
 * per service, used by `squall router|executor|timer` and by `squall dev` alike. Type-only imports
 * of the services, so building options loads none of them.
 */
import type { ActivityDefinition, WorkflowDefinition } from '../../shared/engine/index.js';
import { closingStatusOf } from '../../shared/history/events.js';
import type { Logger } from '../../shared/log.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';
import { DEFAULT_MONGO_URL, DEFAULT_NATS_URL } from '../common/options.js';
import type { ExecutorStartOptions } from '../executor/index.js';
import type { RouterFaultHooks } from '../router/faults.js';
import type { RouterOptionsInput } from '../router/index.js';
import type { TimerServiceOptions } from '../timer/index.js';
import type { Connection, RouterFault } from './types.js';

/** What a router started by the CLI runs with, besides where the servers are. */
export interface RouterSettings {
  workflows: WorkflowDefinition[];
  /** `--stream-replicas`: replicas of the streams. @default unset (new streams R1, existing ones kept) */
  streamReplicas?: number | undefined;
  /** `--cache-mb`: the run cache's budget in MiB (RouterOptions.runCacheBytes). @default unset (10,000 runs) */
  cacheMb?: number | undefined;
  /** `--cache-ttl-ms`: RouterOptions.runCacheTtlMs. @default unset (none) */
  cacheTtlMs?: number | undefined;
  /** `--retention-ms`: RouterOptions.retentionMs. @default unset (30 days) */
  retentionMs?: number | undefined;
  /** `--sweep-interval-ms`: RouterOptions.retentionSweepIntervalMs. @default unset (60_000) */
  sweepIntervalMs?: number | undefined;
  /** `--ack-wait-ms`: RouterOptions.ackWaitMs. @default unset (30_000) */
  ackWaitMs?: number | undefined;
  /** The activities the router runs inline (see RouterOptions.activities). @default [] */
  activities?: ActivityDefinition[];
  log: Logger;
}

/** The router's options: the connection (unset URLs mean the local defaults) and its workflows. */
export function routerOptionsFrom(c: Connection, s: RouterSettings): RouterOptionsInput {
  return {
    natsUrl: c.natsUrl ?? DEFAULT_NATS_URL,
    ...(c.nats ? { nats: c.nats } : {}),
    mongoUrl: c.mongoUrl ?? DEFAULT_MONGO_URL,
    prefix: c.prefix,
    dbName: c.dbName,
    workflows: s.workflows,
    ...(s.activities === undefined || s.activities.length === 0 ? {} : { activities: s.activities }),
    ...streamsFrom(s.streamReplicas),
    ...(s.cacheMb === undefined ? {} : { runCacheBytes: s.cacheMb * 1024 * 1024 }),
    ...(s.cacheTtlMs === undefined ? {} : { runCacheTtlMs: s.cacheTtlMs }),
    ...(s.retentionMs === undefined ? {} : { retentionMs: s.retentionMs }),
    ...(s.sweepIntervalMs === undefined ? {} : { retentionSweepIntervalMs: s.sweepIntervalMs }),
    ...(s.ackWaitMs === undefined ? {} : { ackWaitMs: s.ackWaitMs }),
    log: s.log,
  };
}

/** The executor's options: NATS, its activities and, when given, its concurrency and ack wait. */
export function executorOptionsFrom(
  c: Connection,
  s: {
    activities: ActivityDefinition[];
    log: Logger;
    concurrency?: number | undefined;
    ackWaitMs?: number | undefined;
    streamReplicas?: number | undefined;
  },
): ExecutorStartOptions {
  return {
    natsUrl: c.natsUrl ?? DEFAULT_NATS_URL,
    ...(c.nats ? { nats: c.nats } : {}),
    prefix: c.prefix,
    activities: s.activities,
    log: s.log,
    ...(s.concurrency === undefined ? {} : { concurrency: s.concurrency }),
    ...(s.ackWaitMs === undefined ? {} : { ackWaitMs: s.ackWaitMs }),
    ...streamsFrom(s.streamReplicas),
  };
}

/** The timer's options: the connection, and the stream replicas when set. */
export function timerOptionsFrom(
  c: Connection,
  s: { log: Logger; streamReplicas?: number | undefined },
): Partial<TimerServiceOptions> {
  return {
    natsUrl: c.natsUrl ?? DEFAULT_NATS_URL,
    ...(c.nats ? { nats: c.nats } : {}),
    mongoUrl: c.mongoUrl ?? DEFAULT_MONGO_URL,
    prefix: c.prefix,
    dbName: c.dbName,
    ...streamsFrom(s.streamReplicas),
    log: s.log,
  };
}

/** `streams: { replicas }` when `--stream-replicas` was given; nothing otherwise (existing streams keep theirs). */
function streamsFrom(replicas: number | undefined): { streams?: { replicas: number } } {
  return replicas === undefined ? {} : { streams: { replicas } };
}

/**
 * Test-only crash points for a router (see RouterFault): exits the process with code 137, as a
 * SIGKILL would, at the n-th commit's publish (before or after it), so fault tests can check
 * that redelivery republishes what a crash left, with real processes.
 */
export function routerFaultHooks(fault: RouterFault, log: Logger): RouterFaultHooks {
  const crash = (what: string): never => {
    log.warn('SQUALL_FAULT: exiting on purpose', { fault: `${fault.kind}:${fault.n}`, at: what });
    process.exit(137);
  };
  if (fault.kind === 'exit-after-append') {
    let appended = 0;
    return {
      afterAppend(commit) {
        if (++appended === fault.n) crash(`commit ${commit.runId}:${commit.seq} stored, nothing else done`);
      },
    };
  }
  if (fault.kind === 'exit-before-close-append') {
    return { wrapStore: (store) => crashBeforeCloseAppend(store, fault.n, crash) };
  }
  if (fault.kind === 'exit-after-commit') {
    const commits = new Set<string>();
    return {
      beforePublish(m) {
        const commit = m.msgId.slice(0, m.msgId.lastIndexOf(':'));
        if (commits.has(commit)) return;
        commits.add(commit);
        if (commits.size === fault.n) crash(`commit ${commit} stored, nothing published`);
      },
    };
  }
  let published = 0;
  return {
    afterPublish(m) {
      if (++published === fault.n) crash(`message ${m.msgId} published, input not acked`);
    },
  };
}

/**
 * The store of `exit-before-close-append:<n>`: at the n-th append holding a commit that closes its
 * run, waits until the closing summary written beside it (with a close token) is stored, then
 * crashes before appending: the summary stands written, its commit never comes.
 */
function crashBeforeCloseAppend(store: Store, n: number, crash: (what: string) => never): Store {
  const written = new Map<string, () => void>();
  const closedSummaries = new Set<string>();
  const summaryWritten = (runId: string): Promise<void> =>
    closedSummaries.has(runId) ? Promise.resolve() : new Promise((resolve) => written.set(runId, resolve));
  let closing = 0;
  const beforeAppend = async (commits: readonly StoredCommit[]): Promise<void> => {
    const closes = commits.find((c) => closingStatusOf(c.events) !== undefined);
    if (!closes || ++closing !== n) return;
    await summaryWritten(closes.runId);
    crash(`closing summary of ${closes.runId} stored, commit ${closes.seq} not`);
  };
  return {
    ...store,
    saveRuns: async (states, tokens) => {
      const write = await store.saveRuns(states, tokens);
      for (const runId of tokens?.keys() ?? []) {
        closedSummaries.add(runId);
        written.get(runId)?.();
      }
      return write;
    },
    appendCommits: async (commits) => {
      await beforeAppend(commits);
      return store.appendCommits(commits);
    },
    appendChain: async (commits) => {
      await beforeAppend(commits);
      return store.appendChain(commits);
    },
  };
}
