/**
 * The router's workflows module for the fidelity suite: every case's machine as workflow type
 * `fid-<case name>`, and the child and peer workflows cases use, under their own names.
 */
import type { AnyStateMachine } from 'xstate';
import { defineWorkflow } from '../../shared/engine/index.js';
import { caseWorkflowId } from './case.js';
import { ALL_CASES } from './cases/index.js';

const extra = new Map<string, AnyStateMachine>();
for (const c of ALL_CASES) for (const w of [...(c.workflows ?? []), ...(c.peers ?? [])]) extra.set(w.name, w.machine);

export const definitions = [
  ...ALL_CASES.map((c) => defineWorkflow({ name: caseWorkflowId(c), machine: c.machine })),
  ...[...extra].map(([name, machine]) => defineWorkflow({ name, machine })),
];
