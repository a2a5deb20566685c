/**
 * Recorded lifecycle histories (tests/fixtures/callbacks/*.json: signal-with-start, search
 * attributes, callbacks) replay under the current definitions to the state they ended in.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { activity, defineWorkflow, type WorkflowDefinition } from '../../../shared/engine/index.js';
import { NondeterminismError } from '../../../shared/errors.js';
import { replayHistory } from '../../../shared/testing/index.js';
import { approval, cart } from '../../fixtures/callbacks/workflows.js';
import type { HistoryFixture } from '../../fixtures/save.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/callbacks');
const load = (file: string): HistoryFixture => JSON.parse(readFileSync(join(dir, file), 'utf8')) as HistoryFixture;
const defs: Record<string, WorkflowDefinition> = { cart, approval };

describe('recorded lifecycle histories replay under the current definitions', () => {
  const expected: [string, Record<string, unknown>][] = [
    [
      'cart-signal-with-start.json',
      {
        status: 'completed',
        output: { customer: 'c1', items: ['tea', 'milk'] },
        memo: { source: 'web' },
        searchAttributes: { customer: 'c1', stage: 'checkedOut', items: 2 },
      },
    ],
    ['approval-completed.json', { status: 'completed', output: { result: { by: 'ann' } }, callbacks: {} }],
    ['approval-timed-out.json', { status: 'completed', output: { error: { code: 'TIMEOUT' } } }],
    ['approval-duplicate.json', { status: 'completed', output: { result: 'first' } }],
  ];
  it.each(expected)('%s', (file, want) => {
    const fixture = load(file);
    const def = defs[fixture.workflowType];
    expect(def).toBeDefined();
    const state = replayHistory(def as WorkflowDefinition, fixture);
    expect(state.lastSeq).toBe(fixture.commits.length);
    expect(state).toMatchObject(want);
  });
});

describe('a changed definition against a callback history', () => {
  it('raises NondeterminismError when the callback became an activity', () => {
    const changed = defineWorkflow({
      name: 'approval',
      machine: setup({ actors: { approval: activity() } }).createMachine({
        id: 'approval',
        initial: 'waiting',
        states: { waiting: { invoke: { id: 'approval', src: 'approval', onDone: 'done' } }, done: { type: 'final' } },
      }),
    });
    expect(() => replayHistory(changed, load('approval-completed.json'))).toThrow(NondeterminismError);
    expect(() => replayHistory(changed, load('approval-completed.json'))).toThrow(/CallbackCreated/);
  });
});
