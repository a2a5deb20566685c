/**
 * The slots of one concurrency key, as one executor sees them: its waiting and running tasks,
 * merged into the key's shared document (shared/flow/slots.ts) by compare-and-set. It looks
 * again when the document changes (a core subscription on its subject hears every write), and
 * at least every third of a lease, which renews its holders' and waiters' leases.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Clock } from '../../../shared/clock.js';
import { arbitrateSlots, type SlotDoc, type SlotLeases } from '../../../shared/flow/slots.js';
import type { FlowState } from '../../../shared/flow/state.js';
import type { Logger } from '../../../shared/log.js';

interface Waiter {
  order: number;
  grant: () => void;
}

/** One key's slots in this executor; idle (no timer, no subscription) when it holds nothing. */
export class SlotGate {
  readonly #waiting = new Map<string, Waiter>();
  readonly #running = new Set<string>();
  readonly #released = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #sub: Subscription | undefined;
  #ticking: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly d: {
      state: FlowState;
      nc: NatsConnection;
      subject: string;
      limit: number;
      leases: SlotLeases;
      clock: Clock;
      log: Logger;
    },
  ) {}

  /** Waits in line for a slot; resolves once granted, or false if `signal` aborts first. */
  acquire(id: string, order: number, signal: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const onAbort = (): void => {
        if (!this.#waiting.delete(id)) return;
        resolve(false);
        this.#kick();
      };
      this.#waiting.set(id, {
        order,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(true);
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
      this.#kick();
    });
  }

  /** Frees the slot of a task that ran (or gave up after being granted). */
  release(id: string): void {
    if (!this.#running.delete(id)) return;
    this.#released.add(id);
    this.#kick();
  }

  /** True while this executor waits or runs anything of this key. */
  get busy(): boolean {
    return this.#waiting.size > 0 || this.#running.size > 0 || this.#released.size > 0;
  }

  /** Runs a tick now, or right after the one under way. */
  #kick(): void {
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = this.#tick()
      .catch((err: unknown) => this.d.log.warn('concurrency slots: update failed; trying again', { err }))
      .finally(() => {
        this.#ticking = undefined;
        if (this.#again) {
          this.#again = false;
          this.#kick();
        } else {
          this.#schedule();
        }
      });
  }

  async #tick(): Promise<void> {
    const waiting = [...this.#waiting].map(([id, w]) => ({ id, order: w.order }));
    const running = [...this.#running];
    const released = [...this.#released];
    const granted = await this.d.state.update<SlotDoc, string[]>(this.d.subject, (cur) => {
      const r = arbitrateSlots(cur, { waiting, running, released }, this.d.limit, this.d.clock.now(), this.d.leases);
      return r.changed ? { value: r.doc, result: r.granted } : { skip: true, result: r.granted };
    });
    for (const id of released) this.#released.delete(id);
    for (const id of granted) {
      const w = this.#waiting.get(id);
      this.#running.add(id);
      if (w) {
        this.#waiting.delete(id);
        w.grant();
      } else {
        // Aborted while the write was under way: free the slot it was just given.
        this.release(id);
      }
    }
  }

  /** Keeps leases alive while busy and listens for changes while waiting; goes idle otherwise. */
  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#waiting.size > 0) {
      this.#sub ??= this.d.nc.subscribe(this.d.subject, { callback: () => this.#kick() });
    } else if (this.#sub) {
      this.#sub.unsubscribe();
      this.#sub = undefined;
    }
    if (!this.busy) return;
    const every = Math.max(50, Math.floor(Math.min(this.d.leases.holdMs, this.d.leases.waitMs) / 3));
    this.#timer = setTimeout(() => this.#kick(), every);
    this.#timer.unref();
  }

  /** Stops listening (the executor is stopping); leases lapse on their own. */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }
}
