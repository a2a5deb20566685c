/**
 * Pure decisions of the router's start gate: debounce and singleton. The router reads the
 * key's document, asks these what to do, and writes what they return (compare-and-set).
 */

/** The debounce document of one key: the latest start seen (by inbox sequence) and its time. */
export interface DebounceDoc {
  seq: number;
  at: number;
  workflowId: string;
}

/** What a debounced start does now. */
export type DebounceStep =
  | { kind: 'record'; doc: DebounceDoc; holdMs: number }
  | { kind: 'hold'; holdMs: number }
  | { kind: 'run' }
  | { kind: 'superseded'; by: string };

/**
 * Trailing-edge debounce: a start is the key's latest when no start with a higher inbox sequence
 * was seen; the latest runs once `windowMs` passed since its own arrival (`at`, the stream's
 * time). An earlier start is superseded, whichever router sees it and in whatever order.
 */
export function debounceStep(
  doc: DebounceDoc | undefined,
  start: { seq: number; at: number; workflowId: string },
  windowMs: number,
  now: number,
): DebounceStep {
  if (doc && doc.seq > start.seq) return { kind: 'superseded', by: doc.workflowId };
  const due = start.at + windowMs;
  if (!doc || doc.seq < start.seq) {
    return {
      kind: 'record',
      doc: { seq: start.seq, at: start.at, workflowId: start.workflowId },
      holdMs: Math.max(1, due - now),
    };
  }
  return now >= due ? { kind: 'run' } : { kind: 'hold', holdMs: due - now };
}

/** A start holding one of a key's run slots: its run counts until it closes. */
export interface RunHolder {
  workflowId: string;
  /** The start's key (inbox epoch/sequence): a redelivery of the holder's start finds itself. */
  startKey: string;
  at: number;
}

/** A queued start, in line by inbox sequence; lapses unless its redeliveries refresh it. */
export interface RunWaiter {
  startKey: string;
  seq: number;
  exp: number;
}

/** The run slots of one key (singleton: limit 1; a workflow type's `concurrency`: its limit). */
export interface RunSlotsDoc {
  holders: RunHolder[];
  waiters: RunWaiter[];
}

/** Whether a holder's run is open, closed, or not (yet) there at all. */
export type HolderState = 'open' | 'closed' | 'absent';

/**
 * How long a holder whose run does not exist still counts as open: its start may be between the
 * claim and the run's commit (a start refused after its claim frees the slot after this).
 */
export const RUN_START_GRACE_MS = 60_000;
/** How long a queued start keeps its place without being redelivered (its delay is at most 5 s). */
export const RUN_WAITER_LEASE_MS = 30_000;

/** A start asking for a run slot. */
export interface RunSlotClaim {
  workflowId: string;
  startKey: string;
  seq: number;
  /** Wait in line when full (`queue`), or give up (`skip`). */
  queue: boolean;
}

/** What a start does: run, look at the holders' runs first (`check`), wait in line, or give up (`full`). */
export type RunSlotStep =
  | { kind: 'run' | 'wait'; doc: RunSlotsDoc; changed: boolean }
  | { kind: 'check'; holders: RunHolder[] }
  | { kind: 'full'; holders: RunHolder[] };

/**
 * One look at a key's run slots. `states` holds what is known of the holders' runs (by start
 * key); while the slots are full and some holder's state is unknown, the answer is `check`.
 * Queued starts go in inbox-sequence order: FIFO per key.
 */
export function runSlotStep(
  doc: RunSlotsDoc | undefined,
  me: RunSlotClaim,
  limit: number,
  now: number,
  states: ReadonlyMap<string, HolderState>,
): RunSlotStep {
  const before = doc ?? { holders: [], waiters: [] };
  const released = (h: RunHolder): boolean => {
    const st = states.get(h.startKey);
    return st === 'closed' || (st === 'absent' && now - h.at >= RUN_START_GRACE_MS);
  };
  const holders = before.holders.filter((h) => !released(h));
  let changed = holders.length !== before.holders.length || doc === undefined;
  if (holders.some((h) => h.startKey === me.startKey))
    return { kind: 'run', doc: { holders, waiters: before.waiters }, changed };
  const waiters = before.waiters.filter((w) => w.exp > now && w.startKey !== me.startKey);
  if (waiters.length !== before.waiters.length) changed = true;
  const free = limit - holders.length;
  const ahead = me.queue ? waiters.filter((w) => w.seq < me.seq).length : waiters.length;
  if (free > ahead) {
    holders.push({ workflowId: me.workflowId, startKey: me.startKey, at: now });
    return { kind: 'run', doc: { holders, waiters }, changed: true };
  }
  const unknown = holders.filter((h) => !states.has(h.startKey));
  if (unknown.length > 0) return { kind: 'check', holders: unknown };
  if (!me.queue) return { kind: 'full', holders };
  waiters.push({ startKey: me.startKey, seq: me.seq, exp: now + RUN_WAITER_LEASE_MS });
  waiters.sort((a, b) => a.seq - b.seq);
  return { kind: 'wait', doc: { holders, waiters }, changed: true };
}

/** Wait before a queued start looks again, by delivery count: 250 ms doubling to 5 s. */
export function queuedStartDelay(deliveryCount: number): number {
  return Math.min(5_000, 250 * 2 ** Math.min(5, Math.max(0, deliveryCount - 1)));
}
