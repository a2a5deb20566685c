/**
 * What the tracing tests share: a workflow that runs an activity, waits on a timer, waits for a
 * signal and runs a second activity; and a router, an executor and a timer in this process over
 * the real servers, whose log lines the test keeps.
 */
import { expect } from 'vitest';
import { setup } from 'xstate';
import type { ServiceHandle } from '../../../services/common/service.js';
import { startExecutor } from '../../../services/executor/executor.js';
import { startRouter } from '../../../services/router/router.js';
import { startTimer } from '../../../services/timer/timer.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { type ActivityDefinition, activity, defineActivity, defineWorkflow } from '../../../shared/engine/index.js';
import { createLogger } from '../../../shared/log.js';
import { connectMongo, freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';

/** prepare → a 300 ms timer → wait for `go` → finish → done. */
export const tracedWorkflow = defineWorkflow({
  name: 'traced',
  machine: setup({ actors: { prepare: activity(), finish: activity() } }).createMachine({
    id: 'traced',
    initial: 'preparing',
    states: {
      preparing: { invoke: { id: 'prepare', src: 'prepare', onDone: 'pausing' } },
      pausing: { after: { 300: 'waiting' } },
      waiting: { on: { go: 'finishing' } },
      finishing: { invoke: { id: 'finish', src: 'finish', onDone: 'done' } },
      done: { type: 'final' },
    },
    output: () => 'finished',
  }),
});

const activities = [
  defineActivity('prepare', (_input: unknown, ctx) => {
    ctx.log.info('preparing');
    return 'prepared';
  }),
  defineActivity('finish', () => 'finished'),
] as ActivityDefinition[];

/** Services and a client on a fresh prefix and database; `lines` holds every log line, parsed. */
export interface TracingWorld {
  prefix: string;
  client: SquallClient;
  lines: Record<string, unknown>[];
  close(): Promise<void>;
}

/** Starts the router, executor and timer in this process (debug logs kept) and a client. */
export async function startWorld(): Promise<TracingWorld> {
  const prefix = freshPrefix();
  const dbName = freshDbName();
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'debug', sink: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const common = { natsUrl: natsUrl(), mongoUrl: mongoUrl(), dbName, prefix };
  const services: ServiceHandle[] = [
    await startRouter({ ...common, workflows: [tracedWorkflow], log: log.child({ service: 'router' }) }),
    await startExecutor({ ...common, activities, log: log.child({ service: 'executor' }) }),
    await startTimer({ ...common, log: log.child({ service: 'timer' }) }),
  ];
  const client = await connect({ servers: natsUrl(), prefix });
  return {
    prefix,
    client,
    lines,
    async close() {
      await client.close();
      await Promise.all(services.map((s) => s.stop()));
      const mongo = await connectMongo();
      await mongo.db(dbName).dropDatabase();
    },
  };
}

/**
 * Runs one `traced` workflow to its end: start, the signal once it waits, its result. How to tell
 * it waits: by `waiting(runId)` when given, else by polling describe.
 */
export async function runTraced(
  client: SquallClient,
  workflowId: string,
  waiting?: (runId: string) => Promise<unknown>,
): Promise<{ runId: string }> {
  const { runId } = await client.start('traced', undefined, { workflowId });
  await (waiting?.(runId) ??
    waitFor(
      `${workflowId} waiting for its signal`,
      async () => (await client.describe(workflowId)).stateValue === 'waiting' || undefined,
      { timeoutMs: 30_000, intervalMs: 50 },
    ));
  await client.signal(workflowId, { type: 'go' });
  await expect(client.result(workflowId, { timeoutMs: 30_000 })).resolves.toBe('finished');
  return { runId };
}
