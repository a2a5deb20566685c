/**
 * `squall replay`: replays recorded histories (a file, or a workflowId's run in MongoDB) under the
 * definitions a workflow module exports, printing one JSON line per run: ok, or the error naming
 * the event where replay diverged. Exit 0 when every run replays, 1 when any fails, 2 when the
 * arguments are wrong (module or file missing or unreadable).
 */
import { readFile } from 'node:fs/promises';
import { MongoClient } from 'mongodb';
import { WorkflowRegistry } from '../../shared/engine/index.js';
import { NotFoundError } from '../../shared/errors.js';
import type { Commit } from '../../shared/history/events.js';
import { createMongoStore } from '../../shared/store/index.js';
import { checkReplay, parseHistoryText } from '../../shared/testing/replay-check.js';
import { DEFAULT_MONGO_URL } from '../common/options.js';
import { type CliIO, errorLine } from './io.js';
import type { CommandOf, Connection, ReplaySource } from './types.js';

/** Runs `squall replay`; resolves with the exit code. */
export async function runReplay(command: CommandOf<'replay'>, connection: Connection, io: CliIO): Promise<number> {
  let registry: WorkflowRegistry;
  let runs: Commit[][] = [];
  try {
    const { loadWorkflows } = await import('../common/load-modules.js');
    registry = new WorkflowRegistry(await loadWorkflows(command.workflows));
    if ('file' in command.history) {
      runs = parseHistoryText(await readFile(command.history.file, 'utf8'), command.history.file);
    }
  } catch (err) {
    // A module or file that cannot be used is a bad argument.
    io.stderr(errorLine(err));
    return 2;
  }
  if (!('file' in command.history)) runs = [await readRun(command.history, connection)];
  let failed = 0;
  for (const commits of runs) {
    const report = checkReplay(registry, commits);
    if (!report.ok) failed++;
    io.stdout(JSON.stringify(report));
  }
  return failed === 0 ? 0 : 1;
}

/** The whole history of a workflowId's latest run (or of `runId`), read from MongoDB. */
async function readRun(source: Exclude<ReplaySource, { file: string }>, c: Connection): Promise<Commit[]> {
  const mongo = new MongoClient(c.mongoUrl ?? DEFAULT_MONGO_URL, { serverSelectionTimeoutMS: 5_000 });
  try {
    await mongo.connect();
    const store = createMongoStore(mongo, { dbName: c.dbName, collectionPrefix: c.prefix });
    const run =
      source.runId === undefined ? await store.getRunByWorkflowId(source.workflowId) : await store.getRun(source.runId);
    if (!run || run.workflowId !== source.workflowId) {
      throw new NotFoundError(
        `no run ${source.runId === undefined ? 'of' : `${source.runId} for`} workflowId ${source.workflowId} in database ${c.dbName} (prefix ${c.prefix})`,
        { details: { workflowId: source.workflowId, runId: source.runId } },
      );
    }
    const commits: Commit[] = [];
    for await (const commit of store.loadHistory(run.runId)) {
      commits.push({ runId: commit.runId, workflowId: commit.workflowId, seq: commit.seq, events: commit.events });
    }
    return commits;
  } finally {
    await mongo.close();
  }
}
