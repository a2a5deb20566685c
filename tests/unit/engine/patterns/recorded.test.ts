/** Recorded map and wait-for-condition histories replay under the current definitions. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { replayHistory } from '../../../../shared/testing/index.js';
import { awaitJob, squareAll } from '../../../fixtures/patterns/workflows.js';
import type { HistoryFixture } from '../../../fixtures/save.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/patterns');
const load = (file: string): HistoryFixture => JSON.parse(readFileSync(join(dir, file), 'utf8')) as HistoryFixture;

describe('recorded pattern histories', () => {
  it.each([
    ['map-12.json', squareAll, { status: 'failed', failed: [9] }],
    ['wait-ready.json', awaitJob, { status: 'satisfied', checks: 3 }],
    ['wait-timeout.json', awaitJob, { status: 'timedOut' }],
  ] as const)('%s', (file, def, output) => {
    const fixture = load(file);
    const state = replayHistory(def, fixture);
    expect(state.lastSeq).toBe(fixture.commits.length);
    expect(state.status).toBe('completed');
    expect(state.output).toMatchObject(output);
  });
});
