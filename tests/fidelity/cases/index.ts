/** Every family of fidelity cases, by family name. */
import type { FidelityCase } from '../case.js';
import { actions } from './actions.js';
import { children } from './children.js';
import { docsExamples } from './docs-examples.js';
import { guards } from './guards.js';
import { invokes } from './invokes.js';
import { machineChildren } from './machine-children.js';
import { probes } from './probes.js';
import { states } from './states.js';
import { timers } from './timers.js';
import { transitions } from './transitions.js';

export const FAMILIES: Record<string, FidelityCase[]> = {
  states,
  transitions,
  actions,
  guards,
  timers,
  invokes,
  children,
  'machine children': machineChildren,
  'xstate docs': docsExamples,
  probes,
};

export const ALL_CASES: FidelityCase[] = Object.values(FAMILIES).flat();
