import { describe, expect, it } from 'vitest';
import {
  collectionNames,
  consumerNames,
  EVENT_PARTITIONS,
  eventPartition,
  streamNames,
  subjects,
  validateToken,
} from '../../../shared/names.js';

describe('names', () => {
  const s = subjects('squall');

  it('builds every public and internal subject from validated tokens', () => {
    expect(s.start('order')).toBe('squall.start.order');
    expect(s.signal('o-1')).toBe('squall.signal.o-1');
    expect(s.done('order', 'o-1')).toBe('squall.done.order.o-1');
    expect(s.task('chargeCard')).toBe('squall.task.chargeCard');
    expect(s.timerSchedule('r1')).toBe('squall.timer.schedule.r1');
    expect(s.dlq('oversize')).toBe('squall.dlq.oversize');
  });

  it('builds completion filters with wildcards only where a part is omitted', () => {
    expect(s.doneFilter()).toBe('squall.done.>');
    expect(s.doneFilter('order')).toBe('squall.done.order.*');
    expect(s.doneFilter(undefined, 'o-1')).toBe('squall.done.*.o-1');
    expect(s.doneFilter('order', 'o-1')).toBe('squall.done.order.o-1');
    expect(() => s.doneFilter('or.der')).toThrow(/workflowType "or.der" contains "."/);
  });

  it('refuses ids that would break a subject, naming the kind, the value and the character', () => {
    for (const bad of ['a.b', 'a*', 'a>', 'a b', 'a/b', 'a\\b', 'tab\tid']) {
      expect(() => validateToken('workflowId', bad)).toThrow(/workflowId .* contains/);
    }
    expect(() => validateToken('workflowId', '')).toThrow('workflowId must not be empty');
    expect(() => validateToken('workflowId', 'x'.repeat(257))).toThrow(/limit is 256/);
    expect(() => validateToken('runId', 42)).toThrow('runId must be a string, got number');
    expect(() => subjects('bad.prefix')).toThrow(/prefix "bad.prefix" must be/);
  });

  it('parses inbound subjects of its own prefix only', () => {
    expect(s.parse('squall.signal.o-1')).toEqual({ kind: 'signal', tokens: ['o-1'] });
    expect(s.parse('other.signal.o-1')).toBeUndefined();
    expect(s.parse('squall.nope.x')).toBeUndefined();
  });

  it("puts a run's results, firings and child outcomes in its events partition", () => {
    const p = eventPartition('r1');
    expect(s.result('r1')).toBe(`squall.event.${p}.result.r1`);
    expect(s.fired('r1')).toBe(`squall.event.${p}.fired.r1`);
    expect(s.child('r1')).toBe(`squall.event.${p}.child.r1`);
    expect(s.parse(s.result('r1'))).toEqual({ kind: 'result', tokens: ['r1'] });
    expect(s.parse(s.fired('r1'))).toEqual({ kind: 'fired', tokens: ['r1'] });
    expect(s.parse('squall.event.1.nope.r1')).toBeUndefined();
    expect(s.parse('squall.event.1.result')).toBeUndefined();
    expect(s.eventsOfPartition(p)).toBe(`squall.event.${p}.*.*`);
    // Offered directly (a core request) to the router holding the same partition; not a stream subject.
    expect(s.directResult('r1')).toBe(`squall.direct.${p}.r1`);
    expect(s.directResultsOfPartition(p)).toBe(`squall.direct.${p}.*`);
    expect(s.all.directResult).toBe('squall.direct.*.*');
    expect(s.parse(s.directResult('r1'))).toBeUndefined();
    expect(() => s.directResult('a.b')).toThrow(/runId/);
    expect(() => s.directResultsOfPartition(EVENT_PARTITIONS)).toThrow(/event partition/);
    expect(consumerNames.routerEvents(p)).toBe(`router_events_${p}`);
    expect(() => s.eventsOfPartition(EVENT_PARTITIONS)).toThrow(/event partition must be an integer from 0 to/);
    expect(() => consumerNames.routerEvents(-1)).toThrow(/event partition/);
  });

  it('spreads runIds evenly over the events partitions, the same way every time', () => {
    const counts = new Array<number>(EVENT_PARTITIONS).fill(0);
    for (let i = 0; i < 16_000; i++) {
      const p = eventPartition(`run-${i.toString(36)}-${(i * 7919).toString(16)}`);
      counts[p] = (counts[p] ?? 0) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(800);
    expect(eventPartition('a3f9c2d1')).toBe(eventPartition('a3f9c2d1'));
  });

  it('names streams and collections per prefix', () => {
    expect(streamNames('t1').inbox).toBe('T1_INBOX');
    expect(collectionNames('t1').commits).toBe('t1_commits');
    expect(collectionNames('t1').outbox).toBe('t1_outbox');
  });
});
