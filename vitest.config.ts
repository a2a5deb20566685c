import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` needs no servers and is fast; `integration` runs against real nats-server
 * and MongoDB (or FerretDB) started once per run by tests/harness/global-setup.ts, or taken from
 * NATS_URL / MONGO_URL. Run one with `npm run test:unit` / `npm run test:integration`.
 */
/** Tests that need the real servers: started once per run by the global setup. */
const SERVERS = {
  globalSetup: ['tests/harness/global-setup.ts'],
  setupFiles: ['tests/harness/setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    // Global setup's teardown stops the servers: SIGTERM, then SIGKILL after 5 s each.
    teardownTimeout: 60_000,
    // At least two test files at once: Vitest's default (one fewer than the cores) runs them one
    // at a time on two cores, where most of an integration file's time is waiting on servers.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      {
        test: {
          name: 'unit',
          pool: 'forks',
          include: ['tests/unit/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          // Tests spawn servers and services; process isolation keeps their handles and signals apart.
          pool: 'forks',
          include: [
            'tests/integration/**/*.test.ts',
            'tests/e2e/**/*.test.ts',
            'tests/fidelity/**/*.test.ts',
            'tests/smoke/**/*.test.ts',
            'tests/fault/**/*.test.ts',
            'tests/chaos/**/*.test.ts',
          ],
          ...SERVERS,
        },
      },
    ],
  },
});
