/**
 * How store errors are told apart: a server gone away is retryable, whatever layer reports it;
 * a closed client or an unknown failure is not.
 */
import { type AddressInfo, connect, createServer } from 'node:net';
import { MongoNetworkError, MongoServerError, MongoTopologyClosedError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../../shared/errors.js';
import { isRetryableStoreError, toStoreError } from '../../../shared/store/errors.js';

/** The error Node gives for a write to a socket its peer has ended (what the driver let through). */
async function endedSocketError(): Promise<Error> {
  const server = createServer((conn) => conn.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1');
    socket.resume();
    await new Promise((resolve) => socket.once('end', resolve));
    return await new Promise<Error>((resolve) => {
      socket.once('error', resolve);
      socket.write('x');
    });
  } finally {
    server.close();
  }
}

describe('store errors', () => {
  it("a socket the server ended is retryable, also as Node's own unwrapped error", async () => {
    const err = await endedSocketError();
    expect(err.message).toMatch(/ended by the other party/);
    expect(isRetryableStoreError(err)).toBe(true);
    const e = toStoreError(err, 'appendCommit');
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toMatch(/MongoDB is unavailable \(appendCommit\)/);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(isRetryableStoreError(refused)).toBe(true);
    expect(isRetryableStoreError(new MongoNetworkError('connection closed'))).toBe(true);
  });

  it('a closed client, an unknown server error and a plain bug are not', () => {
    expect(isRetryableStoreError(new MongoTopologyClosedError())).toBe(false);
    expect(toStoreError(new MongoTopologyClosedError(), 'getRun').code).toBe('INTERNAL');
    expect(isRetryableStoreError(new MongoServerError({ code: 2, errmsg: 'BadValue' }))).toBe(false);
    expect(isRetryableStoreError(new TypeError('x is not a function'))).toBe(false);
    expect(isRetryableStoreError(Object.assign(new Error('odd'), { code: 'ENOENT' }))).toBe(false);
  });
});
