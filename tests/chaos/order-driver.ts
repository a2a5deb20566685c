/**
 * The workload both chaos tests (one server, and a NATS cluster) drive: order runs started by
 * plain publishes into the inbox, paced over the first 60% of the chaos window, approved once they
 * wait for approval (every fourth is left to time out), and a look at the run summaries that tells
 * which runs completed, which are open and which have no summary yet. Each test decides from a
 * look what to send again; the checks after the runs are done are in order-checks.ts.
 */
import { type NatsConnection, headers as natsHeaders } from '@nats-io/transport-node';
import type { Collection, MongoClient } from 'mongodb';
import { encodeBody } from '../../shared/bus/codec.js';
import { collectionNames, subjects } from '../../shared/names.js';
import type { ServiceEnv, ServiceProcess } from '../e2e/processes.js';
import { connectMongo, waitFor } from '../harness/index.js';
import { timesOut } from './order-checks.js';

/** True once a service logged that it started. */
export const isStarted = (p: ServiceProcess): boolean =>
  p.logs.some((l) => typeof l.msg === 'string' && /^(router|executor|timer service) started$/.test(l.msg));

/**
 * Waits until every service logged that it started; on timeout, the error names those that did
 * not, whether they exited, their error lines and their last log lines (read to the end of an
 * exited one's output).
 */
export async function waitUntilStarted(services: readonly ServiceProcess[], timeoutMs: number): Promise<void> {
  try {
    await waitFor('every service to start', () => services.every(isStarted) || services.some(hasExited), {
      timeoutMs,
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; not started: ${await describeBehind(services)}`, { cause: err });
  }
  if (!services.every(isStarted)) throw new Error(`a service exited during start: ${await describeBehind(services)}`);
}

const hasExited = (p: ServiceProcess): boolean => !isRunning(p) && !isStarted(p);

async function describeBehind(services: readonly ServiceProcess[]): Promise<string> {
  const behind = services.filter((p) => !isStarted(p));
  // An exited process's last lines may still be in its pipes: wait (briefly) for them.
  await Promise.race([
    Promise.all(behind.filter((p) => !isRunning(p)).map((p) => p.exited)),
    new Promise((resolve) => setTimeout(resolve, 2_000)),
  ]);
  return behind
    .map((p) => {
      const state = isRunning(p) ? 'running' : `exited ${p.proc.exitCode ?? p.proc.signalCode}`;
      const errors = p.logs.filter((l) => l.level === 'error' || l.level === 'fatal');
      return `${p.name} (${state}): errors ${JSON.stringify(errors)}; last ${JSON.stringify(p.logs.slice(-5))}; other output ${JSON.stringify(p.noise.slice(-10))}`;
    })
    .join('; ');
}

/** True while a service's process has not exited. */
export const isRunning = (p: ServiceProcess): boolean => p.proc.exitCode === null && p.proc.signalCode === null;

/** One order run of the workload and what the driver sent it. */
export interface OrderPlan {
  id: string;
  /** False for every fourth run: its 1 s approval timer closes it. */
  approve: boolean;
  startSentAt?: number;
  signalSentAt?: number;
  /** Starts sent (the same msg id each time). */
  starts: number;
  /** Approvals sent (a new msg id each time). */
  signals: number;
  /** The state value its summary last showed, as JSON, and when that last changed. */
  lastStateValue?: string;
  lastChangeAt: number;
}

/** The part of a run summary a look reads. */
export interface RunDoc {
  workflowId: string;
  status: string;
  stateValue: unknown;
}

/** What one look at the summaries found among the started runs not yet known to be completed. */
export interface Look {
  now: number;
  /** Started runs with no summary (on a look at open runs only, none are listed). */
  missing: OrderPlan[];
  /** Open runs, each with its summary. */
  open: { plan: OrderPlan; doc: RunDoc }[];
}

/** The workload of one chaos test. */
export interface OrderDriver {
  readonly plans: OrderPlan[];
  /** WorkflowIds whose run closed. */
  readonly completed: Set<string>;
  readonly mongo: MongoClient;
  /** The run summaries. */
  readonly runs: Collection<RunDoc>;
  readonly counts: { startsSent: number; startsResent: number; signalsSent: number };
  sendStart(p: OrderPlan): void;
  sendApprove(p: OrderPlan): void;
  /** Sends every start once, paced over the first 60% of `windowMs`. */
  paceStarts(windowMs: number): Promise<void>;
  /**
   * Reads the summaries (only the open ones with `openOnly`, a cheaper query on FerretDB), marks
   * the closed runs completed, notes state changes, and returns the rest.
   */
  look(opts?: { openOnly?: boolean }): Promise<Look>;
}

/**
 * The driver of `count` order runs `<idPrefix>-<i>` published through `nc` into the namespace of
 * `env`, reading summaries from its database.
 */
export async function orderDriver(
  nc: NatsConnection,
  env: ServiceEnv,
  count: number,
  idPrefix: string,
): Promise<OrderDriver> {
  const s = subjects(env.prefix);
  const began = Date.now();
  const plans: OrderPlan[] = Array.from({ length: count }, (_, i) => ({
    id: `${idPrefix}-${i}`,
    approve: !timesOut(i),
    starts: 0,
    signals: 0,
    lastChangeAt: began,
  }));
  const completed = new Set<string>();
  const counts = { startsSent: 0, startsResent: 0, signalsSent: 0 };
  const mongo = await connectMongo(env.mongoUrl, { serverSelectionTimeoutMS: 30_000 });
  const runs = mongo.db(env.dbName).collection<RunDoc>(collectionNames(env.prefix).runs);

  /** A plain publish into the inbox: durable once a server has it; what gets lost is sent again. */
  const publishInbox = (subject: string, body: unknown, msgId: string): void => {
    const h = natsHeaders();
    h.set('Nats-Msg-Id', msgId);
    try {
      nc.publish(subject, encodeBody(body), { headers: h });
    } catch {
      // disconnected with a full buffer, or closed: the test's reconcile loop sends it again
    }
  };
  const sendStart = (p: OrderPlan): void => {
    if (p.starts++ > 0) counts.startsResent++;
    counts.startsSent++;
    p.startSentAt = Date.now();
    const input = { orderId: p.id, amount: 100, approvalTimeoutMs: p.approve ? 30 * 60_000 : 1_000 };
    publishInbox(s.start('order'), { workflowId: p.id, input }, `start-${p.id}`);
  };
  const sendApprove = (p: OrderPlan): void => {
    p.signalSentAt = Date.now();
    p.signals++;
    counts.signalsSent++;
    publishInbox(s.signal(p.id), { type: 'approve' }, `approve-${p.id}-${p.signals}`);
  };
  const paceStarts = async (windowMs: number): Promise<void> => {
    const every = (windowMs * 0.6) / plans.length;
    for (const p of plans) {
      sendStart(p);
      await new Promise((r) => setTimeout(r, every));
    }
  };
  const look = async (opts: { openOnly?: boolean } = {}): Promise<Look> => {
    const docs = await runs
      .find(opts.openOnly ? { status: 'running' } : {}, { projection: { workflowId: 1, status: 1, stateValue: 1 } })
      .toArray();
    const byId = new Map(docs.map((d) => [d.workflowId, d]));
    const found: Look = { now: Date.now(), missing: [], open: [] };
    for (const plan of plans) {
      if (completed.has(plan.id) || plan.startSentAt === undefined) continue;
      const doc = byId.get(plan.id);
      if (!doc) {
        if (!opts.openOnly) found.missing.push(plan);
        continue;
      }
      if (doc.status !== 'running') {
        completed.add(plan.id);
        continue;
      }
      const value = JSON.stringify(doc.stateValue);
      if (value !== plan.lastStateValue) {
        plan.lastStateValue = value;
        plan.lastChangeAt = found.now;
      }
      found.open.push({ plan, doc });
    }
    return found;
  };
  return { plans, completed, mongo, runs, counts, sendStart, sendApprove, paceStarts, look };
}
