/**
 * The progress-notice headers (shared/bus/progress.ts): what a requester asks with, what a
 * notice looks like, and that a request without a usable value gets no notices.
 */
import { headers as natsHeaders } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import {
  isProgressNotice,
  PROGRESS_HEADER,
  progressRequestValue,
  progressTimeoutOf,
} from '../../../shared/bus/progress.js';

const withProgress = (value?: string) => {
  const h = natsHeaders();
  if (value !== undefined) h.set(PROGRESS_HEADER, value);
  return { headers: h };
};

describe('progress headers', () => {
  it('carry the requester’s per-attempt timeout, a whole number of ms of at least 1', () => {
    expect(progressRequestValue(5000)).toBe('5000');
    expect(progressRequestValue(0.4)).toBe('1');
    expect(progressTimeoutOf(withProgress(progressRequestValue(300)))).toBe(300);
  });

  it('ask for no notices when absent, empty, not a positive whole number, or a notice itself', () => {
    for (const bad of [undefined, '', '0', '-5', '1.5', 'abc', 'pending']) {
      expect(progressTimeoutOf(withProgress(bad)), String(bad)).toBeUndefined();
    }
    expect(progressTimeoutOf({ headers: undefined })).toBeUndefined();
  });

  it('tell a notice from a reply', () => {
    expect(isProgressNotice(withProgress('pending'))).toBe(true);
    expect(isProgressNotice(withProgress('300'))).toBe(false);
    expect(isProgressNotice(withProgress())).toBe(false);
    expect(isProgressNotice({ headers: undefined })).toBe(false);
  });
});
