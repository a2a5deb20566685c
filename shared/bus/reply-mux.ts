/**
 * Reply inboxes that cost no subscription each: one wildcard subscription per connection
 * (`_INBOX.<nuid>.*`, made on first use) routes replies by their last token, as nats.js does for
 * its own `request`, which takes only the first reply. Squall's requests take several (a client's
 * retries share one inbox, a router's progress notices come before its answer), and a
 * subscription of their own cost two more protocol messages each (SUB, then UNSUB).
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** A reply subject and what to do with what arrives on it; `close()` stops taking messages. */
export interface ReplyInbox {
  readonly subject: string;
  close(): void;
}

class ReplyMux {
  private readonly prefix = createInbox();
  private readonly handlers = new Map<string, (msg: Msg) => void>();
  private next = 0;
  private readonly sub: Subscription;

  constructor(nc: NatsConnection) {
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (!err) this.handlers.get(msg.subject.slice(this.prefix.length + 1))?.(msg);
      },
    });
  }

  get closed(): boolean {
    return this.sub.isClosed();
  }

  open(onMsg: (msg: Msg) => void): ReplyInbox {
    const token = (this.next++).toString(36);
    this.handlers.set(token, onMsg);
    return { subject: `${this.prefix}.${token}`, close: () => this.handlers.delete(token) };
  }
}

const muxes = new WeakMap<NatsConnection, ReplyMux>();

/** A reply inbox on `nc`'s shared reply subscription; every message that reaches it goes to `onMsg`. */
export function openReplyInbox(nc: NatsConnection, onMsg: (msg: Msg) => void): ReplyInbox {
  let mux = muxes.get(nc);
  if (!mux || mux.closed) {
    mux = new ReplyMux(nc);
    muxes.set(nc, mux);
  }
  return mux.open(onMsg);
}
