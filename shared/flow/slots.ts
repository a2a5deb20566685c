/**
 * Pure core of concurrency keys: the slot document of one key, holding the tasks running now
 * (each with a lease) and the tasks waiting (FIFO by their schedule time). Each executor merges
 * its own holders and waiters into the document and takes the free slots its waiters are first
 * in line for; a dead executor's entries expire with their leases, so nothing leaks.
 */

/** A waiting task: `order` is its schedule time (FIFO), `exp` when the entry lapses unless refreshed. */
export interface SlotWaiter {
  id: string;
  order: number;
  exp: number;
}

/** The slot document of one key. */
export interface SlotDoc {
  /** Running task id → lease expiry. */
  holders: Record<string, number>;
  waiters: SlotWaiter[];
}

/** One executor's side of an arbitration. */
export interface SlotClaims {
  /** Its waiting tasks (added, or refreshed). */
  waiting: ReadonlyArray<{ id: string; order: number }>;
  /** Its running tasks (leases renewed). */
  running: readonly string[];
  /** Its finished tasks (slots freed). */
  released: readonly string[];
}

/** Lease lengths: a holder's (renewed while it runs) and a waiter's (refreshed while it waits). */
export interface SlotLeases {
  holdMs: number;
  waitMs: number;
}

/**
 * The document after merging `claims`, the waiters of this executor granted a slot, and whether
 * it must be written: something was granted or released, an entry is new or past half its lease,
 * or one lapsed. (Writing only then keeps the executors that hear each write from echoing it.)
 */
export function arbitrateSlots(
  doc: SlotDoc | undefined,
  claims: SlotClaims,
  limit: number,
  now: number,
  leases: SlotLeases,
): { doc: SlotDoc; granted: string[]; changed: boolean } {
  const stale = staleClaims(doc, claims, now, leases);
  const holders: Record<string, number> = {};
  for (const [id, exp] of Object.entries(doc?.holders ?? {})) if (exp > now) holders[id] = exp;
  for (const id of claims.released) delete holders[id];
  for (const id of claims.running) holders[id] = now + leases.holdMs;
  const mine = new Map(claims.waiting.map((w) => [w.id, w.order]));
  const waiters: SlotWaiter[] = [];
  for (const w of doc?.waiters ?? []) {
    if (mine.has(w.id) || holders[w.id] !== undefined || w.exp <= now) continue;
    waiters.push(w);
  }
  for (const [id, order] of mine) if (holders[id] === undefined) waiters.push({ id, order, exp: now + leases.waitMs });
  waiters.sort((a, b) => a.order - b.order || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const free = Math.max(0, limit - Object.keys(holders).length);
  const granted: string[] = [];
  // Strict FIFO: only the first `free` in line may go; another executor's waiter there keeps its place.
  for (const w of waiters.slice(0, free)) {
    if (!mine.has(w.id)) continue;
    granted.push(w.id);
    holders[w.id] = now + leases.holdMs;
  }
  const left = waiters.filter((w) => !granted.includes(w.id));
  return { doc: { holders, waiters: left }, granted, changed: stale || granted.length > 0 };
}

function staleClaims(doc: SlotDoc | undefined, claims: SlotClaims, now: number, leases: SlotLeases): boolean {
  if (!doc) return true;
  if (claims.released.some((id) => doc.holders[id] !== undefined)) return true;
  if (claims.running.some((id) => (doc.holders[id] ?? 0) < now + leases.holdMs / 2)) return true;
  const exp = new Map(doc.waiters.map((w) => [w.id, w.exp]));
  if (claims.waiting.some((w) => (exp.get(w.id) ?? 0) < now + leases.waitMs / 2)) return true;
  return Object.values(doc.holders).some((e) => e <= now) || doc.waiters.some((w) => w.exp <= now);
}

/** True when the document holds nothing live (it may then be cleared). */
export function slotsIdle(doc: SlotDoc): boolean {
  return Object.keys(doc.holders).length === 0 && doc.waiters.length === 0;
}

/** The rate document of one key: the theoretical arrival time of the next start (GCRA). */
export interface RateDoc {
  tat: number;
}

/**
 * Reserves `count` start times, smoothed to one per `intervalMs` (GCRA with no burst): each
 * reservation starts at the later of now and the previous reservation's end.
 */
export function reserveStarts(
  doc: RateDoc | undefined,
  count: number,
  intervalMs: number,
  now: number,
): { doc: RateDoc; startAt: number[] } {
  let tat = Math.max(doc?.tat ?? now, now);
  const startAt: number[] = [];
  for (let i = 0; i < count; i++) {
    startAt.push(tat);
    tat += intervalMs;
  }
  return { doc: { tat }, startAt };
}
