import { describe, expect, it } from 'vitest';
import {
  debounceStep,
  type HolderState,
  queuedStartDelay,
  RUN_START_GRACE_MS,
  RUN_WAITER_LEASE_MS,
  type RunSlotsDoc,
  runSlotStep,
} from '../../../shared/flow/starts.js';

describe('debounceStep', () => {
  const start = (seq: number, at: number) => ({ seq, at, workflowId: `w${seq}` });

  it('records the first start and holds it for its window', () => {
    expect(debounceStep(undefined, start(5, 1000), 300, 1010)).toEqual({
      kind: 'record',
      doc: { seq: 5, at: 1000, workflowId: 'w5' },
      holdMs: 290,
    });
  });

  it('a later start takes over; the earlier one is then superseded, whatever the order seen', () => {
    const doc = { seq: 5, at: 1000, workflowId: 'w5' };
    expect(debounceStep(doc, start(6, 1100), 300, 1100)).toMatchObject({ kind: 'record', holdMs: 300 });
    const newer = { seq: 6, at: 1100, workflowId: 'w6' };
    expect(debounceStep(newer, start(5, 1000), 300, 1400)).toEqual({ kind: 'superseded', by: 'w6' });
  });

  it('the latest runs once its window passed, and is held until then', () => {
    const doc = { seq: 6, at: 1100, workflowId: 'w6' };
    expect(debounceStep(doc, start(6, 1100), 300, 1250)).toEqual({ kind: 'hold', holdMs: 150 });
    expect(debounceStep(doc, start(6, 1100), 300, 1400)).toEqual({ kind: 'run' });
  });
});

describe('runSlotStep', () => {
  const none = new Map<string, HolderState>();
  const claim = (n: number, queue = true) => ({ workflowId: `w${n}`, startKey: `e/${n}`, seq: n, queue });

  it('takes a free slot; a redelivered holder finds itself', () => {
    const r = runSlotStep(undefined, claim(1), 1, 100, none);
    expect(r).toMatchObject({ kind: 'run', changed: true, doc: { holders: [{ workflowId: 'w1', startKey: 'e/1' }] } });
    const doc = (r as { doc: RunSlotsDoc }).doc;
    expect(runSlotStep(doc, claim(1), 1, 200, none)).toMatchObject({ kind: 'run', changed: false });
  });

  it('when full, asks for the holders’ states; an open holder keeps it (skip: full, queue: wait in line)', () => {
    const doc: RunSlotsDoc = { holders: [{ workflowId: 'w1', startKey: 'e/1', at: 100 }], waiters: [] };
    expect(runSlotStep(doc, claim(2), 1, 200, none)).toEqual({ kind: 'check', holders: doc.holders });
    const open = new Map<string, HolderState>([['e/1', 'open']]);
    expect(runSlotStep(doc, claim(2, false), 1, 200, open)).toMatchObject({ kind: 'full' });
    expect(runSlotStep(doc, claim(2), 1, 200, open)).toMatchObject({
      kind: 'wait',
      doc: { waiters: [{ startKey: 'e/2', seq: 2, exp: 200 + RUN_WAITER_LEASE_MS }] },
    });
  });

  it('a closed holder, or one absent past the grace, frees its slot', () => {
    const doc: RunSlotsDoc = { holders: [{ workflowId: 'w1', startKey: 'e/1', at: 100 }], waiters: [] };
    expect(runSlotStep(doc, claim(2), 1, 200, new Map([['e/1', 'closed']]))).toMatchObject({ kind: 'run' });
    expect(runSlotStep(doc, claim(2), 1, 200, new Map([['e/1', 'absent']]))).toMatchObject({ kind: 'wait' });
    const late = 100 + RUN_START_GRACE_MS;
    expect(runSlotStep(doc, claim(2), 1, late, new Map([['e/1', 'absent']]))).toMatchObject({ kind: 'run' });
  });

  it('FIFO: a freed slot goes to the first in line, not to whoever asks first', () => {
    const doc: RunSlotsDoc = {
      holders: [],
      waiters: [
        { startKey: 'e/2', seq: 2, exp: 10_000 },
        { startKey: 'e/3', seq: 3, exp: 10_000 },
      ],
    };
    expect(runSlotStep(doc, claim(3), 1, 100, none)).toMatchObject({ kind: 'wait' });
    expect(runSlotStep(doc, claim(2), 1, 100, none)).toMatchObject({ kind: 'run' });
    // A lapsed waiter (its start gone) no longer holds the line.
    expect(runSlotStep(doc, claim(3), 1, 20_000, none)).toMatchObject({ kind: 'run' });
    // A skip-mode start yields to queued ones.
    expect(runSlotStep(doc, claim(9, false), 2, 100, none)).toMatchObject({ kind: 'full' });
  });

  it('queued starts look again after 250 ms, doubling to 5 s', () => {
    expect([1, 2, 3, 6, 50].map(queuedStartDelay)).toEqual([250, 500, 1000, 5000, 5000]);
  });
});
