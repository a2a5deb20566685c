/** The blobs stream's max age outlives every message that may reference a chunk. */
import { nanos } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { blobsMaxAgeFor, defaultStreamOptions, streamConfigs } from '../../../shared/bus/streams.js';

const DAY = 24 * 60 * 60 * 1000;

describe('blobs stream age', () => {
  it('defaults to the longest message stream plus the DLQ plus a day: 38 days', () => {
    expect(defaultStreamOptions().blobsMaxAgeMs).toBe(38 * DAY);
    expect(blobsMaxAgeFor(defaultStreamOptions())).toBe(38 * DAY);
    expect(streamConfigs('p').blobs.max_age).toBe(nanos(38 * DAY));
  });

  it('follows the other ages when unset, so a chunk outlives a message kept longer', () => {
    const configs = streamConfigs('p', { eventsMaxAgeMs: 20 * DAY, dlqMaxAgeMs: 90 * DAY });
    expect(configs.blobs.max_age).toBe(nanos(111 * DAY));
    expect(configs.blobs.max_age).toBeGreaterThan(configs.events.max_age + configs.dlq.max_age);
  });

  it('takes an explicit age, and 0 keeps chunks forever', () => {
    expect(streamConfigs('p', { blobsMaxAgeMs: 2 * DAY }).blobs.max_age).toBe(nanos(2 * DAY));
    expect(streamConfigs('p', { blobsMaxAgeMs: 0 }).blobs.max_age).toBe(0);
  });
});
