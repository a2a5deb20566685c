import { describe, expect, it } from 'vitest';
import { typedError } from '../../../shared/client/wire.js';
import { fromErrorInfo, NotFoundError, toErrorInfo } from '../../../shared/errors.js';

describe('errors passed on between services', () => {
  const info = toErrorInfo(new NotFoundError('run r1 of w1 is closed', { details: { workflowId: 'w1', runId: 'r1' } }));

  it('keeps a received error’s details under remote', () => {
    expect(fromErrorInfo(info).details).toEqual({ remote: { workflowId: 'w1', runId: 'r1' } });
  });

  it('relayed by a router, reaches the client with the deciding router’s details under remote once', () => {
    const relayed = fromErrorInfo(info, { relay: true });
    expect(relayed.code).toBe('NOT_FOUND');
    const atClient = typedError(toErrorInfo(relayed));
    expect(atClient).toBeInstanceOf(NotFoundError);
    expect(atClient.details).toEqual({ remote: { workflowId: 'w1', runId: 'r1' } });
  });
});
