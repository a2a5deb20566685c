/**
 * Replay checks over recorded histories, as `squall replay` runs them: parse a history file (what
 * `squall history` prints, a fixture, or an array of commits), then replay each run under the
 * registered definition of its (type, version) and report ok or the error naming the event.
 */
import { replayCommits, type WorkflowRegistry } from '../engine/index.js';
import { InvalidInputError, toErrorInfo, toSquallError } from '../errors.js';
import type { Commit, HistoryEvent } from '../history/events.js';

/** The outcome of replaying one run. */
export type ReplayReport = {
  workflowId: string;
  runId: string;
  workflowType?: string;
  version?: number;
  /** Commits replayed (or read, when replay failed). */
  commits: number;
} & (
  | { ok: true; status: string; lastSeq: number; output?: unknown }
  | { ok: false; error: { code: string; message: string; details?: unknown } }
);

/** A commit as a history file may hold it: `squall history` lines carry no runId/workflowId. */
interface LooseCommit {
  seq: number;
  events: HistoryEvent[];
  runId?: string;
  workflowId?: string;
}

/**
 * Parses the text of a history file into runs (each a list of commits, ascending). Accepts:
 * JSON lines of commits (`squall history <id>` output; several runs one after another, each
 * opening at seq 1), a JSON array of commits, or an object `{ commits: [...] }` (tests/fixtures).
 * Commits without runId/workflowId take them from their run's RunStarted event.
 * Throws InvalidInputError naming the line or field that is wrong.
 */
export function parseHistoryText(text: string, source = 'history'): Commit[][] {
  const trimmed = text.trim();
  if (trimmed === '') throw new InvalidInputError(`${source} is empty; expected commits as JSON`);
  let items: unknown[];
  const whole = tryJson(trimmed);
  if (whole.ok && Array.isArray(whole.value)) items = whole.value;
  else if (whole.ok && isObject(whole.value) && Array.isArray(whole.value.commits)) items = whole.value.commits;
  else if (whole.ok && isObject(whole.value)) items = [whole.value];
  else {
    items = [];
    trimmed.split('\n').forEach((line, i) => {
      if (line.trim() === '') return;
      const parsed = tryJson(line);
      if (!parsed.ok) throw new InvalidInputError(`${source} line ${i + 1} is not JSON: ${parsed.error}`);
      items.push(parsed.value);
    });
  }
  const runs: LooseCommit[][] = [];
  items.forEach((item, i) => {
    const c = asCommit(item, `${source} commit ${i + 1}`);
    const current = runs.at(-1);
    if (c.seq === 1 || !current) runs.push([c]);
    else current.push(c);
  });
  return runs.map((run) => withIds(run, source));
}

/**
 * Replays one run's commits under the definition its RunStarted names. Never throws: a missing
 * definition, corrupt history or nondeterminism is reported as `ok: false` with the error.
 */
export function checkReplay(registry: WorkflowRegistry, commits: readonly Commit[]): ReplayReport {
  const first = commits[0];
  const started = first?.events[0]?.type === 'RunStarted' ? first.events[0] : undefined;
  const base = {
    workflowId: first?.workflowId ?? '',
    runId: first?.runId ?? '',
    ...(started ? { workflowType: started.workflowType, version: started.version } : {}),
    commits: commits.length,
  };
  try {
    if (!started) {
      throw new InvalidInputError('the history does not open with RunStarted at seq 1; replay needs the whole run');
    }
    const def = registry.require(started.workflowType, started.version);
    const state = replayCommits(def, commits);
    const ok = { ...base, ok: true as const, status: state.status, lastSeq: state.lastSeq };
    // The rebuilt output: equal to the live one, or replay did not reproduce the run.
    return state.output === undefined ? ok : { ...ok, output: state.output };
  } catch (err) {
    const e = toSquallError(err);
    const info = toErrorInfo(e);
    return {
      ...base,
      ok: false,
      error: { code: e.code, message: info.message, ...(e.details === undefined ? {} : { details: e.details }) },
    };
  }
}

function withIds(run: LooseCommit[], source: string): Commit[] {
  const start = run[0]?.events[0];
  const ids =
    start?.type === 'RunStarted'
      ? { runId: start.runId, workflowId: start.workflowId }
      : { runId: run[0]?.runId, workflowId: run[0]?.workflowId };
  return run.map((c) => {
    const runId = c.runId ?? ids.runId;
    const workflowId = c.workflowId ?? ids.workflowId;
    if (runId === undefined || workflowId === undefined) {
      throw new InvalidInputError(
        `${source}: commit ${c.seq} has no runId/workflowId and its run has no RunStarted to take them from`,
      );
    }
    return { runId, workflowId, seq: c.seq, events: c.events };
  });
}

function asCommit(value: unknown, where: string): LooseCommit {
  if (!isObject(value)) throw new InvalidInputError(`${where} is not an object`);
  const { seq, events, runId, workflowId } = value;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
    throw new InvalidInputError(`${where}: seq must be a positive integer, got ${JSON.stringify(seq)}`);
  }
  if (
    !Array.isArray(events) ||
    events.length === 0 ||
    !events.every((e) => isObject(e) && typeof e.type === 'string')
  ) {
    throw new InvalidInputError(`${where} (seq ${seq}): events must be a non-empty array of { type, ... }`);
  }
  const c: LooseCommit = { seq, events: events as HistoryEvent[] };
  if (typeof runId === 'string') c.runId = runId;
  if (typeof workflowId === 'string') c.workflowId = workflowId;
  return c;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tryJson(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
