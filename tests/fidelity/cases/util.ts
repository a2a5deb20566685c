/** Small builders shared by the case families. */

/** Context of machines that keep a trail of what ran, in order. */
export interface Trail {
  log: string[];
}

/**
 * The parameterized action `note` appending `entry` to the trail; machines declare it in setup as
 * `actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) }`.
 */
export function note(entry: string) {
  return { type: 'note', params: entry } as const;
}
