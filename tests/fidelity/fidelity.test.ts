/**
 * Issue #16's fidelity suite: every case of cases/ runs under plain XState (`createActor`, a
 * SimulatedClock) and through router, executor and timer processes (`node bin/squall.js`), all
 * cases at once through one set of services, and Squall's outcome (state value, context, status,
 * output, tags, activities called, events emitted, messages sent) must equal XState's, or differ
 * only as the case's documented deliberate differences say.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { startEngine } from '../e2e/processes.js';
import { ALL_CASES, FAMILIES } from './cases/index.js';
import { type CaseResult, runCase } from './driver.js';

const results = new Map<string, Promise<CaseResult>>();

beforeAll(async () => {
  const { client } = await startEngine({
    workflows: 'tests/fidelity/workflows.ts',
    activities: 'tests/fidelity/activities.ts',
  });
  for (const c of ALL_CASES) {
    const result = runCase(client, c);
    // Awaited by the case's test; this keeps a failure from being reported as unhandled first.
    result.catch(() => {});
    results.set(c.name, result);
  }
});

describe('XState fidelity through the service processes', () => {
  it('runs at least 60 machines, each under a unique name', () => {
    expect(ALL_CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(ALL_CASES.map((c) => c.name)).size).toBe(ALL_CASES.length);
  });

  for (const [family, cases] of Object.entries(FAMILIES)) {
    describe(family, () => {
      for (const c of cases) {
        it(c.name, async () => {
          const { plain, expected, squall } = await (results.get(c.name) as Promise<CaseResult>);
          expect(squall).toEqual(expected);
          // A deliberate difference must be one: Squall's outcome is not plain XState's.
          if (c.differences?.length) expect(expected).not.toEqual(plain);
        });
      }
    });
  }
});
