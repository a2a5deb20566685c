/**
 * Priorities of runs and activity tasks: a fixed set of levels, their checks, and the weighted
 * rotation executors pull the levels by (higher first, the lowest never starved). Pure.
 */
import { InvalidInputError } from '../errors.js';

/** Lowest priority level. */
export const MIN_PRIORITY = 1;
/** Highest priority level. */
export const MAX_PRIORITY = 5;
/** The level of a run or task that sets none: its tasks take the unprioritised path. */
export const DEFAULT_PRIORITY = 3;

/** Every level, highest first. */
export const PRIORITY_LEVELS: readonly number[] = [5, 4, 3, 2, 1];

/** Every level but the default, highest first: each has subjects and durables of its own. */
export const OTHER_LEVELS: readonly number[] = PRIORITY_LEVELS.filter((l) => l !== DEFAULT_PRIORITY);

/** Checks a priority: an integer from MIN_PRIORITY to MAX_PRIORITY; InvalidInputError naming `where`. */
export function checkPriority(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_PRIORITY || v > MAX_PRIORITY) {
    const got = typeof v === 'number' || typeof v === 'string' ? JSON.stringify(v) : v === null ? 'null' : typeof v;
    throw new InvalidInputError(
      `${where}: must be an integer from ${MIN_PRIORITY} (lowest) to ${MAX_PRIORITY} (highest), got ${got}`,
      { details: { field: where, ...(typeof v === 'number' || typeof v === 'string' ? { value: v } : {}) } },
    );
  }
  return v;
}

/** The share of pulls a level gets against the others with work: doubling per level (1, 2, 4, 8, 16). */
export function priorityWeight(level: number): number {
  return 2 ** (level - MIN_PRIORITY);
}

/**
 * Smooth weighted round-robin over the levels that have work (nginx's SWRR): each pick, every
 * candidate gains its weight in credit, the richest is picked and pays the candidates' total.
 * Over any run of picks with the same candidates each level gets its weight's share, spread
 * evenly: with work at 5 and 1, level 1 gets one pull in 17, never fewer.
 */
export class PriorityRotation {
  readonly #credit = new Map<number, number>();

  /** The level to pull next among `candidates` (levels with work); undefined when there is none. */
  next(candidates: readonly number[]): number | undefined {
    if (candidates.length === 0) return undefined;
    let total = 0;
    let best: number | undefined;
    let bestCredit = Number.NEGATIVE_INFINITY;
    for (const level of candidates) {
      const w = priorityWeight(level);
      total += w;
      const c = (this.#credit.get(level) ?? 0) + w;
      this.#credit.set(level, c);
      // Ties go to the higher level.
      if (c > bestCredit || (c === bestCredit && best !== undefined && level > best)) {
        best = level;
        bestCredit = c;
      }
    }
    const picked = best as number;
    this.#credit.set(picked, bestCredit - total);
    // A level without work drops its credit: it starts even when work comes back.
    for (const level of [...this.#credit.keys()]) if (!candidates.includes(level)) this.#credit.delete(level);
    return picked;
  }
}
