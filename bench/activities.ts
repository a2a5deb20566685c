/**
 * No-op activities of the `noop3` bench workflow: they return at once, so a benchmark measures the
 * engine, not the work. Loadable by `squall executor --activities bench/activities.ts`.
 */
import { defineActivity } from '../shared/engine/activity.js';

const noop = (input: { n: number }): { ok: boolean } => ({ ok: input.n >= 0 });

/** First step of noop3. */
export const stepA = defineActivity('stepA', noop);
/** Second step of noop3. */
export const stepB = defineActivity('stepB', noop);
/** Third step of noop3. */
export const stepC = defineActivity('stepC', noop);
/** First step of inline3 (run by the router). */
export const inlineStepA = defineActivity('inlineStepA', noop);
/** Second step of inline3 (run by the router). */
export const inlineStepB = defineActivity('inlineStepB', noop);
/** Third step of inline3 (run by the router). */
export const inlineStepC = defineActivity('inlineStepC', noop);
