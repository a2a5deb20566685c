/**
 * `squall dev`: router, executor and timer in one process, on local servers started on the fly
 * when none are configured; with `--sample`, one order run end to end, printed as a table.
 */
import { randomUUID } from 'node:crypto';
import type { HistoryCommit, SquallClient } from '../../shared/client/index.js';
import { SquallError } from '../../shared/errors.js';
import type { HistoryEvent } from '../../shared/history/events.js';
import { createLogger } from '../../shared/log.js';
import { type CliCommand, type Connection, type ParsedCli, SHUTDOWN_DEADLINE_MS } from './args.js';
import { allCommits, type CliIO, type Stoppable, serveUntilSignal, withClient } from './run.js';

/** Runs `squall dev`; resolves with the exit code once everything it started has stopped. */
export async function runDev(
  command: Extract<CliCommand, { kind: 'dev' }>,
  given: Connection,
  cli: ParsedCli,
  io: CliIO,
): Promise<number> {
  // The sample run prints a table; keep service logs to warnings unless asked otherwise.
  const level = cli.logLevel ?? (command.sample ? 'warn' : 'info');
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
      }
      if (connection.mongoUrl === undefined) {
        const mongo = await dev.startMongoServer();
        cleanups.push(() => mongo.stop());
        connection.mongoUrl = mongo.url;
      }
    }
    const { natsUrl, mongoUrl, prefix, dbName } = connection as Required<Connection>;
    const [{ startRouter }, { startExecutor }, { startTimer }] = await Promise.all([
      import('../router/router.js'),
      import('../executor/executor.js'),
      import('../timer/timer.js'),
    ]);
    const handles: Stoppable[] = [];
    cleanups.push(async () => {
      await Promise.all(handles.map((h) => h.stop({ deadlineMs: SHUTDOWN_DEADLINE_MS })));
    });
    handles.push(await startRouter({ natsUrl, mongoUrl, prefix, dbName, workflows, log }));
    handles.push(await startExecutor({ natsUrl, prefix, activities, log }));
    handles.push(await startTimer({ natsUrl, mongoUrl, prefix, dbName, log }));
    const ready = {
      dev: 'ready',
      natsUrl,
      mongoUrl,
      prefix,
      dbName,
      workflows: workflows.map((w) => `${w.name}@${w.version}`),
      activities: activities.map((a) => a.name),
    };
    if (!command.sample) {
      io.stdout(JSON.stringify(ready));
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

/**
 * A short human table of a run's history: one row per event, in order, with the commit's time
 * (UTC time of day) and its offset from the start, activity attempts and error messages.
 */
export function historyTable(commits: readonly HistoryCommit[]): string[] {
  const t0 = commits[0]?.events[0]?.at ?? 0;
  const rows: string[][] = [['seq', 'time', '+ms', 'event', 'detail']];
  for (const commit of commits) {
    commit.events.forEach((event, i) => {
      const first = i === 0;
      rows.push([
        first ? String(commit.seq) : '',
        first ? timeOfDay(event.at) : '',
        first ? String(event.at - t0) : '',
        event.type,
        eventDetail(event),
      ]);
    });
  }
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]?.length ?? 0)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c < 4 ? cell.padEnd(widths[c] ?? 0) : cell))
      .join('  ')
      .trimEnd(),
  );
}

/** `HH:MM:SS.mmm` in UTC. */
export function timeOfDay(at: number): string {
  return new Date(at).toISOString().slice(11, 23);
}

function eventDetail(e: HistoryEvent): string {
  switch (e.type) {
    case 'RunStarted':
      return `${e.workflowType}@${e.version} input=${short(e.input)}`;
    case 'ActivityScheduled':
      return `#${e.activitySeq} ${e.activity}`;
    case 'ActivityCompleted':
      return `#${e.activitySeq}${attempt(e.attempt)} output=${short(e.output)}${ignored(e.ignored)}`;
    case 'ActivityFailed':
      return `#${e.activitySeq}${attempt(e.attempt)} ${errorText(e.error)}${ignored(e.ignored)}`;
    case 'ActivityStarted':
      return `#${e.activitySeq}${attempt(e.attempt)}${ignored(e.ignored)}`;
    case 'ActivityHeartbeat':
      return `#${e.activitySeq}${attempt(e.attempt)}${e.details === undefined ? '' : ` details=${short(e.details)}`}${ignored(e.ignored)}`;
    case 'ActivityTimedOut':
      return `#${e.activitySeq}${attempt(e.attempt)} ${e.timeoutType} timeout`;
    case 'ActivityCancelled':
    case 'TimerCancelled':
      return `#${'activitySeq' in e ? e.activitySeq : e.timerSeq}`;
    case 'TimerScheduled':
      return e.purpose === undefined
        ? `#${e.timerSeq} in ${e.delayMs} ms`
        : `#${e.timerSeq} ${e.purpose} of #${e.activitySeq}${attempt(e.attempt)} in ${e.delayMs} ms`;
    case 'TimerFired':
      return `#${e.timerSeq}${ignored(e.ignored)}`;
    case 'SignalReceived':
      return `${e.signal.type}${e.deferred ? ' (deferred)' : ''}${ignored(e.ignored)}`;
    case 'EventEmitted':
      return e.event.type;
    case 'SideEffectRecorded':
      return `${e.id} = ${short(e.value)}`;
    case 'RunCompleted':
      return `output=${short(e.output)}`;
    case 'RunFailed':
      return errorText(e.error);
    case 'CancelRequested':
    case 'RunCancelled':
      return e.reason ?? '';
    case 'ChildStarted':
      return `#${e.childSeq} ${e.workflowType} ${e.childWorkflowId}`;
    case 'ChildCompleted':
    case 'ChildFailed':
      return `#${e.childSeq}${ignored(e.ignored)}`;
    default: {
      // Event kinds this table does not know yet still get their sequence number.
      const other = e as { activitySeq?: number; timerSeq?: number; ignored?: string };
      const seq = other.activitySeq ?? other.timerSeq;
      return `${seq === undefined ? '' : `#${seq}`}${ignored(other.ignored)}`;
    }
  }
}

function attempt(n: number | undefined): string {
  return n === undefined ? '' : ` attempt ${n}`;
}

/** `Name: message`, or the message alone for a plain Error. */
function errorText(e: { name?: string; message: string; code?: string }): string {
  const name = e.name && e.name !== 'Error' ? e.name : e.code;
  return name ? `${name}: ${e.message}` : e.message;
}

function ignored(reason: string | undefined): string {
  return reason ? ` (ignored: ${reason})` : '';
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
