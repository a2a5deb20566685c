/**
 * An in-process router over the real servers whose store the test wraps (to fail a write on
 * demand, say), with a client, a NATS connection and the router's warn-level log lines.
 */
import { afterEach } from 'vitest';
import { type RouterFaultHooks, withRouterFaults } from '../../../services/router/faults.js';
import type { RouterOptions } from '../../../services/router/options.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { createLogger } from '../../../shared/log.js';
import { createMongoStore, type Store } from '../../../shared/store/index.js';
import { stepsWorkflow as steps } from '../../fixtures/workflows.js';
import { connectMongo, connectNats, freshDbName, freshPrefix, natsUrl } from '../../harness/index.js';

/** The router tests' workflow (tests/fixtures/workflows.ts), under its short name. */
export { steps };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

export interface WrappedRouter {
  /** The real store, unwrapped, for checks. */
  store: Store;
  client: SquallClient;
  nc: Awaited<ReturnType<typeof connectNats>>;
  prefix: string;
  logs: Record<string, unknown>[];
}

/**
 * Starts a router on a fresh namespace with `wrap(store)` as its store (and `faults` as its
 * test-only crash points); stopped after the test.
 */
export async function routerWithStore(
  wrap: (store: Store) => Store,
  options: Partial<Pick<RouterOptions, 'summaryDelayMs' | 'runCacheSize' | 'takenWaitMs'>> = {},
  faults: RouterFaultHooks = {},
): Promise<WrappedRouter> {
  const prefix = freshPrefix();
  const dbName = freshDbName();
  const mongo = await connectMongo();
  const store = createMongoStore(mongo, { dbName, collectionPrefix: prefix });
  await store.init();
  const logs: Record<string, unknown>[] = [];
  const router = await withRouterFaults(faults)({
    natsUrl: natsUrl(),
    store: wrap(store),
    prefix,
    workflows: [steps],
    upkeepIntervalMs: 200,
    ...options,
    log: createLogger({ level: 'warn', sink: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) }),
  });
  const client = await connect({ servers: natsUrl(), prefix });
  const nc = await connectNats();
  cleanups.push(async () => {
    await client.close();
    await router.stop();
    await nc.close();
    await mongo.db(dbName).dropDatabase();
    await mongo.close();
  });
  return { store, client, nc, prefix, logs };
}
