/**
 * Security tests' helpers: router, executor and timer in this process on a given NATS server with
 * given credentials (one set per role), a client, and the sample order workflow run end to end:
 * one run approved by a signal (activities), one that times out (a timer firing).
 */
import { expect } from 'vitest';
import { orderWorkflow } from '../../../examples/order/workflows.js';
import { loadActivities } from '../../../services/common/load-modules.js';
import { startExecutor } from '../../../services/executor/executor.js';
import { startRouter } from '../../../services/router/router.js';
import { startTimer } from '../../../services/timer/timer.js';
import type { NatsSecurity } from '../../../shared/bus/auth.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { createLogger, type Logger } from '../../../shared/log.js';
import { freshDbName, freshPrefix, mongoUrl, waitFor } from '../../harness/index.js';
import { trackForFile } from '../../harness/resources.js';

/** Credentials per role; a role left out uses `all`. */
export interface RoleSecurity {
  all?: NatsSecurity;
  client?: NatsSecurity;
  router?: NatsSecurity;
  executor?: NatsSecurity;
  timer?: NatsSecurity;
}

/** Every log line the services and the client wrote, as text, for secret checks. */
export interface Stack {
  client: SquallClient;
  prefix: string;
  dbName: string;
  lines: string[];
  stop(): Promise<void>;
}

/** A logger at debug level that keeps every line in `lines`. */
export function capturingLogger(lines: string[]): Logger {
  return createLogger({ level: 'debug', sink: (line) => lines.push(line) });
}

/** Starts the three services and a client on `natsUrl`; stopped after the test file at the latest. */
export async function startStack(
  natsUrl: string,
  security: RoleSecurity,
  opts: { prefix?: string; dbName?: string; mongoUrl?: string } = {},
): Promise<Stack> {
  const prefix = opts.prefix ?? freshPrefix();
  const dbName = opts.dbName ?? freshDbName();
  const lines: string[] = [];
  const log = capturingLogger(lines);
  const as = (role: 'client' | 'router' | 'executor' | 'timer') => {
    const s = security[role] ?? security.all;
    return s ? { nats: s } : {};
  };
  const common = { natsUrl, prefix, log };
  const mongo = opts.mongoUrl ?? mongoUrl();
  // The router first: it is the role that creates the streams.
  const router = await startRouter({
    ...common,
    ...as('router'),
    mongoUrl: mongo,
    dbName,
    workflows: [orderWorkflow],
  });
  const activities = await loadActivities('examples/order/activities.ts');
  const executor = await startExecutor({ ...common, ...as('executor'), activities });
  const timer = await startTimer({ ...common, ...as('timer'), mongoUrl: mongo, dbName });
  const client = await connect({ servers: natsUrl, prefix, log, ...as('client') });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await client.close();
    await Promise.all([timer.stop(), executor.stop()]);
    await router.stop();
  };
  trackForFile(stop);
  return { client, prefix, dbName, lines, stop };
}

/**
 * The order workflow end to end through `client`: one run approved by a signal completes
 * `fulfilled` (activities ran), one left alone completes `timedOut` (its timer fired).
 */
export async function runOrders(client: SquallClient, idPrefix: string): Promise<void> {
  const approved = `${idPrefix}-approved`;
  const late = `${idPrefix}-late`;
  await client.start('order', { orderId: approved, amount: 4200, approvalTimeoutMs: 60_000 }, { workflowId: approved });
  // At a priority level of its own: its start and tasks take the per-level subjects and durables.
  await client.start(
    'order',
    { orderId: late, amount: 100, approvalTimeoutMs: 300 },
    { workflowId: late, priority: 2 },
  );
  await waitFor(
    'the order to wait for approval',
    async () => (await client.query(approved)).accepts.includes('approve'),
    {
      timeoutMs: 20_000,
    },
  );
  await client.signal(approved, { type: 'approve' });
  await expect(client.result(approved, { timeoutMs: 30_000 })).resolves.toMatchObject({ status: 'fulfilled' });
  await expect(client.result(late, { timeoutMs: 30_000 })).resolves.toMatchObject({ status: 'timedOut' });
}
