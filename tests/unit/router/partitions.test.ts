import { describe, expect, it } from 'vitest';
import { assignPartitions } from '../../../services/router/partitions.js';

describe('assignPartitions', () => {
  const members = (n: number): string[] => Array.from({ length: n }, (_, i) => `member-${i}`);

  it('gives every partition to exactly one member, whatever order the members are listed in', () => {
    const ms = members(3);
    const a = assignPartitions(ms, 16);
    const b = assignPartitions([...ms].reverse(), 16);
    const all = [...a.values()].flatMap((s) => [...s]).sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 16 }, (_, i) => i));
    for (const m of ms) expect([...(b.get(m) ?? [])]).toEqual([...(a.get(m) ?? [])]);
  });

  it('gives a lone member every partition, and none to nobody', () => {
    expect([...(assignPartitions(['solo'], 4).get('solo') ?? [])]).toEqual([0, 1, 2, 3]);
    expect(assignPartitions([], 4).size).toBe(0);
  });

  it('moves only the partitions a joining member takes', () => {
    const before = assignPartitions(members(2), 64);
    const after = assignPartitions(members(3), 64);
    for (const m of members(2)) {
      for (const p of after.get(m) ?? []) expect(before.get(m)?.has(p)).toBe(true);
    }
    const joined = after.get('member-2')?.size ?? 0;
    expect(joined).toBeGreaterThan(8);
    expect(joined).toBeLessThan(40);
  });

  it('shares partitions roughly evenly', () => {
    const a = assignPartitions(members(4), 256);
    for (const owned of a.values()) {
      expect(owned.size).toBeGreaterThan(35);
      expect(owned.size).toBeLessThan(100);
    }
  });
});
