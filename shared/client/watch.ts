/**
 * watch(): live completions and emitted events, from now on, as an async iterable. Core NATS
 * subscriptions (nothing is replayed); unreadable messages are logged and skipped.
 */
import type { Msg, Subscription } from '@nats-io/transport-node';
import type { ClientSession } from './options.js';
import { isEmitted, isOutcome, safeDecode } from './replies.js';
import type { WatchEvent, WatchOptions, WatchStream } from './types.js';

/** Subscribes to the done (and emit) subjects `opts` selects; stop() or close() ends the stream. */
export function openWatch(session: ClientSession, opts: WatchOptions): WatchStream {
  const queue: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  let stopped = false;
  const subs: Subscription[] = [];
  const onMsg = (kind: WatchEvent['kind']) => (err: Error | null, msg: Msg) => {
    if (err) return stop();
    const body = safeDecode(msg);
    if (kind === 'done' && isOutcome(body)) queue.push({ kind, subject: msg.subject, body });
    else if (kind === 'emit' && isEmitted(body)) queue.push({ kind, subject: msg.subject, body });
    else session.opts.log.warn('watch: skipping an unreadable message', { subject: msg.subject });
    wake?.();
  };
  subs.push(session.nc.subscribe(session.subjects.doneFilter(opts.type, opts.workflowId), { callback: onMsg('done') }));
  if (opts.workflowId !== undefined || opts.type === undefined) {
    const emit = opts.workflowId === undefined ? session.subjects.all.emit : session.subjects.emit(opts.workflowId);
    subs.push(session.nc.subscribe(emit, { callback: onMsg('emit') }));
  }
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    for (const s of subs) s.unsubscribe();
    session.open.delete(handle);
    wake?.();
  };
  const handle = { stop };
  session.open.add(handle);
  return {
    stop,
    [Symbol.asyncIterator]: (): AsyncIterator<WatchEvent> => ({
      next: async (): Promise<IteratorResult<WatchEvent>> => {
        while (queue.length === 0 && !stopped) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const value = queue.shift();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
      return: async (): Promise<IteratorResult<WatchEvent>> => {
        stop();
        return { done: true, value: undefined };
      },
    }),
  };
}
