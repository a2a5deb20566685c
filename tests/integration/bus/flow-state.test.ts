/**
 * FlowState's compare-and-set over a real JetStream: updates from several writers never lose one,
 * and the first try from the version a writer last saw (no read) is only trusted when it sticks.
 */
import { describe, expect, it } from 'vitest';
import { FlowState, flowStreamName, flowSubject, type Versioned } from '../../../shared/flow/state.js';
import { onCleanup, testBus } from './helpers.js';

/** A FlowState that counts its reads. */
class CountingState extends FlowState {
  reads = 0;
  override read<T>(subject: string): Promise<Versioned<T>> {
    this.reads++;
    return super.read<T>(subject);
  }
}

type Counter = { n: number };
const increment = (cur: Counter | undefined) => ({ value: { n: (cur?.n ?? 0) + 1 }, result: (cur?.n ?? 0) + 1 });

describe('FlowState', () => {
  it('loses no update among racing writers, and skips the read while it is the only writer', async () => {
    const bus = await testBus();
    onCleanup(() => bus.jsm.streams.delete(flowStreamName(bus.prefix)).then(() => undefined));
    const a = new CountingState(bus);
    const b = new CountingState(bus);
    const subject = flowSubject(bus.prefix, 'rate', 'act', 'k');
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).update<Counter, number>(subject, increment)),
    );
    expect((await a.read<Counter>(subject)).value).toEqual({ n: 40 });

    // Alone now: each update is one compare-and-set from the version it wrote last, no read.
    await a.update<Counter, number>(subject, increment);
    const before = a.reads;
    for (let i = 0; i < 5; i++) await a.update<Counter, number>(subject, increment);
    expect(a.reads).toBe(before);
    expect((await b.read<Counter>(subject)).value).toEqual({ n: 46 });
  });

  it('does not trust a skip decided on a version another writer has replaced', async () => {
    const bus = await testBus();
    onCleanup(() => bus.jsm.streams.delete(flowStreamName(bus.prefix)).then(() => undefined));
    const a = new FlowState(bus);
    const b = new FlowState(bus);
    const subject = flowSubject(bus.prefix, 'slots', 'act', 'k');
    await a.update<Counter, number>(subject, increment); // a last saw n = 1
    await b.update<Counter, number>(subject, increment); // now n = 2
    const seen = await a.update<Counter, number>(subject, (cur) => ({ skip: true, result: cur?.n ?? 0 }));
    expect(seen).toBe(2);
  });
});
