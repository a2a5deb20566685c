/**
 * `squall dev`: router, executor and timer in one process, on local servers started on the fly
 * when none are configured; with `--sample`, one order run end to end, printed as a table.
 */
import { randomUUID } from 'node:crypto';
import type { HistoryCommit, SquallClient } from '../../shared/client/index.js';
import { SquallError } from '../../shared/errors.js';
import { createLogger, type Logger, type LogLevel, redactUrl } from '../../shared/log.js';
import { allCommits, withClient } from './client-commands.js';
import { historyTable } from './history-table.js';
import type { CliIO } from './io.js';
import { SHUTDOWN_DEADLINE_MS, type Stoppable, serveUntilSignal } from './serve.js';
import { executorOptionsFrom, routerOptionsFrom, timerOptionsFrom } from './service-options.js';
import type { CommandOf, Connection } from './types.js';

/** Runs `squall dev`; resolves with the exit code once everything it started has stopped. */
export async function runDev(
  command: CommandOf<'dev'>,
  given: Connection,
  logLevel: LogLevel | undefined,
  io: CliIO,
): Promise<number> {
  // The sample run prints a table; keep service logs to warnings unless asked otherwise.
  const level = logLevel ?? (command.sample ? 'warn' : 'info');
  const log = createLogger({ level, fields: { dev: true } });
  const { loadActivities, loadWorkflows } = await import('../common/load-modules.js');
  // Load first: a bad module fails before any server starts.
  const [workflows, activities] = await Promise.all([
    loadWorkflows(command.workflows),
    loadActivities(command.activities),
  ]);

  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => log.warn('dev: cleanup failed', { err }));
  };
  try {
    const connection = { ...given };
    if (connection.natsUrl === undefined || connection.mongoUrl === undefined) {
      const dev = await import('../dev/index.js');
      if (connection.natsUrl === undefined) {
        const nats = await dev.startNatsServer();
        cleanups.push(() => nats.stop());
        connection.natsUrl = nats.url;
        // The session's own server is open and plain: credentials given for another one do not apply.
        delete connection.nats;
      }
      if (connection.mongoUrl === undefined) {
        // A first-time FerretDB build takes minutes: its progress shows at info even for --sample.
        const buildLog = createLogger({ level: logLevel ?? 'info', fields: { service: 'dev' } });
        const mongo = await dev.startMongoServer({ binary: await dev.findMongoServer({ log: buildLog }) });
        cleanups.push(() => mongo.stop());
        connection.mongoUrl = mongo.url;
      }
    }
    const [{ startRouter }, { startExecutor }, { startTimer }] = await Promise.all([
      import('../router/router.js'),
      import('../executor/executor.js'),
      import('../timer/timer.js'),
    ]);
    const handles: Stoppable[] = [];
    cleanups.push(async () => {
      await Promise.all(handles.map((h) => h.stop({ deadlineMs: SHUTDOWN_DEADLINE_MS })));
    });
    handles.push(await startRouter(routerOptionsFrom(connection, { workflows, activities, log })));
    handles.push(await startExecutor(executorOptionsFrom(connection, { activities, log })));
    handles.push(await startTimer(timerOptionsFrom(connection, { log })));
    const ready = {
      dev: 'ready',
      natsUrl: redactUrl(connection.natsUrl),
      mongoUrl: redactUrl(connection.mongoUrl),
      prefix: connection.prefix,
      dbName: connection.dbName,
      workflows: workflows.map((w) => `${w.name}@${w.version}`),
      activities: activities.map((a) => a.name),
    };
    if (!command.sample) {
      const ui = await startDevUi(connection, command.uiPort, log);
      if (ui) handles.push(ui);
      io.stdout(JSON.stringify({ ...ready, ...(ui ? { console: ui.url } : {}) }));
      return await serveUntilSignal(handles, io, log);
    }
    const interrupted = io.shutdownSignal().then((sig) => {
      log.warn('dev: interrupted', { signal: sig });
      return 130;
    });
    return await Promise.race([withClient(connection, (client) => runSample(client, io)), interrupted]);
  } finally {
    await cleanup();
  }
}

/** The console for the dev session; a port in use is a warning, not a reason to stop the engine. */
async function startDevUi(
  connection: Connection,
  port: number,
  log: Logger,
): Promise<(Stoppable & { url: string }) | undefined> {
  const { startUi } = await import('./ui-command.js');
  try {
    return await startUi(connection, port, '127.0.0.1', log);
  } catch (err) {
    log.warn('dev: the console did not start (try --ui-port)', { err });
    return undefined;
  }
}

/** Runs one sample order end to end: start, approve when it waits for approval, print the outcome. */
async function runSample(client: SquallClient, io: CliIO): Promise<number> {
  const orderId = `order-${randomUUID().slice(0, 8)}`;
  const started = await client.start(
    'order',
    { orderId, amount: 4200, approvalTimeoutMs: 60_000 },
    { workflowId: orderId },
  );
  io.stdout(`started order ${started.workflowId} (run ${started.runId})`);
  await waitUntilAccepts(client, started.workflowId, 'approve', 30_000);
  await client.signal(started.workflowId, { type: 'approve' });
  io.stdout('sent approve');
  const output = await client.result<{ status?: string }>(started.workflowId, {
    runId: started.runId,
    timeoutMs: 60_000,
  });
  const commits: HistoryCommit[] = [];
  for await (const commit of allCommits(client, started.workflowId, started.runId)) commits.push(commit);
  io.stdout('');
  for (const line of historyTable(commits)) io.stdout(line);
  io.stdout('');
  io.stdout(JSON.stringify(output));
  return output?.status === 'fulfilled' ? 0 : 1;
}

async function waitUntilAccepts(
  client: SquallClient,
  workflowId: string,
  type: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const q = await client.query(workflowId).catch((err: unknown) => {
      // The router may not have stored the run yet right after the start reply.
      if (err instanceof SquallError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    });
    if (q?.accepts.includes(type)) return;
    if (q && q.status !== 'running')
      throw new SquallError('INTERNAL', `run ${workflowId} ended (${q.status}) before it accepted ${type}`);
    if (Date.now() > deadline) {
      throw new SquallError('TIMEOUT', `run ${workflowId} did not accept ${type} within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
