/**
 * The client commands (`squall start|signal|query|...`): one request each through a SquallClient,
 * whose reply is printed as JSON lines (or, with --table, as a short human table).
 */
import type { HistoryCommit, SquallClient } from '../../shared/client/index.js';
import { parseDebounce, parseSingleton } from '../../shared/flow/spec.js';
import { DEFAULT_NATS_URL } from '../common/options.js';
import type { CliIO } from './io.js';
import { type CliCommand, type CommandOf, type Connection, UsageError } from './types.js';

/** Connects a client to NATS (an unset URL means the local default), runs `fn`, closes it. */
export async function withClient(c: Connection, fn: (client: SquallClient) => Promise<number>): Promise<number> {
  const { connect } = await import('../../shared/client/index.js');
  const client = await connect({
    servers: c.natsUrl ?? DEFAULT_NATS_URL,
    prefix: c.prefix,
    name: 'squall-cli',
    ...(c.nats ? { nats: c.nats } : {}),
  });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/** Runs one client command; resolves with the exit code. */
export async function runClientCommand(client: SquallClient, command: CliCommand, io: CliIO): Promise<number> {
  const out = (value: unknown): void => io.stdout(JSON.stringify(value));
  switch (command.kind) {
    case 'start':
      return await runStart(client, command, io);
    case 'signal':
      out(await client.signal(command.workflowId, command.event));
      return 0;
    case 'cancel':
      out(await client.cancel(command.workflowId, command.reason));
      return 0;
    case 'terminate':
      out(await client.terminate(command.workflowId, command.reason));
      return 0;
    case 'branch': {
      const { workflowId, atSeq, runId, newWorkflowId, allowOpen } = command;
      out(await client.branch(workflowId, { atSeq, runId, newWorkflowId, allowOpen }));
      return 0;
    }
    case 'reset':
      out(await client.reset(command.workflowId, { atSeq: command.atSeq, runId: command.runId }));
      return 0;
    case 'resume':
      out(await client.resume(command.workflowId, { runId: command.runId }));
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
      const range = {
        ...(command.fromSeq === undefined ? {} : { fromSeq: command.fromSeq }),
        ...(command.limit === undefined ? {} : { limit: command.limit }),
      };
      const commits = allCommits(client, command.workflowId, command.runId, range);
      if (!command.table) {
        for await (const commit of commits) out(commit);
        return 0;
      }
      const table: HistoryCommit[] = [];
      for await (const commit of commits) table.push(commit);
      const { historyTable } = await import('./history-table.js');
      for (const line of historyTable(table)) io.stdout(line);
      return 0;
    }
    case 'list':
      return await runList(client, command, io);
    case 'complete-callback':
      out(await client.completeCallback(command.token, command.output));
      return 0;
    case 'fail-callback':
      out(await client.failCallback(command.token, command.error));
      return 0;
    case 'heartbeat-callback':
      out(await client.heartbeatCallback(command.token));
      return 0;
    case 'schedule': {
      const { runSchedule } = await import('./schedule-command.js');
      return await runSchedule(client, command, io);
    }
    case 'event':
      out(
        await client.publishEvent(
          command.key,
          command.payload,
          command.eventId === undefined ? {} : { eventId: command.eventId },
        ),
      );
      return 0;
    case 'schedules': {
      const { listSchedules } = await import('./schedule-command.js');
      return await listSchedules(client, io);
    }
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

/** `squall start`: a start or a signal-with-start, then with --wait the run's output. */
async function runStart(client: SquallClient, command: CommandOf<'start'>, io: CliIO): Promise<number> {
  const opts = {
    ...(command.idReusePolicy === undefined ? {} : { idReusePolicy: command.idReusePolicy }),
    ...(command.memo === undefined ? {} : { memo: command.memo }),
    ...(command.searchAttributes === undefined ? {} : { searchAttributes: command.searchAttributes }),
    ...(command.debounce === undefined ? {} : { debounce: parseDebounce(command.debounce, '--debounce') }),
    ...(command.singleton === undefined ? {} : { singleton: parseSingleton(command.singleton, '--singleton') }),
    ...(command.priority === undefined ? {} : { priority: command.priority }),
    ...(command.runTimeoutMs === undefined ? {} : { runTimeoutMs: command.runTimeoutMs }),
    ...(command.executionTimeoutMs === undefined ? {} : { executionTimeoutMs: command.executionTimeoutMs }),
    ...(command.retentionMs === undefined ? {} : { retentionMs: command.retentionMs }),
  };
  const started =
    command.signal !== undefined && command.workflowId !== undefined
      ? await client.signalWithStart(command.workflowType, command.workflowId, command.signal, {
          ...opts,
          ...(command.input === undefined ? {} : { input: command.input }),
        })
      : await client.start(command.workflowType, command.input, {
          ...opts,
          ...(command.workflowId === undefined ? {} : { workflowId: command.workflowId }),
        });
  if (!command.wait) {
    io.stdout(JSON.stringify(started));
    return 0;
  }
  const resultOpts = command.timeoutMs === undefined ? {} : { timeoutMs: command.timeoutMs };
  const output = await client.result(started.workflowId, { runId: started.runId, ...resultOpts });
  io.stdout(JSON.stringify({ ...started, status: 'completed', output }));
  return 0;
}

/** `squall list`: page after page, up to --limit runs. */
async function runList(client: SquallClient, command: CommandOf<'list'>, io: CliIO): Promise<number> {
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
      io.stdout(JSON.stringify(run));
      printed++;
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined && (limit === undefined || printed < limit));
  return 0;
}

/** Commits one history request asks for at most (the router's own cap is 10,000). */
const HISTORY_REQUEST_LIMIT = 1000;

/**
 * A run's history page after page, from `fromSeq` (default 1), up to `limit` commits (default
 * all): each request asks for no more than what is left, so the router reads only those pages.
 */
export async function* allCommits(
  client: SquallClient,
  workflowId: string,
  runId?: string,
  range: { fromSeq?: number; limit?: number } = {},
): AsyncGenerator<HistoryCommit> {
  let fromSeq = range.fromSeq;
  let left = range.limit ?? Number.POSITIVE_INFINITY;
  while (left > 0) {
    const page = await client.history(workflowId, {
      ...(runId === undefined ? {} : { runId }),
      ...(fromSeq === undefined ? {} : { fromSeq }),
      limit: Math.min(left, HISTORY_REQUEST_LIMIT),
    });
    const commits = page.commits.slice(0, left);
    yield* commits;
    left -= commits.length;
    if (page.nextSeq === undefined) return;
    fromSeq = page.nextSeq;
  }
}
