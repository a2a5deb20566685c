/**
 * Validates a documented NATS body with the parser the receiving service runs on it: the
 * router's for inbox and event subjects, the bus validators for tasks, timers and notices.
 * Subjects no parser reads (queries, API requests, outcomes) are checked for a JSON object only.
 */

import { parseInbound } from '../../../services/router/inputs.js';
import {
  validateActivityCancel,
  validateTask,
  validateTimerCancel,
  validateTimerSchedule,
} from '../../../shared/bus/index.js';
import { parsePublishedEvent } from '../../../shared/events/wait.js';
import { eventPartition, subjects } from '../../../shared/names.js';

/** How a body was checked: by a named parser, or only as a JSON object. */
export type BodyCheck = { parser: string } | { parsedOnly: string };

const S = subjects('squall');

/** Throws when `body` is not what the service reading `subject` accepts. */
export function checkSubjectBody(subject: string, body: unknown): BodyCheck {
  const parsed = S.parse(subject);
  if (!parsed) throw new Error(`${subject}: not a Squall subject`);
  switch (parsed.kind) {
    case 'start':
    case 'signal':
    case 'cancel':
    case 'terminate':
    case 'callback':
    case 'child':
    case 'result':
    case 'fired':
      checkPartition(subject, parsed.kind, parsed.tokens[0]);
      parseInbound(S, subject, body);
      return { parser: `router parseInbound (${parsed.kind})` };
    case 'task':
      checkTokenMatches(subject, validateTask(body).activity, parsed.tokens[0]);
      return { parser: 'bus validateTask' };
    case 'timer':
      if (parsed.tokens[0] === 'schedule') validateTimerSchedule(body);
      else if (parsed.tokens[0] === 'cancel') validateTimerCancel(body);
      else throw new Error(`${subject}: timer subjects are timer.schedule.<runId> and timer.cancel.<runId>`);
      return { parser: `bus validateTimer${parsed.tokens[0] === 'schedule' ? 'Schedule' : 'Cancel'}` };
    case 'activity':
      validateActivityCancel(body);
      return { parser: 'bus validateActivityCancel' };
    case 'userevent':
      S.userEvent(parsed.tokens[0] ?? '');
      parsePublishedEvent(body);
      return { parser: 'events parsePublishedEvent' };
    default:
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new Error(`${subject}: the body must be a JSON object`);
      }
      return { parsedOnly: parsed.kind };
  }
}

function checkTokenMatches(subject: string, value: string, token: string | undefined): void {
  if (value !== token) throw new Error(`${subject}: body names ${JSON.stringify(value)}, subject ${token}`);
}

/** An events subject carries the partition of its runId: `squall.event.<p>.<kind>.<runId>`. */
function checkPartition(subject: string, kind: string, runId: string | undefined): void {
  if (!['child', 'result', 'fired'].includes(kind) || runId === undefined) return;
  const p = subject.split('.')[2];
  if (p !== String(eventPartition(runId))) {
    throw new Error(`${subject}: the partition of ${runId} is ${eventPartition(runId)}, not ${p}`);
  }
}
