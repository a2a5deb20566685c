/**
 * The executor's flow gate: before an activity with a `concurrency` or `rateLimit` option runs,
 * its task waits here for a slot of its key (FIFO per key, across executors) and then for its
 * reserved start time (smoothed rate). While it waits it holds no executor permit, so other keys
 * and activities go on (fairness across keys), and its message is kept alive with `working()`.
 * Activities without these options never reach it (ExecutorFlow.gateFor returns undefined).
 */
import { setMaxListeners } from 'node:events';
import type { JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { TaskMessage } from '../../../shared/bus/messages.js';
import type { Clock } from '../../../shared/clock.js';
import type { ActivityDefinition } from '../../../shared/engine/activity.js';
import type { RateDoc, SlotLeases } from '../../../shared/flow/slots.js';
import { reserveStarts } from '../../../shared/flow/slots.js';
import { type ConcurrencyOption, flowKeyOf, type RateLimitOption } from '../../../shared/flow/spec.js';
import { type FlowBus, FlowState, flowSubject } from '../../../shared/flow/state.js';
import type { Logger } from '../../../shared/log.js';
import type { Semaphore } from '../../common/semaphore.js';
import { SlotGate } from './slot-gate.js';

/** What the gate needs of the executor. */
export interface ExecutorFlowDeps {
  bus: FlowBus & { readonly nc: NatsConnection };
  clock: Clock;
  log: Logger;
  /** The executor's permits: given back while a task waits, taken again before it runs. */
  permits: Semaphore;
  /** Aborts when the executor stops taking work: waiting tasks are given back. */
  stopping: AbortSignal;
  ackWaitMs: number;
  /** Lease of a running task's slot (renewed while it runs) and of a waiting task's place. */
  leases: SlotLeases;
}

/** The outcome of a wait: run (then `release()` once done), given back (nak'ed), or refused (bad key). */
export type Admission = { kind: 'run'; release(): void } | { kind: 'givenBack' } | { kind: 'refused'; error: unknown };

/** Default slot leases: a dead executor's slots come free within 30 s, its places in line within 6 s. */
export function defaultSlotLeases(): SlotLeases {
  return { holdMs: 30_000, waitMs: 6_000 };
}

/** The flow gates of one executor, one per activity with flow options. */
export class ExecutorFlow {
  readonly #state: FlowState;
  readonly #slots = new Map<string, SlotGate>();

  constructor(private readonly d: ExecutorFlowDeps) {
    this.#state = new FlowState(d.bus);
    // Every waiting task listens on `stopping` (and drops its listener once admitted).
    setMaxListeners(0, d.stopping);
  }

  /** The gate of `def`, or undefined when it has no flow option (the fast path: nothing to do). */
  gateFor(def: ActivityDefinition): ActivityGate | undefined {
    const { concurrency, rateLimit } = def.options;
    if (!concurrency && !rateLimit) return undefined;
    return new ActivityGate(this, def.name, concurrency, rateLimit);
  }

  /** The slot gate of one key (kept while busy; dropped when idle at the next lookup). */
  slotGate(activity: string, key: string, limit: number): SlotGate {
    const subject = flowSubject(this.d.bus.prefix, 'slots', activity, key);
    let g = this.#slots.get(subject);
    if (!g) {
      if (this.#slots.size > 1000) for (const [s, x] of this.#slots) if (!x.busy) this.#slots.delete(s);
      const { clock, log, leases } = this.d;
      g = new SlotGate({ state: this.#state, nc: this.d.bus.nc, subject, limit, leases, clock, log });
      this.#slots.set(subject, g);
    }
    return g;
  }

  /** Reserves one start time of a rate-limited key (GCRA, shared by every executor). */
  reserveStart(activity: string, key: string, rate: RateLimitOption): Promise<number> {
    const subject = flowSubject(this.d.bus.prefix, 'rate', activity, key);
    const intervalMs = rate.periodMs / rate.limit;
    return this.#state.update<RateDoc, number>(subject, (cur) => {
      const r = reserveStarts(cur, 1, intervalMs, this.d.clock.now());
      return { value: r.doc, result: r.startAt[0] ?? this.d.clock.now() };
    });
  }

  get deps(): ExecutorFlowDeps {
    return this.d;
  }

  /** Stops every key's timers and subscriptions. */
  close(): void {
    for (const g of this.#slots.values()) g.close();
    this.#slots.clear();
  }
}

/** The gate of one activity's tasks. */
export class ActivityGate {
  constructor(
    private readonly flow: ExecutorFlow,
    private readonly activity: string,
    private readonly concurrency: ConcurrencyOption | undefined,
    private readonly rate: RateLimitOption | undefined,
  ) {}

  /**
   * Waits until `task` may run, holding no executor permit meanwhile (the caller's is given back
   * first and taken again before `run` is returned, or before `givenBack`). Never throws: a key
   * function that throws is `refused` (the task fails, not retried); a failing NATS call gives
   * the task back for a later delivery.
   */
  async admit(task: TaskMessage, msg: JsMsg, aborted: AbortSignal): Promise<Admission> {
    const where = `activity ${this.activity}`;
    let slotKey: string | undefined;
    let rateKey: string | undefined;
    try {
      if (this.concurrency) slotKey = flowKeyOf(this.concurrency.key as KeyFn, task.input, `${where} concurrency`);
      if (this.rate) rateKey = flowKeyOf(this.rate.key as KeyFn, task.input, `${where} rateLimit`);
    } catch (error) {
      return { kind: 'refused', error };
    }
    const d = this.flow.deps;
    const signal = AbortSignal.any([aborted, d.stopping]);
    const id = `${task.runId}:${task.activitySeq}:${task.attempt}`;
    d.permits.release();
    const alive = setInterval(() => msg.working(), Math.max(1_000, Math.floor(d.ackWaitMs / 3)));
    let slot: SlotGate | undefined;
    try {
      if (this.concurrency && slotKey !== undefined) {
        const g = this.flow.slotGate(this.activity, slotKey, this.concurrency.limit);
        if (!(await g.acquire(id, task.scheduledAt, signal))) return await this.#giveBack(msg, undefined, id);
        slot = g;
      }
      if (this.rate && rateKey !== undefined) {
        const at = await this.flow.reserveStart(this.activity, rateKey, this.rate);
        if (!(await sleepUntil(at, d.clock, signal))) return await this.#giveBack(msg, slot, id);
      }
      if (!(await d.permits.acquire(d.stopping))) return await this.#giveBack(msg, slot, id);
    } catch (err) {
      d.log.warn('flow gate failed; the task is given back', { activity: this.activity, err });
      return await this.#giveBack(msg, slot, id);
    } finally {
      clearInterval(alive);
    }
    const held = slot;
    return { kind: 'run', release: () => held?.release(id) };
  }

  /** Naks the task and takes a permit again (the attempt's end releases one). */
  async #giveBack(msg: JsMsg, slot: SlotGate | undefined, id: string): Promise<Admission> {
    slot?.release(id);
    try {
      msg.nak();
    } catch {
      // the connection may be gone; the ack wait redelivers it anyway
    }
    await this.flow.deps.permits.acquire();
    return { kind: 'givenBack' };
  }
}

type KeyFn = ((input: unknown) => string) | undefined;

/** Sleeps until `at` on `clock`; false if `signal` aborts first. */
function sleepUntil(at: number, clock: Clock, signal: AbortSignal): Promise<boolean> {
  const ms = at - clock.now();
  if (ms <= 0) return Promise.resolve(!signal.aborted);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
