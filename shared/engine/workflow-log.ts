/**
 * Workflow-side logging: `workflowLog.info(msg, fields)` from an action or `assign`, like `now()`.
 * decide() stays pure: a call only adds a line to the decision in scope (`Decision.logs`), and the
 * router writes a decision's lines to its structured log once its commit is stored (chain.ts). So
 * a line is written once per stored decision and never on replay: replay decides with the recorded
 * commit and collects nothing, a reloaded run is rebuilt by replay, and a redelivered input that
 * finds its commit stored is not decided again.
 */
import { ConfigError, OutsideDecisionError } from '../errors.js';
import type { ActionTarget } from './action-target.js';
import { currentScope, type DecisionScope } from './decision-context.js';
import type { WorkflowLogLevel, WorkflowLogLine } from './types.js';

export type { WorkflowLogLevel, WorkflowLogLine } from './types.js';

/**
 * Field names a caller may not use: the log line's own (shared/log.ts) and the run's ids, which
 * the router adds to every workflow line so it can be told apart from the router's own lines.
 */
export const RESERVED_LOG_FIELDS: ReadonlySet<string> = new Set([
  'time',
  'level',
  'msg',
  'service',
  'source',
  'runId',
  'workflowId',
  'workflowType',
  'seq',
  'traceId',
  'spanId',
]);

/** The replay-aware logger of workflow code; each method is callable only while a decision runs. */
export interface WorkflowLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function write(level: WorkflowLogLevel, msg: unknown, fields: unknown): void {
  const scope = currentScope();
  if (!scope?.log) {
    throw new OutsideDecisionError(
      `workflowLog.${level}() is only defined while a workflow decision runs (in actions, assign, input or output functions); log from activities with ctx.log`,
    );
  }
  if (typeof msg !== 'string') {
    throw new ConfigError(`workflowLog.${level}: msg must be a string, got ${typeof msg}`);
  }
  if (fields !== undefined && (fields === null || typeof fields !== 'object' || Array.isArray(fields))) {
    throw new ConfigError(
      `workflowLog.${level}: fields must be an object, got ${Array.isArray(fields) ? 'an array' : String(fields)}`,
    );
  }
  const given = fields as Record<string, unknown> | undefined;
  const reserved = given ? Object.keys(given).find((k) => RESERVED_LOG_FIELDS.has(k)) : undefined;
  if (reserved !== undefined) {
    throw new ConfigError(`workflowLog.${level}: field ${JSON.stringify(reserved)} is reserved for the log line's own`);
  }
  scope.log(level, msg, given);
}

/**
 * Logs from workflow code (actions, `assign`, `input` and `output` functions): the line is
 * written by the router once the decision is stored, with runId, workflowId, workflowType and
 * seq, and never again when the run is replayed or reloaded. Guards are probed more than once,
 * so a line logged from a guard is kept only from the evaluation that takes the transition.
 * Outside a decision each method throws OutsideDecisionError; a msg that is not a string, fields
 * that are not an object, or a reserved field name (RESERVED_LOG_FIELDS) throw ConfigError, which
 * fails the run like any throwing action.
 */
export const workflowLog: WorkflowLogger = {
  debug: (msg, fields) => write('debug', msg, fields),
  info: (msg, fields) => write('info', msg, fields),
  warn: (msg, fields) => write('warn', msg, fields),
  error: (msg, fields) => write('error', msg, fields),
};

/**
 * The collector of one decision's lines: `lines` fills while it runs, unless `replaying` (a
 * recorded commit is being decided again: its lines were written when it was first decided).
 * `bind(target)` gives the scope's `log` for the decision's draft, whose working state names the
 * run and the commit's seq.
 */
export function workflowLogRecorder(replaying: boolean): {
  lines: WorkflowLogLine[];
  bind(target: ActionTarget): NonNullable<DecisionScope['log']>;
} {
  const lines: WorkflowLogLine[] = [];
  return {
    lines,
    bind: (target) => (level, msg, fields) => {
      if (replaying) return;
      const { runId, workflowId, workflowType, lastSeq } = target.state;
      const line: WorkflowLogLine = { level, msg, runId, workflowId, workflowType, seq: lastSeq, at: target.at };
      if (fields !== undefined) line.fields = { ...fields };
      lines.push(line);
    },
  };
}
