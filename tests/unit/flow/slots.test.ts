import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arbitrateSlots, reserveStarts, type SlotDoc } from '../../../shared/flow/slots.js';

const leases = { holdMs: 1000, waitMs: 300 };
const none = { waiting: [], running: [], released: [] };

describe('arbitrateSlots', () => {
  it('grants up to the limit in schedule order; the rest wait', () => {
    const waiting = [
      { id: 'c', order: 3 },
      { id: 'a', order: 1 },
      { id: 'b', order: 2 },
    ];
    const r = arbitrateSlots(undefined, { ...none, waiting }, 2, 0, leases);
    expect(r.granted).toEqual(['a', 'b']);
    expect(r.doc.holders).toEqual({ a: 1000, b: 1000 });
    expect(r.doc.waiters).toEqual([{ id: 'c', order: 3, exp: 300 }]);
    expect(r.changed).toBe(true);
  });

  it('never jumps another executor’s waiter that is first in line', () => {
    const doc: SlotDoc = { holders: {}, waiters: [{ id: 'theirs', order: 1, exp: 500 }] };
    const r = arbitrateSlots(doc, { ...none, waiting: [{ id: 'mine', order: 2 }] }, 1, 0, leases);
    expect(r.granted).toEqual([]);
    // Once their place lapses (their executor died), the slot is ours.
    expect(arbitrateSlots(doc, { ...none, waiting: [{ id: 'mine', order: 2 }] }, 1, 600, leases).granted).toEqual([
      'mine',
    ]);
  });

  it('admits a later task beside an earlier one of another executor when both fit; the earlier keeps its slot', () => {
    const doc: SlotDoc = { holders: {}, waiters: [{ id: 'theirs', order: 1, exp: 500 }] };
    const r = arbitrateSlots(doc, { ...none, waiting: [{ id: 'mine', order: 2 }] }, 2, 0, leases);
    expect(r.granted).toEqual(['mine']);
    // The last slot is the earlier task's: a third one waits behind it.
    expect(arbitrateSlots(r.doc, { ...none, waiting: [{ id: 'third', order: 3 }] }, 2, 0, leases).granted).toEqual([]);
  });

  it('frees released slots and expired leases (a dead holder leaks nothing)', () => {
    const doc: SlotDoc = { holders: { x: 2000, dead: 50 }, waiters: [] };
    const r = arbitrateSlots(doc, { waiting: [{ id: 'w', order: 1 }], running: [], released: ['x'] }, 1, 100, leases);
    expect(r.granted).toEqual(['w']);
    expect(Object.keys(r.doc.holders)).toEqual(['w']);
  });

  it('writes nothing when nothing changed (no echo between executors)', () => {
    const doc: SlotDoc = { holders: { run: 900 }, waiters: [{ id: 'w', order: 1, exp: 290 }] };
    const r = arbitrateSlots(doc, { waiting: [{ id: 'w', order: 1 }], running: ['run'], released: [] }, 1, 10, leases);
    expect(r).toMatchObject({ granted: [], changed: false });
    // Past half a lease, the leases are renewed.
    expect(
      arbitrateSlots(doc, { waiting: [{ id: 'w', order: 1 }], running: ['run'], released: [] }, 1, 200, leases).changed,
    ).toBe(true);
  });

  // FIFO admission: what is granted plus every earlier task still waiting fits the limit, so no
  // task takes a slot an earlier one needs. An earlier task of another executor may be granted
  // after a later one (its executor grants it when it next arbitrates); its slot stays free.
  it('property: executors interleaving at random never hold more than the limit, and never pass a task that has no room', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom('arrive', 'tick', 'finish')), {
          maxLength: 80,
        }),
        (limit, steps) => {
          let doc: SlotDoc | undefined;
          let next = 0;
          const waiting = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
          const running = [new Set<string>(), new Set<string>(), new Set<string>()];
          for (const [ex, what] of steps) {
            const w = waiting[ex] as Map<string, number>;
            const r = running[ex] as Set<string>;
            const released: string[] = [];
            if (what === 'arrive') {
              w.set(`t${next}`, next);
              next++;
            } else if (what === 'finish' && r.size > 0) {
              const id = r.values().next().value as string;
              r.delete(id);
              released.push(id);
            }
            const out = arbitrateSlots(
              doc,
              { waiting: [...w].map(([id, order]) => ({ id, order })), running: [...r], released },
              limit,
              0,
              {
                holdMs: 1e9,
                waitMs: 1e9,
              },
            );
            doc = out.doc;
            const grantedOrders = out.granted.map((id) => w.get(id) as number);
            for (const id of out.granted) {
              w.delete(id);
              r.add(id);
            }
            const held = Object.keys(doc.holders).length;
            if (held > limit) return false;
            if (held !== running.reduce((n, s) => n + s.size, 0)) return false;
            const stillWaiting = waiting.flatMap((m) => [...m.values()]);
            for (const g of grantedOrders) {
              if (held + stillWaiting.filter((o) => o < g).length > limit) return false;
            }
          }
          return true;
        },
      ),
    );
  });
});

describe('reserveStarts', () => {
  it('spaces starts one interval apart from now or from the last reservation', () => {
    expect(reserveStarts(undefined, 3, 50, 1000)).toEqual({ doc: { tat: 1150 }, startAt: [1000, 1050, 1100] });
    expect(reserveStarts({ tat: 1150 }, 1, 50, 1010)).toEqual({ doc: { tat: 1200 }, startAt: [1150] });
    // Idle for a while: no burst is saved up.
    expect(reserveStarts({ tat: 1150 }, 2, 50, 5000).startAt).toEqual([5000, 5050]);
  });
});
