/**
 * quietAnsweredRequests: an answered request no longer builds the Error nats.js throws away, and
 * requests behave as before on a real nats-server (replies, timeouts, no responders, JetStream
 * publishes). The first case runs the patch over a stand-in of nats.js's request class, where the
 * Errors it builds can be counted.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import {
  isRequestClassPatched,
  patchRequestClass,
  quietAnsweredRequests,
} from '../../../shared/bus/answered-requests.js';
import { connectNats } from '../../harness/index.js';

describe('quietAnsweredRequests', () => {
  it('an answered request builds no Error; one cancelled before its reply still gets its own', async () => {
    let built = 0;
    /** nats.js's RequestOne in miniature: resolver settles, then cancel() rejects with a new Error. */
    class RequestOne {
      settled: string[] = [];
      resolver(err: Error | null, msg: unknown): void {
        this.settled.push(err ? `rejected: ${err.message}` : `resolved: ${String(msg)}`);
        this.cancel();
      }
      cancel(err?: Error): void {
        if (!err) built++;
        const e = err ?? new Error('cancelled');
        this.settled.push(`cancel: ${e.message}`);
      }
    }
    expect(patchRequestClass(RequestOne.prototype)).toBe(true);
    expect(patchRequestClass(RequestOne.prototype)).toBe(true); // once only
    const answered = new RequestOne();
    answered.resolver(null, 'reply');
    const failed = new RequestOne();
    failed.resolver(new Error('no responders'), undefined);
    expect(built).toBe(0);
    expect(answered.settled).toEqual(['resolved: reply', 'cancel: request already answered']);
    expect(failed.settled).toEqual(['rejected: no responders', 'cancel: request already answered']);
    const cancelled = new RequestOne();
    cancelled.cancel();
    expect(built).toBe(1);
    expect(cancelled.settled).toEqual(['cancel: cancelled']);
    // Any other class is left alone.
    class RequestMany {
      resolver(): void {}
      cancel(): void {}
    }
    expect(patchRequestClass(RequestMany.prototype)).toBe(false);
    expect(patchRequestClass(undefined)).toBe(false);
  });

  it('requests on a real connection: replies, timeouts and no responders as before', async () => {
    const nc = await connectNats();
    expect(quietAnsweredRequests(nc)).toBe(true);
    const responder = await connectNats();
    responder.subscribe('answered.echo', {
      callback: (_err, m) => {
        m.respond(m.data);
      },
    });
    await responder.flush();

    const first = nc.request('answered.echo', 'first', { timeout: 5_000 });
    expect(isRequestClassPatched(Object.getPrototypeOf(pendingRequest(nc)))).toBe(true);
    expect((await first).string()).toBe('first');
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => nc.request('answered.echo', String(i), { timeout: 5_000 })),
    );
    expect(replies.map((r) => r.string())).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));

    await expect(nc.request('answered.nobody', 'x', { timeout: 5_000 })).rejects.toMatchObject({
      name: 'RequestError',
      message: expect.stringMatching(/no responders/i),
    });
    responder.subscribe('answered.silent', { callback: () => undefined });
    await responder.flush();
    await expect(nc.request('answered.silent', 'x', { timeout: 200 })).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('leaves a connection it does not know as it is', () => {
    expect(quietAnsweredRequests({} as NatsConnection)).toBe(false);
    expect(quietAnsweredRequests({ protocol: { muxSubscriptions: {} } } as unknown as NatsConnection)).toBe(false);
  });
});

/** The one request `nc` has in flight (nats.js's muxSubscriptions, an internal). */
function pendingRequest(nc: NatsConnection): object {
  const mux = (nc as unknown as { protocol: { muxSubscriptions: { all(): object[] } } }).protocol.muxSubscriptions;
  const [req] = mux.all();
  if (!req) throw new Error('no request in flight');
  return req;
}
