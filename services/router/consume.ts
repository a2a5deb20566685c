/**
 * The router's pulls: each durable it consumes (the inbox's, and those of the events partitions
 * it holds) is pulled in a loop of bounded fetches, retried through failures, with at most
 * `maxInFlight` inputs being decided at once. Each message goes to the InputHandler. Starts at a
 * priority level but the default are pulled by PriorityLanes (services/common/priority-lanes.ts),
 * which take over the inbox's pulling while such starts wait: higher levels first, the lowest
 * never starved.
 */
import type { Consumer, ConsumerMessages } from '@nats-io/jetstream';
import { backoffDelay, sleep } from '../../shared/bus/backoff.js';
import type { Bus } from '../../shared/bus/connect.js';
import { guardedFetch } from '../../shared/bus/fetch-guard.js';
import { levelsWithMessages } from '../../shared/bus/streams.js';
import { DEFAULT_PRIORITY } from '../../shared/flow/priority.js';
import type { Logger } from '../../shared/log.js';
import { type LanePull, PriorityLanes } from '../common/priority-lanes.js';
import { ensureRouterConsumer, type RouterConsumerSpec, startLevelSpec } from './consumers.js';
import type { InputMessage } from './input-message.js';

/** Most messages one pull asks for. */
const FETCH_BATCH = 256;
/** How long one pull waits for messages before the next is sent. */
const FETCH_EXPIRES_MS = 2_000;
/** Expiry of a pull on a start level known to have work (it returns at once unless another router took it). */
const LANE_FETCH_EXPIRES_MS = 1_000;
/** The key of the lanes' pull under way (stop() ends it with the others). */
const LANES = 'priority-lanes';

/** What pauses a durable's plain pulls: the lanes, while they pull every level. */
interface PullPause {
  readonly active: boolean;
  whenIdle(): Promise<void>;
}

/** What an InputConsumer works with. */
export interface InputConsumerDeps {
  bus: Bus;
  log: Logger;
  /** Handles one message to its settlement. */
  handle: (m: InputMessage) => Promise<void>;
  /** Most inputs being decided at once. */
  maxInFlight: number;
  /** Ack wait of the router's consumers (for recreating a lost durable). */
  ackWaitMs: number;
}

/** The router's consumption of its streams: one pull loop per durable, sharing the in-flight slots. */
export class InputConsumer {
  private readonly stopSignal = new AbortController();
  private readonly consuming = new Map<string, boolean>();
  /** The pull under way of each durable. */
  private readonly active = new Map<string, ConsumerMessages>();
  /** Called with true when a finished input hands its slot over, false when the router stops. */
  private readonly slotWaiters: ((handed: boolean) => void)[] = [];
  private inFlightCount = 0;

  constructor(private readonly deps: InputConsumerDeps) {}

  /**
   * Consumes one durable until stop() or until `wanted()` turns false, retrying through
   * failures; resolves when done. Messages already taken are finished after that.
   */
  async consume(spec: RouterConsumerSpec, wanted: () => boolean = () => true, pause?: PullPause): Promise<void> {
    const { stream, durable } = spec;
    const running = (): boolean => !this.stopSignal.signal.aborted && wanted();
    let failures = 0;
    while (running()) {
      let messages: ConsumerMessages | undefined;
      try {
        const consumer = await this.deps.bus.js.consumers.get(stream, durable);
        if (!this.consuming.get(durable)) this.deps.log.info('consuming', { stream, durable, afterFailures: failures });
        this.consuming.set(durable, true);
        // Bounded pulls, not consume(): under a busy event loop consume() can miss its idle
        // heartbeats and sit on a lost pull for a whole heartbeat window (seen as 30 s stalls).
        // A fetch that goes missing costs at most its expiry (guarded: see fetch-guard.ts).
        while (running()) {
          if (pause?.active) {
            await pause.whenIdle();
            continue;
          }
          messages = await guardedFetch(consumer, { max_messages: FETCH_BATCH, expires: FETCH_EXPIRES_MS }, () =>
            this.deps.log.debug('a pull outlived its expiry (nats-server < 2.10 drops it); pulling again', { durable }),
          );
          this.active.set(durable, messages);
          if (!running()) messages.stop();
          for await (const m of messages) {
            failures = 0;
            await this.dispatch(m);
          }
          this.active.delete(durable);
        }
      } catch (err) {
        if (!running()) break;
        this.consuming.set(durable, false);
        const delayMs = backoffDelay(failures++);
        this.deps.log.warn('consumer loop failed; retrying', { stream, durable, err, delayMs });
        await sleep(delayMs, this.stopSignal.signal);
        // The durable may have been deleted (or the stream recreated): make sure it exists.
        await ensureRouterConsumer(this.deps.bus.jsm, spec, this.deps.ackWaitMs).catch(() => undefined);
      } finally {
        if (messages) {
          this.active.delete(durable);
          messages.stop();
        }
      }
    }
    this.consuming.delete(durable);
  }

  /**
   * Consumes the inbox until stop(): its shared durable (every input but the prioritised starts),
   * and, whenever starts of another priority level wait, every level by priority (see the lanes).
   */
  async consumeInbox(spec: RouterConsumerSpec): Promise<void> {
    const { bus, log, ackWaitMs, maxInFlight } = this.deps;
    let inbox: Consumer | undefined;
    const lanes = new PriorityLanes({
      nc: bus.nc,
      hintSubject: bus.subjects.all.startLevels,
      recheckMs: ackWaitMs,
      // A pull asks for no more than can be decided at once: what waits in a fetch waits unordered.
      batchCap: Math.min(FETCH_BATCH, maxInFlight),
      stopping: this.stopSignal.signal,
      log,
      logFields: { stream: spec.stream },
      levelsInStream: () =>
        levelsWithMessages(bus.jsm, spec.stream, bus.subjects.all.startLevels, (subject) => {
          const level = bus.subjects.levelOfStart(subject);
          return level === DEFAULT_PRIORITY ? undefined : level;
        }),
      openLevel: async (level) => {
        const s = startLevelSpec(bus, level);
        await ensureRouterConsumer(bus.jsm, s, ackWaitMs);
        return bus.js.consumers.get(s.stream, s.durable);
      },
      defaultConsumer: async () => (inbox ??= await bus.js.consumers.get(spec.stream, spec.durable)),
      pull: (consumer, want) => this.pullLane(consumer, want),
    });
    // Before the plain pulls, so a backlog of prioritised starts is taken by priority from the first pull.
    await lanes.open().catch((err: unknown) => log.warn('looking for prioritised starts failed', { err }));
    const lanesDone = lanes.run();
    await this.consume(spec, () => true, lanes);
    await lanesDone;
  }

  /** True while the durable is being consumed (its last attempt to get its consumer succeeded). */
  isConsuming(durable: string): boolean {
    return this.consuming.get(durable) === true;
  }

  /** Ends the durable's pull under way, so its loop sees at once that it is no longer wanted. */
  interrupt(durable: string): void {
    this.active.get(durable)?.stop();
  }

  /** Inputs being decided right now. */
  inFlight(): number {
    return this.inFlightCount;
  }

  /** Wakes what waits (backoff sleeps, pulls, slots) so the loops see the router stopping. */
  stop(): void {
    this.stopSignal.abort();
    for (const m of this.active.values()) m.stop();
    for (const w of this.slotWaiters.splice(0)) w(false);
  }

  /** One pull of the lanes: up to `want` messages, each dispatched. */
  private async pullLane(consumer: Consumer, want: number): Promise<LanePull> {
    let taken = 0;
    const messages = await guardedFetch(consumer, { max_messages: want, expires: LANE_FETCH_EXPIRES_MS }, () =>
      this.deps.log.debug('a pull outlived its expiry (nats-server < 2.10 drops it); pulling again', {
        durable: LANES,
      }),
    );
    this.active.set(LANES, messages);
    try {
      if (this.stopSignal.signal.aborted) messages.stop();
      for await (const m of messages) {
        taken++;
        await this.dispatch(m);
      }
    } finally {
      this.active.delete(LANES);
      messages.stop();
    }
    return { asked: want, taken };
  }

  /**
   * Hands `m` off at once if a slot is free and nothing waits for one (a direct result: pulled
   * inputs keep their turn); false, taking nothing, otherwise or once stopping.
   */
  offer(m: InputMessage): boolean {
    if (this.stopSignal.signal.aborted || this.inFlightCount >= this.deps.maxInFlight || this.slotWaiters.length > 0) {
      return false;
    }
    this.run(m);
    return true;
  }

  /** Waits for a free slot, then hands the message off without waiting for its decision. */
  private async dispatch(m: InputMessage): Promise<void> {
    let handed = false;
    if (this.inFlightCount >= this.deps.maxInFlight)
      handed = await new Promise<boolean>((r) => this.slotWaiters.push(r));
    this.run(m, handed);
  }

  /**
   * Handles `m` in a slot, without waiting for its decision: a slot taken now, or one a finished
   * input handed over (still counted, so an offer in between cannot take it too).
   */
  private run(m: InputMessage, slotHanded = false): void {
    if (!slotHanded) this.inFlightCount++;
    void this.deps
      .handle(m)
      .catch((err: unknown) => {
        this.deps.log.error('unexpected failure handling an input; redelivering', { subject: m.subject, err });
        m.nak(1000);
      })
      .finally(() => {
        const next = this.slotWaiters.shift();
        if (next) next(true);
        else this.inFlightCount--;
      });
  }
}
