/** Recorded histories of runs that message each other replay under the current definitions. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NondeterminismError } from '../../../shared/errors.js';
import { replayHistory } from '../../../shared/testing/index.js';
import { collector, pinger, ponger } from '../../fixtures/messages/workflows.js';
import type { HistoryFixture } from '../../fixtures/save.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/messages');
const load = (file: string): HistoryFixture => JSON.parse(readFileSync(join(dir, file), 'utf8')) as HistoryFixture;

describe('recorded messages between runs', () => {
  it.each([
    ['pinger.json', pinger, { pongs: [1, 2, 3], child: { pings: [1, 2, 3] } }],
    ['ponger.json', ponger, { pings: [1, 2, 3] }],
    ['collector.json', collector, { items: [1, 2, 3] }],
  ] as const)('%s', (file, def, output) => {
    const fixture = load(file);
    const state = replayHistory(def, fixture);
    expect(state.lastSeq).toBe(fixture.commits.length);
    expect(state.status).toBe('completed');
    expect(state.output).toEqual(output);
  });

  it('the collector fixture holds a message, drops a redelivery, and delivers in order', () => {
    const signals = load('collector.json').commits.flatMap((c) => c.events.filter((e) => e.type === 'SignalReceived'));
    expect(signals.map((e) => [e.from?.msgSeq, e.held ?? e.ignored ?? 'taken'])).toEqual([
      [1, 'taken'],
      [3, true],
      [1, 'stale'],
      [2, 'taken'],
      [3, 'taken'],
      [4, 'taken'],
    ]);
  });

  it('a recorded message the machine no longer sends fails replay', () => {
    const fixture = load('pinger.json');
    const sent = fixture.commits.flatMap((c) => c.events).find((e) => e.type === 'MessageSent');
    if (sent?.type === 'MessageSent') sent.event = { type: 'pong', n: 1 };
    expect(() => replayHistory(pinger, fixture)).toThrow(NondeterminismError);
  });
});
