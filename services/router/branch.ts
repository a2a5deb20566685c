/**
 * Branch, reset and resume requests (docs/workflows.md#branch-reset-and-resume): the source run
 * a start body's `from` names (shared/bus/branch-request.ts), read and checked before anything is
 * written, so a bad request changes nothing. The decider (decider.ts) claims, appends and publishes.
 */
import type { BranchRequest } from '../../shared/bus/branch-request.js';
import { resumeSeq } from '../../shared/engine/index.js';
import { InvalidInputError, NotFoundError } from '../../shared/errors.js';
import type { RunOrigin, RunStatus } from '../../shared/history/events.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';

/** The source of a request, read and checked: the commits to copy and what the new run records. */
export interface BranchSource {
  origin: RunOrigin;
  workflowType: string;
  version: number;
  status: RunStatus;
  /** The source's commits 1..origin.atSeq. */
  commits: StoredCommit[];
}

/**
 * Reads the source run of `req` and checks the request against it: the run exists and is a run
 * of that workflowId (NotFoundError otherwise), atSeq is within its history, a branch's source is
 * closed unless `allowOpen`, a resume's source failed. Writes nothing.
 */
export async function readBranchSource(
  store: Store,
  req: BranchRequest,
  holderOf: (workflowId: string) => Promise<string | undefined>,
): Promise<BranchSource> {
  const runId = req.runId ?? (await holderOf(req.workflowId));
  const unknown = (): never => {
    const what = req.runId
      ? `run ${req.runId} of workflowId ${req.workflowId}`
      : `a run of workflowId ${req.workflowId}`;
    throw new NotFoundError(`cannot ${req.kind}: there is no ${what}`, {
      details: { reason: 'unknown-run', workflowId: req.workflowId, ...(req.runId ? { runId: req.runId } : {}) },
    });
  };
  if (runId === undefined) return unknown();
  const commits: StoredCommit[] = [];
  for await (const c of store.loadHistory(runId)) commits.push(c);
  const started = commits[0]?.events[0];
  if (started?.type !== 'RunStarted' || started.workflowId !== req.workflowId) return unknown();
  const status = (await store.getRun(runId))?.status ?? 'running';
  const problem = (text: string, name: string): never => {
    throw new InvalidInputError(`cannot ${req.kind} run ${runId} of ${req.workflowId}: ${text}`, {
      details: { reason: 'invalid-input', problem: name, workflowId: req.workflowId, runId },
    });
  };
  if (req.kind === 'resume' && status !== 'failed')
    problem(`it is ${status}; only a failed run is resumed`, 'not-failed');
  if (req.kind === 'branch' && status === 'running' && !req.allowOpen) {
    problem('it is still open; branch it with allowOpen (--allow-open), or reset it', 'open-source');
  }
  const atSeq = req.kind === 'resume' ? resumeSeq(commits) : (req.atSeq as number);
  const last = commits.at(-1)?.seq ?? 0;
  if (atSeq > last) problem(`commit ${atSeq} is beyond the end of its history (last commit ${last})`, 'beyond-end');
  return {
    origin: { kind: req.kind, workflowId: req.workflowId, runId, atSeq },
    workflowType: started.workflowType,
    version: started.version,
    status,
    commits: commits.slice(0, atSeq),
  };
}
