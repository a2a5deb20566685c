/**
 * Binary encoding of history for storage, and JSON lines for people. A stored payload is one
 * format-version byte followed by standard MessagePack (no msgpackr records or shared structures),
 * so every document decodes on its own, with any MessagePack library.
 */
import { Packr } from 'msgpackr';
import { CorruptHistoryError } from '../errors.js';
import { type Commit, HISTORY_EVENT_TYPES, type HistoryEvent, type HistoryEventType } from './events.js';

/** The format version written in front of every encoded payload. Bump on incompatible change. */
export const HISTORY_FORMAT_VERSION = 1;

/** Where a payload came from, for error messages. */
export interface PayloadOrigin {
  runId: string;
  /** Commit seq; absent for payloads that are not part of a commit (run state). */
  seq?: number;
  /** What the payload holds: 'events', 'commands', 'state'. */
  what: string;
}

// One Packr for the process: it keeps its output buffer between calls (fast); plain maps, no records.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** Encodes any msgpack-safe value with the format-version prefix. */
export function encodePayload(value: unknown): Uint8Array {
  const body = packr.pack(value);
  const out = new Uint8Array(body.length + 1);
  out[0] = HISTORY_FORMAT_VERSION;
  out.set(body, 1);
  return out;
}

/** Decodes a payload written by encodePayload; CorruptHistoryError on a bad version or body. */
export function decodePayload(bytes: Uint8Array, origin: PayloadOrigin): unknown {
  if (bytes.length === 0) throw corrupt(origin, 'the payload is empty');
  const version = bytes[0];
  if (version !== HISTORY_FORMAT_VERSION) {
    throw corrupt(
      origin,
      `it was written in format version ${version}, and this build reads version ${HISTORY_FORMAT_VERSION}` +
        ((version ?? 0) > HISTORY_FORMAT_VERSION ? ' (written by a newer Squall? upgrade this service)' : ''),
    );
  }
  try {
    return packr.unpack(bytes.subarray(1));
  } catch (err) {
    throw corrupt(origin, `its MessagePack body does not decode (${(err as Error).message})`, err);
  }
}

/** Encodes a commit's events. */
export function encodeEvents(events: readonly HistoryEvent[]): Uint8Array {
  return encodePayload(events);
}

/** Decodes a commit's events, refusing a future format version and any unknown event type. */
export function decodeEvents(bytes: Uint8Array, origin: { runId: string; seq: number }): HistoryEvent[] {
  const where: PayloadOrigin = { ...origin, what: 'events' };
  const value = decodePayload(bytes, where);
  return checkEvents(value, where);
}

/** Checks that a decoded value is a list of known history events. */
export function checkEvents(value: unknown, origin: PayloadOrigin): HistoryEvent[] {
  if (!Array.isArray(value)) throw corrupt(origin, `events are a ${typeof value}, not a list`);
  value.forEach((event: unknown, index) => {
    if (typeof event !== 'object' || event === null) throw corrupt(origin, `event ${index} is not an object`);
    const type = (event as { type?: unknown }).type;
    if (typeof type !== 'string' || !HISTORY_EVENT_TYPES.has(type as HistoryEventType)) {
      throw corrupt(
        origin,
        `event ${index} has unknown type ${JSON.stringify(type)} (written by a newer Squall? upgrade this service)`,
      );
    }
  });
  return value as HistoryEvent[];
}

function corrupt(origin: PayloadOrigin, why: string, cause?: unknown): CorruptHistoryError {
  const at = origin.seq === undefined ? `run ${origin.runId}` : `run ${origin.runId} commit seq ${origin.seq}`;
  return new CorruptHistoryError(`cannot read ${origin.what} of ${at}: ${why}`, {
    cause,
    details: { runId: origin.runId, seq: origin.seq, what: origin.what },
  });
}

// ---- JSON lines, for people and fixtures ----

/** A commit as printed: the commit plus, when known, when it was stored. */
export type PrintableCommit = Commit & { at?: number };

/** One JSON object per commit per line: `{"runId","workflowId","seq","at","events":[...]}`. */
export function historyToJsonLines(commits: Iterable<PrintableCommit>): string {
  let out = '';
  for (const c of commits) {
    const line: Record<string, unknown> = { runId: c.runId, workflowId: c.workflowId, seq: c.seq };
    if (c.at !== undefined) line.at = c.at;
    line.events = c.events;
    out += `${JSON.stringify(line, jsonReplacer)}\n`;
  }
  return out;
}

/** Parses historyToJsonLines output back into commits; CorruptHistoryError names the bad line. */
export function historyFromJsonLines(text: string): PrintableCommit[] {
  const commits: PrintableCommit[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new CorruptHistoryError(`history line ${index + 1} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    const c = value as Partial<PrintableCommit>;
    if (typeof c.runId !== 'string' || typeof c.workflowId !== 'string' || typeof c.seq !== 'number') {
      throw new CorruptHistoryError(`history line ${index + 1} lacks runId, workflowId or seq`);
    }
    const events = checkEvents(c.events, { runId: c.runId, seq: c.seq, what: 'events' });
    const commit: PrintableCommit = { runId: c.runId, workflowId: c.workflowId, seq: c.seq, events };
    if (typeof c.at === 'number') commit.at = c.at;
    commits.push(commit);
  });
  return commits;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return { $base64: Buffer.from(value).toString('base64') };
  return value;
}
