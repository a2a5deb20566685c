/**
 * Every way of authenticating to NATS and securing the connection, each against its own
 * nats-server: the services and the client connect with it and run the order workflow end to end
 * (signal, activities, timer); wrong credentials fail at once with a ConfigError naming the server
 * and the auth kind; and no secret shows in any log line, error message or CLI output.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadActivities } from '../../../services/common/load-modules.js';
import { startExecutor } from '../../../services/executor/executor.js';
import type { NatsSecurity } from '../../../shared/bus/auth.js';
import { connectBus } from '../../../shared/bus/connect.js';
import { connect } from '../../../shared/client/index.js';
import { ConfigError } from '../../../shared/errors.js';
import { runCli } from '../../harness/cli.js';
import { freshPrefix } from '../../harness/index.js';
import { makeTestPki, newUserNkey, operatorSetup, secureNatsServer, tempDir } from '../../harness/secure-nats.js';
import { capturingLogger, runOrders, startStack } from './helpers.js';

/** One mode: the server's config, good and wrong credentials, the secrets that must never show. */
interface Mode {
  name: string;
  config: Record<string, unknown>;
  good: NatsSecurity;
  wrong: NatsSecurity;
  /** Flags/variables the CLI takes for the wrong credentials. */
  wrongEnv: Record<string, string>;
  secrets: string[];
}

const secret = (): string => `s3cret-${randomBytes(12).toString('hex')}`;

function modes(): Mode[] {
  const dir = tempDir('nats-auth');
  const pki = makeTestPki(dir);
  const token = secret();
  const wrongToken = secret();
  const password = secret();
  const wrongPassword = secret();
  const nkey = newUserNkey();
  const otherNkey = newUserNkey();
  const seedFile = join(dir, 'user.nk');
  const otherSeedFile = join(dir, 'other.nk');
  writeFileSync(seedFile, `${nkey.seed}\n`);
  writeFileSync(otherSeedFile, otherNkey.seed);
  const operator = operatorSetup();
  const credsFile = join(dir, 'user.creds');
  const creds = operator.userCreds('squall');
  writeFileSync(credsFile, creds);
  const foreignCreds = join(dir, 'foreign.creds');
  writeFileSync(foreignCreds, operatorSetup().userCreds('stranger'));
  const serverTls = { cert_file: pki.serverCert, key_file: pki.serverKey };
  return [
    {
      name: 'token',
      config: { authorization: { token } },
      good: { auth: { kind: 'token', token } },
      wrong: { auth: { kind: 'token', token: wrongToken } },
      wrongEnv: { SQUALL_NATS_TOKEN: wrongToken },
      secrets: [token, wrongToken],
    },
    {
      name: 'user and password',
      config: { authorization: { users: [{ user: 'squall', password }] } },
      good: { auth: { kind: 'user', user: 'squall', password } },
      wrong: { auth: { kind: 'user', user: 'squall', password: wrongPassword } },
      wrongEnv: { SQUALL_NATS_USER: 'squall', SQUALL_NATS_PASSWORD: wrongPassword },
      secrets: [password, wrongPassword],
    },
    {
      name: 'NKey seed file',
      config: { authorization: { users: [{ nkey: nkey.publicKey }] } },
      good: { auth: { kind: 'nkey', seedFile } },
      wrong: { auth: { kind: 'nkey', seedFile: otherSeedFile } },
      wrongEnv: { SQUALL_NATS_NKEY_SEED_FILE: otherSeedFile },
      secrets: [nkey.seed, otherNkey.seed],
    },
    {
      name: '.creds file (JWT)',
      config: operator.config,
      good: { auth: { kind: 'creds', credsFile } },
      wrong: { auth: { kind: 'creds', credsFile: foreignCreds } },
      wrongEnv: { SQUALL_NATS_CREDS: foreignCreds },
      secrets: credsSecrets(creds),
    },
    {
      name: 'TLS with a CA file',
      config: { tls: serverTls, authorization: { token } },
      good: { auth: { kind: 'token', token }, tls: { caFile: pki.caFile } },
      // A CA that did not sign the server's certificate: the handshake must fail, not be retried.
      wrong: { auth: { kind: 'token', token }, tls: { caFile: pki.otherCaFile } },
      wrongEnv: { SQUALL_NATS_TOKEN: token, SQUALL_NATS_TLS_CA: pki.otherCaFile },
      secrets: [token],
    },
    {
      name: 'mutual TLS',
      config: { tls: { ...serverTls, ca_file: pki.caFile, verify: true } },
      good: { tls: { caFile: pki.caFile, certFile: pki.clientCert, keyFile: pki.clientKey } },
      // The server's own certificate is no client certificate (its usage is serverAuth only).
      wrong: { tls: { caFile: pki.caFile, certFile: pki.serverCert, keyFile: pki.serverKey } },
      wrongEnv: {
        SQUALL_NATS_TLS_CA: pki.caFile,
        SQUALL_NATS_TLS_CERT: pki.serverCert,
        SQUALL_NATS_TLS_KEY: pki.serverKey,
      },
      secrets: [],
    },
  ];
}

/** The JWT and the seed of a `.creds` file: either would let someone in. */
function credsSecrets(creds: string): string[] {
  return creds.split('\n').filter((l) => l.length > 40 && !l.startsWith('-'));
}

describe('NATS credentials and TLS', () => {
  for (const mode of modes()) {
    describe(mode.name, () => {
      it('lets the services and the client run the order workflow end to end', { timeout: 90_000 }, async () => {
        const server = await secureNatsServer(mode.config, mode.good);
        const stack = await startStack(server.url, { all: mode.good });
        await runOrders(stack.client, 'auth');
        const connected = stack.lines.filter((l) => l.includes('"connected to NATS"'));
        expect(connected.length).toBeGreaterThanOrEqual(3);
        for (const l of connected) expect(JSON.parse(l)).toMatchObject({ auth: mode.good.auth?.kind ?? 'none' });
        await stack.stop();
        expectNoSecret(stack.lines, mode.secrets);
      });

      it('refuses wrong credentials at once with a ConfigError naming the server, and prints no secret', {
        timeout: 60_000,
      }, async () => {
        const server = await secureNatsServer(mode.config, mode.good);
        const hostPort = `127.0.0.1:${server.port}`;
        const texts: string[] = [];
        const lines: string[] = [];

        const clientErr = await connect({ servers: server.url, nats: mode.wrong }).catch((e: unknown) => e);
        expect(clientErr).toBeInstanceOf(ConfigError);
        // A service waits forever for a server that is away, but not for one that refuses it.
        const serviceErr = await startExecutor({
          natsUrl: server.url,
          nats: mode.wrong,
          prefix: freshPrefix(),
          activities: await loadActivities('examples/order/activities.ts'),
          log: capturingLogger(lines),
        }).catch((e: unknown) => e);
        expect(serviceErr).toBeInstanceOf(ConfigError);
        const busErr = await connectBus({ servers: server.url, nats: mode.wrong, log: capturingLogger(lines) }).catch(
          (e: unknown) => e,
        );
        expect(busErr).toBeInstanceOf(ConfigError);
        for (const err of [clientErr, serviceErr, busErr] as ConfigError[]) {
          expect(err.message).toContain(hostPort);
          expect(err.details).toMatchObject({ auth: mode.wrong.auth?.kind ?? 'none' });
          texts.push(err.message, JSON.stringify(err.details), String((err.cause as Error | undefined)?.message));
        }

        const cli = await runCli(['query', 'o-1', '--nats', server.url], mode.wrongEnv);
        expect(cli.code).toBe(1);
        expect(cli.lines).toEqual([]);
        expect(JSON.parse(cli.err.join('\n'))).toMatchObject({ error: { code: 'CONFIG' } });
        expect(cli.err.join('\n')).toContain(hostPort);
        expectNoSecret([...texts, ...lines, ...cli.err], mode.secrets);
      });
    });
  }

  it('masks credentials given in the URL, in errors and logs', { timeout: 30_000 }, async () => {
    const password = secret();
    const server = await secureNatsServer(
      { authorization: { users: [{ user: 'squall', password }] } },
      { auth: { kind: 'user', user: 'squall', password } },
    );
    const wrong = secret();
    const url = `nats://squall:${wrong}@127.0.0.1:${server.port}`;
    const lines: string[] = [];
    const err = await connectBus({ servers: url, log: capturingLogger(lines) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(`nats://squall:***@127.0.0.1:${server.port}`);
    const cli = await runCli(['list', '--nats', url]);
    expect(cli.code).toBe(1);
    expectNoSecret([(err as Error).message, ...lines, ...cli.err], [wrong, password]);
  });
});

function expectNoSecret(texts: string[], secrets: string[]): void {
  const all = texts.join('\n');
  expect(all.length).toBeGreaterThan(0);
  for (const s of secrets) expect(all.includes(s), `a secret (${s.slice(0, 6)}…) was printed`).toBe(false);
}
