/**
 * The `from` of a start body: branch, reset or resume a run (docs/workflows.md#branch-reset-and-resume).
 * Checked by the client before it sends and by the router that takes it.
 */
import { InvalidInputError } from '../errors.js';
import type { RunOrigin } from '../history/events.js';
import { validateToken } from '../names.js';

/** What a start body's `from` asks for: a run rebuilt from another's history up to a commit. */
export interface BranchRequest {
  kind: RunOrigin['kind'];
  /** The source's workflowId. */
  workflowId: string;
  /** The source run; required for reset and resume; a branch takes the workflowId's current (or latest) run when absent. */
  runId?: string;
  /** The source's last commit the new run repeats (branch and reset); a resume finds its own. */
  atSeq?: number;
  /** A branch of a still-open source (it goes on too). @default false */
  allowOpen?: boolean;
}

const KINDS: ReadonlySet<string> = new Set(['branch', 'reset', 'resume']);

function invalid(message: string): never {
  throw new InvalidInputError(message, { details: { reason: 'invalid-input' } });
}

/** Parses a start body's `from`; InvalidInputError naming the field. */
export function parseBranchRequest(raw: unknown): BranchRequest {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) invalid('start.from must be an object');
  const b = raw as Record<string, unknown>;
  if (typeof b.kind !== 'string' || !KINDS.has(b.kind)) {
    invalid(`start.from.kind must be branch, reset or resume, got ${JSON.stringify(b.kind)}`);
  }
  let workflowId: string;
  try {
    workflowId = validateToken('workflowId', b.workflowId);
  } catch (err) {
    return invalid(`start.from.workflowId: ${(err as Error).message}`);
  }
  const out: BranchRequest = { kind: b.kind as BranchRequest['kind'], workflowId };
  if (b.runId !== undefined) {
    if (typeof b.runId !== 'string' || b.runId.length === 0) invalid('start.from.runId must be a non-empty string');
    out.runId = b.runId;
  } else if (out.kind !== 'branch') {
    // The new run takes the workflowId over: a redelivery could no longer tell the source by it.
    invalid(`start.from.runId is required for ${out.kind}: the run to ${out.kind}`);
  }
  if (b.atSeq !== undefined) {
    if (out.kind === 'resume') invalid('start.from.atSeq is not for resume: it re-enters before the failure');
    if (typeof b.atSeq !== 'number' || !Number.isSafeInteger(b.atSeq) || b.atSeq < 1) {
      invalid(`start.from.atSeq must be a positive integer, got ${JSON.stringify(b.atSeq)}`);
    }
    out.atSeq = b.atSeq;
  } else if (out.kind !== 'resume') {
    invalid(`start.from.atSeq is required for ${out.kind}`);
  }
  if (b.allowOpen !== undefined) {
    if (typeof b.allowOpen !== 'boolean') invalid('start.from.allowOpen must be a boolean');
    if (b.allowOpen) out.allowOpen = true;
  }
  return out;
}
