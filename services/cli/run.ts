/**
 * Runs a parsed command line: the long-running services until SIGTERM/SIGINT, or one client
 * request whose reply is printed as JSON lines. Never throws: errors become one JSON line on
 * stderr and exit code 1 (2 for usage errors). `main` is where the process's environment enters.
 */
import type { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../shared/log.js';
import { usePayloadCodecs } from '../../shared/payload/codec.js';
import type { ServiceHealth } from '../common/service.js';
import { startTracing, TRACED_COMMANDS, type TracingHandle } from '../common/tracing-sdk.js';
import { parseCli } from './args.js';
import { type CliIO, errorLine, processIO } from './io.js';
import { type Stoppable, serveUntilSignal } from './serve.js';
import { executorOptionsFrom, routerFaultHooks, routerOptionsFrom, timerOptionsFrom } from './service-options.js';
import type { CommandOf, Connection, Env, ParsedCli } from './types.js';
import { USAGE } from './usage.js';

/** Runs one command line; resolves with the exit code. Never throws. */
export async function main(argv: readonly string[], env: Env = process.env, io: CliIO = processIO()): Promise<number> {
  let cli: ParsedCli;
  try {
    cli = parseCli(argv, env);
  } catch (err) {
    io.stderr(errorLine(err));
    return 2;
  }
  // One set of payload codecs per process: services seal what they write, clients open it.
  if (cli.codecs) usePayloadCodecs(cli.codecs);
  let tracing: TracingHandle | undefined;
  try {
    if (TRACED_COMMANDS.has(cli.command.kind)) tracing = await startTracing(cli.command.kind, env);
    return await run(cli, io);
  } catch (err) {
    io.stderr(errorLine(err));
    return 1;
  } finally {
    await tracing?.shutdown();
  }
}

async function run(cli: ParsedCli, io: CliIO): Promise<number> {
  const { command, connection } = cli;
  switch (command.kind) {
    case 'help':
      io.stdout(USAGE);
      return 0;
    case 'router':
    case 'executor':
    case 'timer':
      return await runService(command, connection, createLogger({ level: cli.logLevel ?? 'info' }), io);
    case 'dev': {
      const { runDev } = await import('./dev.js');
      return await runDev(command, connection, cli.logLevel, io);
    }
    case 'ui': {
      const { runUi } = await import('./ui-command.js');
      return await runUi(command, connection, createLogger({ level: cli.logLevel ?? 'info' }), io);
    }
    case 'replay': {
      const { runReplay } = await import('./replay.js');
      return await runReplay(command, connection, io);
    }
    case 'check': {
      const { runCheck } = await import('./check-command.js');
      return await runCheck(command, io);
    }
    default: {
      const { runClientCommand, withClient } = await import('./client-commands.js');
      return await withClient(connection, (client) => runClientCommand(client, command, io));
    }
  }
}

type ServiceCommand = CommandOf<'router' | 'executor' | 'timer'>;

/** Starts one service (with its HTTP health endpoint when asked) and serves until told to stop. */
async function runService(command: ServiceCommand, connection: Connection, log: Logger, io: CliIO): Promise<number> {
  let service: (Stoppable & { health?: () => ServiceHealth; metrics?: Registry }) | undefined;
  const http =
    command.healthPort === undefined
      ? undefined
      : await (await import('../common/service.js')).serveHttpHealth(
          command.healthPort,
          () => [
            service?.health?.() ?? {
              live: true,
              ready: false,
              details: { service: command.kind, state: 'starting' },
            },
          ],
          { metrics: () => (service?.metrics ? [service.metrics] : []) },
        );
  if (http) {
    log.info('serving health over HTTP', { port: command.healthPort, paths: ['/healthz', '/readyz', '/metrics'] });
  }
  try {
    service = await startService(command, connection, log);
    return await serveUntilSignal(service, io, log);
  } finally {
    http?.close();
  }
}

async function startService(command: ServiceCommand, c: Connection, log: Logger): Promise<Stoppable> {
  const { loadActivities, loadWorkflows } = await import('../common/load-modules.js');
  switch (command.kind) {
    case 'router': {
      const workflows = await loadWorkflows(command.workflows);
      const activities = command.activities === undefined ? [] : await loadActivities(command.activities);
      const { startRouter } = await import('../router/router.js');
      const { streamReplicas, cacheMb, cacheTtlMs, retentionMs, sweepIntervalMs, ackWaitMs } = command;
      const opts = routerOptionsFrom(c, {
        workflows,
        activities,
        log,
        streamReplicas,
        cacheMb,
        cacheTtlMs,
        retentionMs,
        sweepIntervalMs,
        ackWaitMs,
      });
      if (!command.fault) return await startRouter(opts);
      const { withRouterFaults } = await import('../router/faults.js');
      return await withRouterFaults(routerFaultHooks(command.fault, log))(opts);
    }
    case 'executor': {
      const activities = await loadActivities(command.activities);
      const { startExecutor } = await import('../executor/executor.js');
      return await startExecutor(
        executorOptionsFrom(c, {
          activities,
          log,
          concurrency: command.concurrency,
          ackWaitMs: command.ackWaitMs,
          streamReplicas: command.streamReplicas,
        }),
      );
    }
    case 'timer': {
      const { startTimer } = await import('../timer/timer.js');
      return await startTimer(timerOptionsFrom(c, { log, streamReplicas: command.streamReplicas }));
    }
  }
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
