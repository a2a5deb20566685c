/** The header a result carries when a router may have decided it already (shared/bus/direct-results.ts). */
import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { MAYBE_DECIDED_HEADER, maybeDecidedSince } from '../../../shared/bus/direct-results.js';

const withHeader = (v: string) => {
  const h = headers();
  h.set(MAYBE_DECIDED_HEADER, v);
  return h;
};

describe('maybeDecidedSince', () => {
  it('reads the time a result says it may have been decided since', () => {
    expect(maybeDecidedSince(withHeader('1767259800000'))).toBe(1767259800000);
  });

  it('is undefined without the header, or with one that is not a positive integer of ms', () => {
    expect(maybeDecidedSince(undefined)).toBeUndefined();
    expect(maybeDecidedSince(headers())).toBeUndefined();
    for (const bad of ['', 'soon', '-5', '0', '1.5', '1e400'])
      expect(maybeDecidedSince(withHeader(bad))).toBeUndefined();
  });
});
