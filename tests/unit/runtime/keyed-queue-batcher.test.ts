import { describe, expect, it } from 'vitest';
import { Batcher } from '../../../services/common/batcher.js';
import { KeyedQueue } from '../../../services/common/keyed-queue.js';

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('KeyedQueue', () => {
  it('runs tasks of one key in order and tasks of different keys concurrently', async () => {
    const q = new KeyedQueue();
    const order: string[] = [];
    const gate = deferred();
    const a1 = q.run('a', async () => {
      await gate.promise;
      order.push('a1');
    });
    const a2 = q.run('a', async () => {
      order.push('a2');
    });
    const b1 = q.run('b', async () => {
      order.push('b1');
    });
    await b1;
    expect(order).toEqual(['b1']);
    gate.resolve();
    await Promise.all([a1, a2]);
    expect(order).toEqual(['b1', 'a1', 'a2']);
    await q.drain();
    expect(q.activeKeys).toBe(0);
  });

  it('keeps going after a task rejects', async () => {
    const q = new KeyedQueue();
    await expect(q.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(q.run('k', async () => 7)).resolves.toBe(7);
  });
});

describe('Batcher', () => {
  it('writes the first item at once and batches those that arrive during the write', async () => {
    const gate = deferred();
    const batches: number[][] = [];
    const b = new Batcher<number, number>(async (items) => {
      batches.push(items);
      if (batches.length === 1) await gate.promise;
      return items.map((i) => i * 10);
    });
    const first = b.add(1);
    const rest = [b.add(2), b.add(3), b.add(4)];
    gate.resolve();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('rejects every item of a failed batch and recovers for the next', async () => {
    let fail = true;
    const b = new Batcher<number, number>(async (items) => {
      if (fail) {
        fail = false;
        throw new Error('down');
      }
      return items;
    });
    await expect(b.add(1)).rejects.toThrow('down');
    await expect(b.add(2)).resolves.toBe(2);
  });

  it('with gatherTurn, writes what one turn added in one write, then batches what came during it', async () => {
    const gate = deferred();
    const batches: number[][] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        batches.push(items);
        if (batches.length === 1) await gate.promise;
        return items.map((i) => i * 10);
      },
      { concurrency: 2, gatherTurn: true },
    );
    const turn = [b.add(1), b.add(2), b.add(3)];
    expect(batches).toEqual([]); // nothing written before the turn ends
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([[1, 2, 3]]);
    // The second write of the concurrency two gathers its turn too.
    const next = [b.add(4), b.add(5)];
    gate.resolve();
    expect(await Promise.all([...turn, ...next])).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    await b.idle();
  });
});
