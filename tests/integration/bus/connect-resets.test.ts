/**
 * A service started while nats-server is being restarted can reach a server that accepts its
 * connection and resets it before saying hello; nats.js reports a plain `read ECONNRESET`. That
 * first connection is retried like a refused one, not given up (seen as a router exiting in chaos).
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectBus } from '../../../shared/bus/connect.js';
import { isRetryableConnectError } from '../../../shared/bus/errors.js';
import { freshPrefix, natsUrl } from '../../harness/index.js';
import { onCleanup } from './helpers.js';

/** A TCP proxy to `target` that resets the first `resets` connections it accepts. */
async function resettingProxy(target: URL, resets: number): Promise<{ url: string; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    if (accepted <= resets) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as net.AddressInfo;
  return { url: `nats://127.0.0.1:${port}`, accepted: () => accepted };
}

describe('the first connection to NATS', () => {
  it('is retried when the server resets it before its hello', async () => {
    const proxy = await resettingProxy(new URL(natsUrl()), 2);
    const bus = await connectBus({ servers: proxy.url, prefix: freshPrefix(), connectDeadlineMs: 30_000 });
    onCleanup(() => bus.close());
    expect(proxy.accepted()).toBeGreaterThanOrEqual(3);
    await bus.nc.flush();
  });

  it('tells passing socket errors from lasting ones', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isRetryableConnectError(new Error('read ECONNRESET', { cause: reset }))).toBe(true);
    expect(isRetryableConnectError(new Error('connect ECONNREFUSED 127.0.0.1:4222'))).toBe(true);
    expect(isRetryableConnectError(new Error('getaddrinfo ENOTFOUND nats.example'))).toBe(true);
    expect(isRetryableConnectError(new Error('Authorization Violation'))).toBe(false);
    expect(isRetryableConnectError('ECONNRESET')).toBe(false);
  });
});
