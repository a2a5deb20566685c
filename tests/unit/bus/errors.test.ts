import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { isConsumerNotFound, isMessageTooLarge, isStreamNotFound, JsErrorCodes } from '../../../shared/bus/errors.js';

function apiError(errCode: number, code = 404): JetStreamApiError {
  return new JetStreamApiError({ code, err_code: errCode, description: `error ${errCode}` });
}

describe('JetStream error predicates', () => {
  it('tell a missing stream from a missing consumer by their named codes', () => {
    const noStream = apiError(JetStreamApiCodes.StreamNotFound);
    const noConsumer = apiError(JetStreamApiCodes.ConsumerNotFound);
    expect([isStreamNotFound(noStream), isConsumerNotFound(noStream)]).toEqual([true, false]);
    expect([isStreamNotFound(noConsumer), isConsumerNotFound(noConsumer)]).toEqual([false, true]);
  });

  it('are false for anything that is not a JetStream API error', () => {
    const plain = Object.assign(new Error('stream not found'), { code: JetStreamApiCodes.StreamNotFound });
    expect(isStreamNotFound(plain)).toBe(false);
    expect(isConsumerNotFound(undefined)).toBe(false);
  });

  it('read an oversize publish from its code', () => {
    expect(isMessageTooLarge(apiError(JsErrorCodes.MessageSizeExceedsMaximum, 400))).toBe(true);
    expect(isMessageTooLarge(apiError(JetStreamApiCodes.StreamNotFound))).toBe(false);
  });
});
