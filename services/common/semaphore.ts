/** A counting semaphore with FIFO waiters, bounding work in flight across several pull loops. */
export class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];
  readonly #freeWatchers = new Set<() => void>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be >= 1, got ${capacity}`);
    this.#free = capacity;
  }

  /** Permits not held by anyone. */
  get free(): number {
    return this.#free;
  }

  /** Waits for one permit; resolves false (holding nothing) if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.#free > 0 && this.#waiters.length === 0) {
      this.#free--;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(grant);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(false);
      };
      this.#waiters.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Waits, taking nothing, until a permit is free and nobody waits for one; resolves false if
   * `signal` aborts first. For pulls that take their permit only once work arrives.
   */
  whenFree(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.#free > 0 && this.#waiters.length === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const settle = (free: boolean): void => {
        this.#freeWatchers.delete(onFree);
        signal?.removeEventListener('abort', onAbort);
        resolve(free);
      };
      const onFree = (): void => settle(true);
      const onAbort = (): void => settle(false);
      this.#freeWatchers.add(onFree);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Takes up to `max` permits without waiting (none while others wait); returns how many. */
  tryAcquireUpTo(max: number): number {
    if (this.#waiters.length > 0) return 0;
    const n = Math.max(0, Math.min(max, this.#free));
    this.#free -= n;
    return n;
  }

  /** Returns `n` permits, handing them to waiters first. */
  release(n = 1): void {
    for (let i = 0; i < n; i++) {
      const next = this.#waiters.shift();
      if (next) next();
      else if (this.#free < this.capacity) this.#free++;
      else throw new Error('semaphore released more permits than it holds');
    }
    if (this.#free > 0) for (const watcher of [...this.#freeWatchers]) watcher();
  }
}
