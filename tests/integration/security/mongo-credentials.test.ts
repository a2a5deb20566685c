/**
 * MongoDB credentials travel in the connection string, unchanged, and never show in a log line or
 * an error. What the harness's server can prove: FerretDB 1.24 on PostgreSQL takes credentials by
 * the PLAIN mechanism and opens its PostgreSQL connections as that user, so a run works end to end
 * with them; the local PostgreSQL trusts loopback, so a wrong *password* is not refused here (a
 * wrong mechanism is, and an unknown user fails at first use). Against mongod or Atlas the same
 * strings do full authentication; nothing in Squall reads or rewrites them.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { orderWorkflow } from '../../../examples/order/workflows.js';
import { connectStore } from '../../../services/common/service.js';
import { freePort } from '../../../services/dev/index.js';
import { startRouter } from '../../../services/router/router.js';
import { ConfigError } from '../../../shared/errors.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';
import { capturingLogger, runOrders, startStack } from './helpers.js';

const secret = (): string => `pw-${randomBytes(12).toString('hex')}`;
/** The PostgreSQL user FerretDB runs as in the harness (SQUALL_POSTGRES_URL's, default postgres). */
const pgUser = decodeURIComponent(
  new URL(process.env.SQUALL_POSTGRES_URL ?? 'postgres://postgres@x').username || 'postgres',
);

/** The harness's MongoDB URL with `user:password@` and extra query parameters. */
function withCredentials(user: string, password: string, query: Record<string, string> = {}): string {
  const url = new URL(mongoUrl());
  url.username = user;
  url.password = password;
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url.toString();
}

function expectNoSecret(texts: string[], password: string): void {
  const all = texts.join('\n');
  expect(all.length).toBeGreaterThan(0);
  expect(all.includes(password), 'the MongoDB password was printed').toBe(false);
}

describe('MongoDB credentials in the connection string', () => {
  it('are passed through to the server: the order workflow runs with them', { timeout: 60_000 }, async () => {
    const password = secret();
    const url = withCredentials(pgUser, password, { authMechanism: 'PLAIN' });
    const stack = await startStack(natsUrl(), {}, { mongoUrl: url });
    await runOrders(stack.client, 'mongo-auth');
    await stack.stop();
    expectNoSecret(stack.lines, password);
  });

  it('refused by the server are a ConfigError with the password masked', { timeout: 30_000 }, async () => {
    const password = secret();
    // FerretDB refuses the driver's default mechanism (SCRAM): a permanent failure, as a bad password is elsewhere.
    const url = withCredentials(pgUser, password);
    const lines: string[] = [];
    const err = await startRouter({
      natsUrl: natsUrl(),
      mongoUrl: url,
      prefix: freshPrefix(),
      dbName: freshDbName(),
      workflows: [orderWorkflow],
      log: capturingLogger(lines),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(`${pgUser}:***@`);
    expectNoSecret([(err as Error).message, ...lines], password);
  });

  it('of an unreachable server are masked in the retry logs', { timeout: 30_000 }, async () => {
    const password = secret();
    const url = `mongodb://app:${password}@127.0.0.1:${await freePort()}/?serverSelectionTimeoutMS=200`;
    const lines: string[] = [];
    const abort = new AbortController();
    const connecting = connectStore({
      mongoUrl: url,
      dbName: freshDbName(),
      collectionPrefix: freshPrefix(),
      log: capturingLogger(lines),
      signal: abort.signal,
    }).catch((e: unknown) => e);
    await waitFor('a retry log line', () => lines.some((l) => l.includes('mongodb connect failed')), {
      timeoutMs: 20_000,
    });
    abort.abort();
    await connecting;
    expect(lines.join('\n')).toContain('mongodb://app:***@127.0.0.1');
    expectNoSecret(lines, password);
  });
});
