import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadActivities, loadWorkflows } from '../../../services/common/load-modules.js';
import type { ActivityContext } from '../../../shared/engine/activity.js';
import { ConfigError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/log.js';

const fixture = (name: string): string => path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', name);

describe('loadWorkflows', () => {
  it('returns every definition a .ts module exports, once each', async () => {
    const defs = await loadWorkflows(fixture('workflows.ts'));
    expect(defs.map((d) => `${d.name}@${d.version}`).sort()).toEqual(['greet@1', 'greet@2']);
  });

  it('reads an array default export from a .js module', async () => {
    const defs = await loadWorkflows(fixture('workflows-default.js'));
    expect(defs.map((d) => d.name)).toEqual(['fromJs']);
  });

  it('resolves a path relative to the working directory', async () => {
    const rel = path.relative(process.cwd(), fixture('workflows.ts'));
    expect(await loadWorkflows(rel)).toHaveLength(2);
  });

  it('refuses a module with no definition, listing what it saw', async () => {
    const err = await loadWorkflows(fixture('nothing.ts')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/exports no workflow definition.*answer: number, helper: function/);
  });

  it('refuses a missing file with its absolute path', async () => {
    const err = await loadWorkflows('./no/such/workflows.ts').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`workflow module not found: ${path.resolve('./no/such/workflows.ts')}`);
  });

  it('wraps an import failure in a ConfigError with the cause', async () => {
    const err = await loadWorkflows(fixture('broken.js')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/failed to load: boom at import/);
    expect((err as Error).cause).toBeInstanceOf(Error);
  });
});

describe('loadActivities', () => {
  it('names function exports after the export and keeps defineActivity names and options', async () => {
    const defs = await loadActivities(fixture('activities.ts'));
    const byName = Object.fromEntries(defs.map((d) => [d.name, d]));
    expect(Object.keys(byName).sort()).toEqual(['chargeCard', 'ship-order']);
    expect(byName['ship-order']?.options.startToCloseTimeoutMs).toBe(5000);
    expect(await byName.chargeCard?.fn({ amount: 5 }, undefined as never)).toEqual({ charged: 5 });
  });

  it('reads an object default export from a .js module', async () => {
    const defs = await loadActivities(fixture('activities-default.js'));
    expect(defs.map((d) => d.name).sort()).toEqual(['one', 'two']);
  });

  it('prefers the defineActivity form when a function is also exported bare', async () => {
    const defs = await loadActivities(fixture('activities-alias.ts'));
    expect(defs).toHaveLength(1);
    expect(defs[0]?.options.retry?.maximumAttempts).toBe(2);
  });

  it('refuses two different activities with one name', async () => {
    await expect(loadActivities(fixture('activities-conflict.ts'))).rejects.toThrow(
      /two different activities named "same"/,
    );
  });

  it('refuses a module with no activity', async () => {
    const err = await loadActivities(fixture('workflows-default.js')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/exports no activity/);
  });

  it('refuses a missing file', async () => {
    await expect(loadActivities('missing-activities.js')).rejects.toThrow(/activity module not found/);
  });
});

describe('the sample order activities', () => {
  const ctx = (activitySeq: number): ActivityContext => ({
    activity: 'x',
    workflowId: 'order-1',
    runId: 'run-1',
    activitySeq,
    attempt: 1,
    idempotencyKey: `order-1/${activitySeq}`,
    signal: new AbortController().signal,
    heartbeat: () => {},
    log: silentLogger,
  });

  it('load by name and return the same result for the same idempotency key', async () => {
    const defs = await loadActivities('examples/order/activities.ts');
    const by = Object.fromEntries(defs.map((d) => [d.name, d.fn]));
    expect(Object.keys(by).sort()).toEqual(['chargeCard', 'sendEmail', 'shipOrder']);
    const charge = await by.chargeCard?.({ orderId: 'o-1', amount: 4200 }, ctx(1));
    expect(charge).toMatchObject({ orderId: 'o-1', amount: 4200, currency: 'USD', status: 'captured' });
    expect(await by.chargeCard?.({ orderId: 'o-1', amount: 4200 }, ctx(1))).toEqual(charge);
    expect(await by.chargeCard?.({ orderId: 'o-1', amount: 4200 }, ctx(2))).not.toEqual(charge);
    expect(await by.shipOrder?.({ orderId: 'o-1', items: [{ sku: 'a', quantity: 7 }] }, ctx(3))).toMatchObject({
      orderId: 'o-1',
      parcels: 2,
    });
    expect(await by.sendEmail?.({ orderId: 'o-1' }, ctx(4))).toMatchObject({ to: 'customer+o-1@example.com' });
  });

  it('refuse a bad amount as a non-retryable failure', async () => {
    const defs = await loadActivities('examples/order/activities.ts');
    const charge = defs.find((d) => d.name === 'chargeCard');
    const err = await Promise.resolve()
      .then(() => charge?.fn({ orderId: 'o-1', amount: -1 }, ctx(1)))
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ACTIVITY_FAILED', retryable: false });
  });
});
