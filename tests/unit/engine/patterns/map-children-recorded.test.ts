/** Recorded maps over child workflows replay under the current definitions and id derivation. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NondeterminismError } from '../../../../shared/errors.js';
import { replayHistory } from '../../../../shared/testing/index.js';
import { packAll, packFailFast } from '../../../fixtures/map-children/workflows.js';
import type { HistoryFixture } from '../../../fixtures/save.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/map-children');
const load = (file: string): HistoryFixture => JSON.parse(readFileSync(join(dir, file), 'utf8')) as HistoryFixture;

describe('recorded maps over child workflows', () => {
  it.each([
    ['pack-all.json', packAll, { status: 'failed', completionReason: 'ALL_COMPLETED', failed: [4] }],
    [
      'pack-failfast.json',
      packFailFast,
      { status: 'failed', completionReason: 'FAILURE_TOLERANCE_EXCEEDED', counts: { cancelled: 2, notStarted: 3 } },
    ],
  ] as const)('%s', (file, def, output) => {
    const fixture = load(file);
    const state = replayHistory(def, fixture);
    expect(state.lastSeq).toBe(fixture.commits.length);
    expect(state.status).toBe('completed');
    expect(state.output).toMatchObject(output);
  });

  it('a recorded child workflowId the derivation no longer yields fails replay', () => {
    const fixture = load('pack-all.json');
    const first = fixture.commits[0]!.events.find((e) => e.type === 'ChildStarted');
    expect(first).toMatchObject({ childWorkflowId: 'pack-all-packed-0-1' });
    if (first?.type === 'ChildStarted') first.childWorkflowId = 'pack-all-0-1';
    expect(() => replayHistory(packAll, fixture)).toThrow(NondeterminismError);
  });
});
