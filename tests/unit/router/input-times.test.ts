/** Since when an input's run is republished when the input is found in it (handle-input.ts). */
import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { inputTimes } from '../../../services/router/handle-input.js';
import { MAYBE_DECIDED_HEADER } from '../../../shared/bus/direct-results.js';

const STORED_MS = 1_800_000_000_000;
const message = (deliveryCount: number, said?: number) => {
  const h = headers();
  if (said !== undefined) h.set(MAYBE_DECIDED_HEADER, String(said));
  return { info: { deliveryCount, streamSequence: 7, timestampNanos: STORED_MS * 1e6 }, headers: h };
};

describe('inputTimes', () => {
  it('gives a first delivery a time to republish since when found in its run, but does not call it redelivered', () => {
    // A nats-server killed forgets recent deliveries: a redelivery may come with a count of 1.
    expect(inputTimes(message(1))).toEqual({ foundInSince: STORED_MS - 10_000, redelivered: false });
  });

  it('calls a message delivered before, or a result saying since when, redelivered', () => {
    expect(inputTimes(message(2))).toEqual({ foundInSince: STORED_MS - 10_000, redelivered: true });
    const taskStored = STORED_MS - 60_000;
    expect(inputTimes(message(1, taskStored))).toEqual({
      foundInSince: taskStored - 10_000,
      redelivered: true,
    });
  });

  it('takes the earlier of the stored time and what the message says, and ignores a malformed header', () => {
    expect(inputTimes(message(3, STORED_MS + 5_000)).foundInSince).toBe(STORED_MS - 10_000);
    const h = headers();
    h.set(MAYBE_DECIDED_HEADER, 'soon');
    expect(inputTimes({ ...message(1), headers: h })).toEqual({ foundInSince: STORED_MS - 10_000, redelivered: false });
  });
});
