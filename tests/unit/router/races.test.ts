/**
 * Routers racing on one run, over the in-memory store: inputs spread at random over three
 * deciders whose caches go stale, some delivered twice. Whatever the interleaving, every input
 * lands once, seqs have no gap, and replaying the history gives the state the deciders reached.
 */
import { describe, expect, it } from 'vitest';
import { replayCommits } from '../../../shared/engine/index.js';
import { deciderBench, historyOf, steps } from './over-memory.js';

/** A small seeded generator (mulberry32), so a failing interleaving can be run again. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('deciders racing on one run', () => {
  let racesLost = 0;
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`apply every signal once, in some order (seed ${seed})`, async () => {
      const random = seeded(seed);
      const bench = deciderBench();
      const routers = [bench.decider, bench.another(), bench.another()];
      const pick = () => routers[Math.floor(random() * routers.length)] ?? bench.decider;
      const workflowId = `race-${seed}`;
      await pick().process(
        { kind: 'start', workflowType: 'steps', workflowId, idReusePolicy: 'returnExisting' },
        { startKey: 'in/0' },
      );
      const sent = 12;
      const deliveries: Promise<unknown>[] = [];
      for (let i = 1; i <= sent; i++) {
        const signal = { kind: 'run', workflowId, decision: { kind: 'signal', event: { type: 'add' } } } as const;
        const meta = { startKey: `in/${i}`, msgId: `add-${i}` };
        // Deliveries overlap: another router may decide the next input before this one is stored.
        deliveries.push(pick().process(signal, meta));
        if (random() < 0.3) deliveries.push(pick().process(signal, meta)); // redelivered elsewhere
        if (random() < 0.5) await Promise.all(deliveries.splice(0));
      }
      await Promise.all(deliveries);
      for (const r of routers) await r.drain();
      racesLost += routers.reduce((n, r) => n + r.appendRaces, 0);

      const run = await bench.store.getRunByWorkflowId(workflowId);
      const history = await historyOf(bench.store, run?.runId ?? '');
      expect(history.map((c) => c.seq)).toEqual(history.map((_, i) => i + 1));
      const adds = history.flatMap((c) => c.events).filter((e) => e.type === 'SignalReceived');
      expect(adds).toHaveLength(sent);
      const live = await routers[0]?.load(run?.runId ?? '', { fresh: true });
      const replayed = replayCommits(steps, history);
      expect(replayed.snapshot).toEqual(live?.state.snapshot);
      expect((replayed.snapshot as { context: { adds: number } }).context.adds).toBe(sent);
    });
  }

  it('did race: some appends were lost to another decider and decided again', () => {
    expect(racesLost).toBeGreaterThan(0);
  });
});
