import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Alarm } from '../../../services/timer/alarm.js';
import type { Clock } from '../../../shared/clock.js';

/** A clock that moves only with vitest's fake timers, so the alarm's ends and its timeouts agree. */
const fakeClock: Clock = { now: () => Date.now() };

/** Tracks whether a sleep has ended. */
function track(p: Promise<void>): { ended: () => boolean } {
  let ended = false;
  void p.then(() => {
    ended = true;
  });
  return { ended: () => ended };
}

describe('Alarm', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sleeps the given time, and knows when it ends', async () => {
    const alarm = new Alarm(fakeClock);
    const s = track(alarm.sleep(500, new AbortController().signal));
    expect(alarm.until).toBe(1_000_500);
    await vi.advanceTimersByTimeAsync(499);
    expect(s.ended()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.ended()).toBe(true);
    expect(alarm.until).toBe(Number.POSITIVE_INFINITY);
  });

  it('wakes at once for a time before the end of its sleep, not for a later one', async () => {
    const alarm = new Alarm(fakeClock);
    const s = track(alarm.sleep(10_000, new AbortController().signal));
    alarm.wakeBy(1_020_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.ended()).toBe(false);
    alarm.wakeBy(1_000_100);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.ended()).toBe(true);
  });

  it('asked while awake, ends the next sleep by that time (at once when it has passed)', async () => {
    const alarm = new Alarm(fakeClock);
    alarm.wakeBy(1_000_200);
    const first = track(alarm.sleep(10_000, new AbortController().signal));
    await vi.advanceTimersByTimeAsync(200);
    expect(first.ended()).toBe(true);
    // The wish is used up: the sleep after it runs its full length.
    const second = track(alarm.sleep(300, new AbortController().signal));
    await vi.advanceTimersByTimeAsync(299);
    expect(second.ended()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(second.ended()).toBe(true);
    alarm.wakeBy(Number.NEGATIVE_INFINITY);
    const third = track(alarm.sleep(10_000, new AbortController().signal));
    await vi.advanceTimersByTimeAsync(0);
    expect(third.ended()).toBe(true);
  });

  it('ends a sleep when its signal aborts, and does not sleep on an aborted one', async () => {
    const alarm = new Alarm(fakeClock);
    const stopping = new AbortController();
    const s = track(alarm.sleep(10_000, stopping.signal));
    stopping.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.ended()).toBe(true);
    const again = track(alarm.sleep(10_000, stopping.signal));
    await vi.advanceTimersByTimeAsync(0);
    expect(again.ended()).toBe(true);
  });
});
