/**
 * Waits on user events in the pure core, through the test kit: the waits a run declares follow
 * its states (RunState.eventWaits, `watchEvents` commands), a filter decides who wakes, a stale
 * event is ignored, sleep-or-event and all-of-events work, and replay rebuilds the same state.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { defineWorkflow } from '../../../shared/engine/index.js';
import type { Command } from '../../../shared/engine/types.js';
import { waitForEvent } from '../../../shared/engine/wait-for-event.js';
import { InvalidInputError } from '../../../shared/errors.js';
import type { SignalReceivedEvent } from '../../../shared/history/events.js';
import { createTestRun } from '../../../shared/testing/index.js';
import { gatherer, late, sleeper, waiter } from '../../fixtures/events/workflows.js';

type Watch = Extract<Command, { kind: 'watchEvents' }>;
const watches = (commands: readonly Command[]): Watch[] => commands.filter((c): c is Watch => c.kind === 'watchEvents');

describe('waitForEvent', () => {
  it('indexes the wait on entering the state and drops it on leaving; the label and payload reach the machine', async () => {
    const run = await createTestRun(waiter, { input: { tier: 'gold' }, start: 5_000 });
    expect(run.state.eventWaits).toEqual({
      'price-drop': {
        key: 'price-drop',
        since: 5_000,
        filter: { tier: { $in: ['gold', 'all'] } },
        label: 'gold price drop',
      },
    });
    expect(watches(run.commands)).toEqual([
      { kind: 'watchEvents', add: [run.state.eventWaits?.['price-drop']], remove: [] },
    ]);
    expect(await run.publishEvent('price-drop', { tier: 'silver' })).toBeUndefined();
    expect(run.status).toBe('running');
    await run.publishEvent('price-drop', { tier: 'gold', pct: 10 }, { eventId: 'ev-1' });
    expect(run.status).toBe('completed');
    expect(run.output).toEqual({ how: 'event', eventId: 'ev-1', payload: { tier: 'gold', pct: 10 } });
    expect(run.state.eventWaits).toBeUndefined();
    expect(watches(run.commands).at(-1)).toEqual({ kind: 'watchEvents', add: [], remove: ['price-drop'] });
    const received = run.history
      .flatMap((c) => c.events)
      .find((e) => e.type === 'SignalReceived') as SignalReceivedEvent;
    expect(received.signal).toMatchObject({
      type: 'squall.event.price-drop',
      label: 'gold price drop',
      eventId: 'ev-1',
    });
    expect(run.replay()).toEqual(run.state);
  });

  it('the machine guard decides again: a delivered event the filter refuses is ignored as stale', async () => {
    const run = await createTestRun(waiter, { input: { tier: 'silver' } });
    const d = await run.signal({
      type: 'squall.event.price-drop',
      key: 'price-drop',
      eventId: 'x',
      publishedAt: 0,
      payload: { tier: 'gold' },
    });
    expect(d.events[0]).toMatchObject({ type: 'SignalReceived', ignored: 'stale' });
    expect(run.status).toBe('running');
    await run.publishEvent('price-drop', { tier: 'all' });
    expect(run.status).toBe('completed');
  });

  it('an event for a key the run does not wait on is stale, not unhandled', async () => {
    const run = await createTestRun(waiter, { input: { tier: 'gold' } });
    const d = await run.signal({ type: 'squall.event.other', key: 'other', eventId: 'x', publishedAt: 0 });
    expect(d.events[0]).toMatchObject({ type: 'SignalReceived', ignored: 'stale' });
    expect(d.commands).toEqual([]);
  });

  it('a run whose definition declares no wait costs no command and no state', async () => {
    const machine = createMachine({ initial: 'a', states: { a: { on: { go: 'b' } }, b: { type: 'final' } } });
    const plain = await createTestRun(defineWorkflow({ name: 'plain', version: 1, machine }));
    await plain.signal({ type: 'go' });
    expect(plain.state.eventWaits).toBeUndefined();
    expect(watches(plain.commands)).toEqual([]);
  });

  it('refuses a bad key, filter or label when the machine is defined', () => {
    expect(() => waitForEvent({ key: 'a.b', target: 'x' })).toThrow(InvalidInputError);
    expect(() => waitForEvent({ key: 'k', filter: { n: { $gt: [] } } as never })).toThrow(
      /\$gt must be a finite number/,
    );
    expect(() => waitForEvent({ key: 'k', label: 'x'.repeat(200) })).toThrow(/label/);
  });
});

describe('sleep or event, all of several events, since', () => {
  it('sleepOrEvent: the event wins before the timer', async () => {
    const run = await createTestRun(sleeper);
    await run.advanceBy(1_000);
    await run.publishEvent('approved', { by: 'ann' });
    expect(run.output).toMatchObject({ how: 'event', payload: { by: 'ann' } });
    expect(run.pendingTimers()).toEqual([]);
  });

  it('sleepOrEvent: the timer wins and the wait is dropped', async () => {
    const run = await createTestRun(sleeper);
    await run.advanceBy(2_000);
    expect(run.output).toEqual({ how: 'timeout' });
    expect(watches(run.commands).at(-1)).toEqual({ kind: 'watchEvents', add: [], remove: ['approved'] });
    expect(await run.publishEvent('approved', {})).toBeUndefined();
  });

  it('allOfEvents: both events in any order, each region stops waiting on its own key', async () => {
    const run = await createTestRun(gatherer);
    expect(Object.keys(run.state.eventWaits ?? {}).sort()).toEqual(['credit-ok', 'stock-ok']);
    await run.publishEvent('credit-ok', { limit: 5 });
    expect(Object.keys(run.state.eventWaits ?? {})).toEqual(['stock-ok']);
    expect(await run.publishEvent('credit-ok', { limit: 6 })).toBeUndefined();
    expect(run.status).toBe('running');
    await run.publishEvent('stock-ok', { units: 2 });
    expect(run.output).toEqual({ 'credit-ok': { limit: 5 }, 'stock-ok': { units: 2 } });
    expect(run.replay()).toEqual(run.state);
  });

  it("a wait entered later starts at that time, or at the run's start with since: 'runStart'", async () => {
    const fromNow = await createTestRun(late, { input: { since: false }, start: 1_000 });
    await fromNow.advanceBy(500);
    await fromNow.signal({ type: 'listen' });
    expect(fromNow.state.eventWaits?.['late-news']?.since).toBe(1_500);
    const sinceStart = await createTestRun(late, { input: { since: true }, start: 1_000 });
    await sinceStart.advanceBy(500);
    await sinceStart.signal({ type: 'listen' });
    expect(sinceStart.state.eventWaits?.['late-news']?.since).toBe(1_000);
  });
});
