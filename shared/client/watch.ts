/**
 * watch(): completions and emitted events as an async iterable, read from the outcomes stream with
 * an ordered consumer, so what was stored while the client was disconnected is delivered after the
 * reconnect: each message once, in stream order. Unreadable messages are logged and skipped.
 */
import {
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JsMsg,
  jetstream,
  type OrderedConsumerOptions,
} from '@nats-io/jetstream';
import { InvalidInputError } from '../errors.js';
import { streamNames } from '../names.js';
import type { ClientSession } from './options.js';
import { isEmitted, isOutcome, safeRead } from './replies.js';
import { isStreamNotFound } from './result.js';
import type { WatchEvent, WatchOptions, WatchStart, WatchStream } from './types.js';

/** Reads the done (and emit) subjects `opts` selects from `opts.from` on; stop() or close() ends it. */
export function openWatch(session: ClientSession, opts: WatchOptions): WatchStream {
  return new OutcomeWatch(session, opts);
}

/** Where the consumer starts, as the JetStream consumer config says it. */
type StartConfig = Pick<OrderedConsumerOptions, 'deliver_policy'> & Partial<OrderedConsumerOptions>;

/** One watch: a loop that (re)opens an ordered consumer after the last sequence it handed out. */
class OutcomeWatch implements WatchStream {
  readonly ready: Promise<void>;
  private readonly queue: WatchEvent[] = [];
  private readonly filters: string[];
  private readonly stream: string;
  private readonly from: WatchStart;
  private readonly notBeforeNanos: bigint | undefined;
  private wake: (() => void) | undefined;
  private endPause: (() => void) | undefined;
  private markReady: () => void = () => {};
  private stopped = false;
  private messages: ConsumerMessages | undefined;
  /** Stream sequence of the last message handed out; 0 before the first. */
  private lastSeq = 0;
  /** `from: 'new'` resolved to a stream sequence, once. */
  private newSeq: number | undefined;

  constructor(
    private readonly session: ClientSession,
    opts: WatchOptions,
  ) {
    this.from = checkStart(opts.from ?? 'new');
    this.notBeforeNanos =
      typeof this.from === 'object' && 'time' in this.from
        ? BigInt(new Date(this.from.time).getTime()) * 1_000_000n
        : undefined;
    const s = session.subjects;
    this.filters = [s.doneFilter(opts.type, opts.workflowId)];
    // Emitted events carry no workflow type: with a type alone there is nothing to match them by.
    if (opts.workflowId !== undefined || opts.type === undefined) {
      this.filters.push(opts.workflowId === undefined ? s.all.emit : s.emit(opts.workflowId));
    }
    this.stream = streamNames(s.prefix).outcomes;
    this.ready = new Promise<void>((resolve) => {
      this.markReady = resolve;
    });
    session.open.add(this);
    void this.follow();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.messages?.stop();
    this.session.open.delete(this);
    this.markReady();
    this.endPause?.();
    this.wake?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return {
      next: async (): Promise<IteratorResult<WatchEvent>> => {
        while (this.queue.length === 0 && !this.stopped) await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        const value = this.queue.shift();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
      return: async (): Promise<IteratorResult<WatchEvent>> => {
        this.stop();
        return { done: true, value: undefined };
      },
    };
  }

  /**
   * Never gives up while not stopped: the ordered consumer rides out reconnects itself; when it ends
   * anyway (stream missing, too many failed re-creations), a new one starts after `lastSeq`.
   */
  private async follow(): Promise<void> {
    const js = jetstream(this.session.nc);
    while (!this.stopped) {
      try {
        const start = await this.startConfig(js);
        this.markReady();
        const consumer = await js.consumers.get(this.stream, { filter_subjects: this.filters, ...start });
        if (this.stopped) break;
        this.messages = await consumer.consume();
        if (this.stopped) this.messages.stop();
        for await (const m of this.messages) await this.accept(m);
      } catch (err) {
        if (isStreamNotFound(err)) {
          // Nothing is stored yet, so everything stored once the stream exists is new.
          this.newSeq ??= 1;
          this.markReady();
        } else if (!this.stopped) {
          this.session.opts.log.warn('watch: reading the outcomes stream failed; resuming', {
            stream: this.stream,
            afterSeq: this.lastSeq,
            err: err instanceof Error ? err.message : String(err),
          });
        }
      }
      // A closed connection (the caller's own, closed under us) will not come back.
      if (this.session.nc.isClosed()) this.stop();
      if (!this.stopped) await this.pause(this.session.opts.resultPollMs);
    }
  }

  /** After a delivered message: the next one. Before: where `from` says, 'new' pinned to a sequence. */
  private async startConfig(js: JetStreamClient): Promise<StartConfig> {
    if (this.lastSeq > 0) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.lastSeq + 1 };
    const from = this.from;
    if (from === 'new') {
      // Pinned once, so a consumer re-created later does not skip what was stored in between.
      if (this.newSeq === undefined) {
        const info = await (await js.streams.get(this.stream)).info(false);
        this.newSeq ??= info.state.last_seq + 1;
      }
      return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.newSeq };
    }
    if ('seq' in from) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.seq };
    return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(from.time).toISOString() };
  }

  /** Hands out `m` unless it was handed out already (or precedes the start time), in stream order. */
  private async accept(m: JsMsg): Promise<void> {
    if (m.seq <= this.lastSeq) return;
    this.lastSeq = m.seq;
    // A consumer re-created before its first delivery restarts from the stream's first message.
    if (this.notBeforeNanos !== undefined && BigInt(m.info.timestampNanos) < this.notBeforeNanos) return;
    // One message at a time, so an outcome sent out of band keeps its place in stream order.
    const body = await safeRead(m, this.session.blobs);
    const kind = this.session.subjects.parse(m.subject)?.kind;
    if (kind === 'done' && isOutcome(body)) this.queue.push({ kind, subject: m.subject, seq: m.seq, body });
    else if (kind === 'emit' && isEmitted(body)) this.queue.push({ kind, subject: m.subject, seq: m.seq, body });
    else this.session.opts.log.warn('watch: skipping an unreadable message', { subject: m.subject, seq: m.seq });
    this.wake?.();
  }

  /** Waits `ms`, or less if stopped meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.endPause = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}

/** `from` checked before anything is sent: a positive sequence or a valid time. */
function checkStart(from: WatchStart): WatchStart {
  if (from === 'new') return from;
  if ('seq' in from && Number.isSafeInteger(from.seq) && from.seq > 0) return from;
  if ('time' in from && !Number.isNaN(new Date(from.time).getTime())) return from;
  throw new InvalidInputError(`watch: from must be 'new', { seq: <positive integer> } or { time: <Date | ms> }`);
}
