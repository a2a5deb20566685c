/**
 * The options the CLI starts each service with, made from the parsed command line: one function
 * per service, used by `squall router|executor|timer` and by `squall dev` alike. Type-only imports
 * of the services, so building options loads none of them.
 */
import type { ActivityDefinition, WorkflowDefinition } from '../../shared/engine/index.js';
import type { Logger } from '../../shared/log.js';
import { DEFAULT_MONGO_URL, DEFAULT_NATS_URL } from '../common/options.js';
import type { ExecutorStartOptions } from '../executor/index.js';
import type { RouterFaultHooks } from '../router/faults.js';
import type { RouterOptionsInput } from '../router/index.js';
import type { TimerServiceOptions } from '../timer/index.js';
import type { Connection, RouterFault } from './types.js';

/** What a router started by the CLI runs with, besides where the servers are. */
export interface RouterSettings {
  workflows: WorkflowDefinition[];
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
    log: s.log,
  };
}

/** The executor's options: NATS, its activities and, when given, its concurrency. */
export function executorOptionsFrom(
  c: Connection,
  s: { activities: ActivityDefinition[]; log: Logger; concurrency?: number | undefined },
): ExecutorStartOptions {
  return {
    natsUrl: c.natsUrl ?? DEFAULT_NATS_URL,
    ...(c.nats ? { nats: c.nats } : {}),
    prefix: c.prefix,
    activities: s.activities,
    log: s.log,
    ...(s.concurrency === undefined ? {} : { concurrency: s.concurrency }),
  };
}

/** The timer's options: the connection alone. */
export function timerOptionsFrom(c: Connection, s: { log: Logger }): Partial<TimerServiceOptions> {
  return {
    natsUrl: c.natsUrl ?? DEFAULT_NATS_URL,
    ...(c.nats ? { nats: c.nats } : {}),
    mongoUrl: c.mongoUrl ?? DEFAULT_MONGO_URL,
    prefix: c.prefix,
    dbName: c.dbName,
    log: s.log,
  };
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
