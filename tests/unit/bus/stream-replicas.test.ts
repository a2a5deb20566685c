/** Stream replicas in the stream configs: applied to every stream, bounded to what JetStream allows. */
import { describe, expect, it } from 'vitest';
import { MAX_STREAM_REPLICAS, streamConfigs } from '../../../shared/bus/streams.js';
import { ConfigError } from '../../../shared/errors.js';
import { streamNames } from '../../../shared/names.js';

describe('stream replicas', () => {
  it('are 1 by default and the given count on every stream', () => {
    const streams = Object.keys(streamNames('sq')).length;
    expect(Object.values(streamConfigs('sq')).map((c) => c.num_replicas)).toEqual(Array(streams).fill(1));
    expect(Object.values(streamConfigs('sq', { replicas: 3 })).map((c) => c.num_replicas)).toEqual(
      Array(streams).fill(3),
    );
  });

  it.each([0, -1, 1.5, MAX_STREAM_REPLICAS + 1, Number.NaN])('refuses %s with a ConfigError naming the bound', (n) => {
    expect(() => streamConfigs('sq', { replicas: n })).toThrow(ConfigError);
    expect(() => streamConfigs('sq', { replicas: n })).toThrow(/stream replicas must be an integer from 1 to 5/);
  });
});
