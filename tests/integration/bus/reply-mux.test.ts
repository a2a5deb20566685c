/**
 * Reply inboxes on one shared wildcard subscription (shared/bus/reply-mux.ts), on a real
 * nats-server: each inbox gets its own replies, several per inbox, none once closed; no-responders
 * statuses reach the request's inbox; a closed connection's successor gets a subscription anew.
 */
import type { Msg } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { isNoResponders } from '../../../shared/bus/errors.js';
import { openReplyInbox } from '../../../shared/bus/reply-mux.js';
import { connectNats, freshPrefix, waitFor } from '../../harness/index.js';

const text = (m: Msg): string => new TextDecoder().decode(m.data);

describe('reply inboxes', () => {
  it('route replies by inbox on one subscription, several each, none after close', async () => {
    const nc = await connectNats();
    try {
      const subject = `${freshPrefix()}.echo`;
      nc.subscribe(subject, {
        callback: (_err, m) => {
          m.respond(new TextEncoder().encode(`${text(m)}-1`));
          m.respond(new TextEncoder().encode(`${text(m)}-2`));
        },
      });
      await nc.flush();
      const got: Record<string, string[]> = { a: [], b: [] };
      const a = openReplyInbox(nc, (m) => got.a?.push(text(m)));
      const b = openReplyInbox(nc, (m) => got.b?.push(text(m)));
      // One connection, one wildcard: the inboxes differ only in their last token.
      expect(a.subject.slice(0, a.subject.lastIndexOf('.'))).toBe(b.subject.slice(0, b.subject.lastIndexOf('.')));
      expect(a.subject).not.toBe(b.subject);
      nc.publish(subject, new TextEncoder().encode('a'), { reply: a.subject });
      nc.publish(subject, new TextEncoder().encode('b'), { reply: b.subject });
      await waitFor('both replies to both', () => got.a?.length === 2 && got.b?.length === 2);
      expect(got).toEqual({ a: ['a-1', 'a-2'], b: ['b-1', 'b-2'] });

      a.close();
      nc.publish(subject, new TextEncoder().encode('a'), { reply: a.subject });
      nc.publish(subject, new TextEncoder().encode('b'), { reply: b.subject });
      await waitFor('b’s second round', () => got.b?.length === 4);
      await nc.flush();
      expect(got.a).toEqual(['a-1', 'a-2']);

      const none: Msg[] = [];
      const c = openReplyInbox(nc, (m) => none.push(m));
      nc.publish(`${freshPrefix()}.nobody`, new Uint8Array(0), { reply: c.subject });
      await waitFor('the no-responders status', () => none.length === 1);
      expect(isNoResponders(none[0] as Msg)).toBe(true);
      b.close();
      c.close();
    } finally {
      await nc.close();
    }
  });

  it('are opened on a new subscription for a new connection', async () => {
    const first = await connectNats();
    const one = openReplyInbox(first, () => undefined);
    await first.close();
    const second = await connectNats();
    try {
      const subject = `${freshPrefix()}.echo`;
      second.subscribe(subject, {
        callback: (_err, m) => {
          m.respond(new TextEncoder().encode('pong'));
        },
      });
      await second.flush();
      const got: string[] = [];
      const two = openReplyInbox(second, (m) => got.push(text(m)));
      expect(two.subject).not.toBe(one.subject);
      second.publish(subject, new Uint8Array(0), { reply: two.subject });
      await waitFor('the reply on the new connection', () => got.length === 1);
      expect(got).toEqual(['pong']);
    } finally {
      await second.close();
    }
  });
});
