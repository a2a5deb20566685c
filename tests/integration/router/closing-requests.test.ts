/**
 * A signal request whose durable copy the router took (and closed the run with) before the
 * request itself was answered: the request is answered as accepted, not as "run closed". The
 * race is made certain by publishing the durable copy first, then asking with the same message.
 */
import { describe, expect, it } from 'vitest';
import { encodeBody } from '../../../shared/bus/codec.js';
import { NotFoundError } from '../../../shared/errors.js';
import { subjects as subjectsOf } from '../../../shared/names.js';
import { jsonHeaders, parseJson } from '../../e2e/json-wire.js';
import { routerWithStore } from './helpers.js';

describe('a request whose durable copy already closed the run', () => {
  it('is accepted when it is that message (same msg id, or an equal signal without one); another is refused', async () => {
    const { client, nc, prefix } = await routerWithStore((s) => s);
    const subject = subjectsOf(prefix).signal('cr-1');
    const finish = encodeBody({ type: 'finish' }, { json: true });

    await client.start('steps', undefined, { workflowId: 'cr-1' });
    await client.signal('cr-1', { type: 'next' });
    const h = jsonHeaders();
    h.set('Nats-Msg-Id', 'finish-1');
    nc.publish(subject, finish, { headers: h }); // the durable copy alone
    await expect(client.result('cr-1', { timeoutMs: 20_000 })).resolves.toEqual({ finished: true, adds: 0 });

    const same = await nc.request(subject, finish, { headers: h, timeout: 20_000 });
    expect(parseJson(same.data)).toMatchObject({ accepted: true, workflowId: 'cr-1' });

    const noId = await nc.request(subject, finish, { headers: jsonHeaders(), timeout: 20_000 });
    expect(parseJson(noId.data)).toMatchObject({ accepted: true, workflowId: 'cr-1' });

    const other = await nc.request(subject, encodeBody({ type: 'add' }, { json: true }), {
      headers: jsonHeaders(),
      timeout: 20_000,
    });
    expect(other.headers?.get('Squall-Error')).toBe('NOT_FOUND');
    await expect(client.signal('cr-1', { type: 'finish' })).rejects.toBeInstanceOf(NotFoundError);
  });
});
