/**
 * Runs a parsed command line: the long-running services until SIGTERM/SIGINT, or one client
 * request whose reply is printed as JSON lines. Never throws: errors become one JSON line on
 * stderr and exit code 1 (2 for usage errors).
 */
import type { HistoryCommit, SquallClient } from '../../shared/client/index.js';
import { SquallError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { ServiceHealth } from '../common/service.js';
import type { RouterFaultHooks } from '../router/faults.js';
import {
  type CliCommand,
  type Connection,
  DEFAULT_MONGO_URL,
  DEFAULT_NATS_URL,
  type Env,
  type ParsedCli,
  parseCli,
  type RouterFault,
  SHUTDOWN_DEADLINE_MS,
  USAGE,
  UsageError,
} from './args.js';

/** Where the CLI writes, and how it learns it should stop (tests replace both). */
export interface CliIO {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Resolves on the first SIGTERM or SIGINT. */
  shutdownSignal(): Promise<NodeJS.Signals>;
}

/** The process's own IO. */
export function processIO(): CliIO {
  return {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    shutdownSignal: () =>
      new Promise((resolve) => {
        const on = (sig: NodeJS.Signals) => () => {
          process.off('SIGTERM', term);
          process.off('SIGINT', int);
          resolve(sig);
        };
        const term = on('SIGTERM');
        const int = on('SIGINT');
        process.once('SIGTERM', term);
        process.once('SIGINT', int);
      }),
  };
}

/** Runs one command line; resolves with the exit code. Never throws. */
export async function main(argv: readonly string[], env: Env = process.env, io: CliIO = processIO()): Promise<number> {
  let cli: ParsedCli;
  try {
    cli = parseCli(argv, env);
  } catch (err) {
    io.stderr(errorLine(err));
    return 2;
  }
  try {
    return await run(cli, io);
  } catch (err) {
    io.stderr(errorLine(err));
    return 1;
  }
}

/** One JSON line describing an error: `{"error":{"code","message",...}}`. */
export function errorLine(err: unknown): string {
  try {
    return describeError(err);
  } catch {
    return JSON.stringify({ error: { code: 'INTERNAL', message: String(err) } });
  }
}

function describeError(err: unknown): string {
  if (err instanceof SquallError) {
    const cause = err.cause instanceof Error ? { cause: { name: err.cause.name, message: err.cause.message } } : {};
    const details = err.details === undefined ? {} : { details: err.details };
    return JSON.stringify({ error: { code: err.code, message: err.message, ...details, ...cause } });
  }
  if (err instanceof UsageError) return JSON.stringify({ error: { code: err.code, message: err.message } });
  const message = err instanceof Error ? err.message : String(err);
  return JSON.stringify({ error: { code: 'INTERNAL', message } });
}

async function run(cli: ParsedCli, io: CliIO): Promise<number> {
  const { command, connection } = cli;
  const log = createLogger({ level: cli.logLevel ?? 'info' });
  switch (command.kind) {
    case 'help':
      io.stdout(USAGE);
      return 0;
    case 'router':
    case 'executor':
    case 'timer': {
      let service: (Stoppable & { health?: () => ServiceHealth }) | undefined;
      const http =
        command.healthPort === undefined
          ? undefined
          : await (await import('../common/service.js')).serveHttpHealth(command.healthPort, () => [
              service?.health?.() ?? {
                live: true,
                ready: false,
                details: { service: command.kind, state: 'starting' },
              },
            ]);
      if (http) log.info('serving health over HTTP', { port: command.healthPort, paths: ['/healthz', '/readyz'] });
      try {
        service = await startService(command, connection, log);
        return await serveUntilSignal(service, io, log);
      } finally {
        http?.close();
      }
    }
    case 'dev': {
      const { runDev } = await import('./dev.js');
      return await runDev(command, connection, cli, io);
    }
    case 'replay': {
      const { runReplay } = await import('./replay.js');
      return await runReplay(command, connection, io);
    }
    default:
      return await withClient(connection, (client) => runClientCommand(client, command, io));
  }
}

/** A started service, as far as the CLI needs it. */
export interface Stoppable {
  readonly name: string;
  stop(opts?: { deadlineMs?: number }): Promise<void>;
  readonly closed: Promise<void>;
  health?(): ServiceHealth;
}

async function startService(
  command: Extract<CliCommand, { kind: 'router' | 'executor' | 'timer' }>,
  c: Connection,
  log: Logger,
): Promise<Stoppable> {
  const natsUrl = c.natsUrl ?? DEFAULT_NATS_URL;
  const mongoUrl = c.mongoUrl ?? DEFAULT_MONGO_URL;
  const { loadActivities, loadWorkflows } = await import('../common/load-modules.js');
  switch (command.kind) {
    case 'router': {
      const workflows = await loadWorkflows(command.workflows);
      const { startRouter } = await import('../router/router.js');
      const { withRouterFaults } = await import('../router/faults.js');
      const start = command.fault ? withRouterFaults(faultHooks(command.fault, log)) : startRouter;
      return await start({ natsUrl, mongoUrl, prefix: c.prefix, dbName: c.dbName, workflows, log });
    }
    case 'executor': {
      const activities = await loadActivities(command.activities);
      const { startExecutor } = await import('../executor/executor.js');
      const concurrency = command.concurrency === undefined ? {} : { concurrency: command.concurrency };
      return await startExecutor({ natsUrl, prefix: c.prefix, activities, log, ...concurrency });
    }
    case 'timer': {
      const { startTimer } = await import('../timer/timer.js');
      return await startTimer({ natsUrl, mongoUrl, prefix: c.prefix, dbName: c.dbName, log });
    }
  }
}

/**
 * Waits for SIGTERM/SIGINT (or the services closing on their own), then stops them: in-flight work
 * gets SHUTDOWN_DEADLINE_MS, closing connections a little more; past that the process gives up on
 * a clean close (unacked work is redelivered to another instance) and exits non-zero.
 */
export async function serveUntilSignal(handles: Stoppable | Stoppable[], io: CliIO, log: Logger): Promise<number> {
  const list = Array.isArray(handles) ? handles : [handles];
  const ended = Promise.race(list.map((h) => h.closed.then(() => h.name)));
  const why = await Promise.race([io.shutdownSignal(), ended.then((name) => `${name} closed`)]);
  log.info('shutting down', { reason: why, deadlineMs: SHUTDOWN_DEADLINE_MS });
  let timer: NodeJS.Timeout | undefined;
  const hardDeadline = new Promise<'late'>((r) => {
    timer = setTimeout(() => r('late'), SHUTDOWN_DEADLINE_MS + 5_000);
  });
  const outcome = await Promise.race([
    Promise.all(list.map((h) => h.stop({ deadlineMs: SHUTDOWN_DEADLINE_MS }))).then(() => 'stopped' as const),
    hardDeadline,
  ]);
  clearTimeout(timer);
  if (outcome === 'late') {
    log.error('shutdown deadline passed; exiting without a clean close', { deadlineMs: SHUTDOWN_DEADLINE_MS + 5_000 });
    return 1;
  }
  log.info('shut down', { reason: why });
  return why === 'SIGTERM' || why === 'SIGINT' ? 0 : 1;
}

/**
 * Test-only crash points for a router (see RouterFault): exits the process with code 137, as a
 * SIGKILL would, at the n-th commit's publish (before or after it), so fault tests can check the
 * outbox sweep and redelivery with real processes.
 */
function faultHooks(fault: RouterFault, log: Logger): RouterFaultHooks {
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

export async function withClient(c: Connection, fn: (client: SquallClient) => Promise<number>): Promise<number> {
  const { connect } = await import('../../shared/client/index.js');
  const client = await connect({ servers: c.natsUrl ?? DEFAULT_NATS_URL, prefix: c.prefix, name: 'squall-cli' });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

async function runClientCommand(client: SquallClient, command: CliCommand, io: CliIO): Promise<number> {
  const out = (value: unknown): void => io.stdout(JSON.stringify(value));
  switch (command.kind) {
    case 'start': {
      const opts = {
        ...(command.workflowId === undefined ? {} : { workflowId: command.workflowId }),
        ...(command.idReusePolicy === undefined ? {} : { idReusePolicy: command.idReusePolicy }),
        ...(command.memo === undefined ? {} : { memo: command.memo }),
        ...(command.searchAttributes === undefined ? {} : { searchAttributes: command.searchAttributes }),
      };
      if (command.signal !== undefined && command.workflowId !== undefined) {
        const { workflowId: _id, ...rest } = opts;
        const sws = await client.signalWithStart(command.workflowType, command.workflowId, command.signal, {
          ...rest,
          ...(command.input === undefined ? {} : { input: command.input }),
        });
        if (!command.wait) {
          out(sws);
          return 0;
        }
        const resultOpts = command.timeoutMs === undefined ? {} : { timeoutMs: command.timeoutMs };
        const output = await client.result(sws.workflowId, { runId: sws.runId, ...resultOpts });
        out({ ...sws, status: 'completed', output });
        return 0;
      }
      const started = await client.start(command.workflowType, command.input, opts);
      if (!command.wait) {
        out(started);
        return 0;
      }
      const resultOpts = command.timeoutMs === undefined ? {} : { timeoutMs: command.timeoutMs };
      const output = await client.result(started.workflowId, { runId: started.runId, ...resultOpts });
      out({ ...started, status: 'completed', output });
      return 0;
    }
    case 'signal':
      out(await client.signal(command.workflowId, command.event));
      return 0;
    case 'cancel':
      out(await client.cancel(command.workflowId, command.reason));
      return 0;
    case 'terminate':
      out(await client.terminate(command.workflowId, command.reason));
      return 0;
    case 'query':
      out(await client.query(command.workflowId));
      return 0;
    case 'describe': {
      const summary = await client.describe(
        command.workflowId,
        command.runId === undefined ? {} : { runId: command.runId },
      );
      if (!command.table) {
        out(summary);
        return 0;
      }
      const { describeTable } = await import('./describe-table.js');
      for (const line of describeTable(summary)) io.stdout(line);
      return 0;
    }
    case 'history': {
      if (!command.table) {
        for await (const commit of allCommits(client, command.workflowId, command.runId)) out(commit);
        return 0;
      }
      const commits: HistoryCommit[] = [];
      for await (const commit of allCommits(client, command.workflowId, command.runId)) commits.push(commit);
      const { historyTable } = await import('./dev.js');
      for (const line of historyTable(commits)) io.stdout(line);
      return 0;
    }
    case 'list': {
      const { kind: _kind, limit, ...filter } = command;
      let printed = 0;
      let cursor: string | undefined;
      do {
        const page = await client.list({
          ...filter,
          ...(cursor === undefined ? {} : { cursor }),
          ...(limit ? { limit: limit - printed } : {}),
        });
        for (const run of page.runs) {
          if (limit !== undefined && printed >= limit) break;
          out(run);
          printed++;
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined && (limit === undefined || printed < limit));
      return 0;
    }
    case 'complete-callback':
      out(await client.completeCallback(command.token, command.output));
      return 0;
    case 'fail-callback':
      out(await client.failCallback(command.token, command.error));
      return 0;
    case 'watch': {
      const stream = client.watch({
        ...(command.workflowId === undefined ? {} : { workflowId: command.workflowId }),
        ...(command.workflowType === undefined ? {} : { type: command.workflowType }),
      });
      void io.shutdownSignal().then(() => stream.stop());
      for await (const event of stream) out(event);
      return 0;
    }
    default:
      throw new UsageError(`${command.kind} is not a client command`);
  }
}

/** Every commit of a run's history, page after page. */
export async function* allCommits(
  client: SquallClient,
  workflowId: string,
  runId?: string,
): AsyncGenerator<HistoryCommit> {
  let fromSeq: number | undefined;
  do {
    const page = await client.history(workflowId, {
      ...(runId === undefined ? {} : { runId }),
      ...(fromSeq === undefined ? {} : { fromSeq }),
    });
    yield* page.commits;
    fromSeq = page.nextSeq;
  } while (fromSeq !== undefined);
}

/**
 * Runs `main` as this process's whole job: sets the exit code and, should a stray handle keep the
 * event loop alive after everything was closed, exits anyway shortly after.
 */
export async function runAsProcess(argv: readonly string[]): Promise<void> {
  const code = await main(argv);
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2_000).unref();
}
