/**
 * Runs tasks one at a time per key, many keys at once: the router decides for many runs
 * concurrently while the inputs of one run are folded strictly in order.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  /** Number of keys with work queued or running. */
  get activeKeys(): number {
    return this.tails.size;
  }

  /** Queues `task` behind every earlier task of `key`; resolves or rejects with its result. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const result = prev.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves once every queued task has settled. */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
