/**
 * nats-server with credentials and TLS for security tests: a private server started from a
 * configuration (written to its temp dir), test certificates made with the `openssl` CLI, NKeys
 * from nats.js's `nkeys`, and an operator/account/user JWT chain with a `.creds` file for JWT mode.
 * Every server is stopped after the test file.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { type LocalServer, type StartNatsOptions, startNatsServer } from '../../services/dev/index.js';
import type { NatsSecurity } from '../../shared/bus/auth.js';
import { ConfigError } from '../../shared/errors.js';
import { trackForFile } from './resources.js';

/**
 * Starts a private nats-server (JetStream on) with `config` (an object, written as JSON, which
 * nats-server reads), probed with `probeAs` when the config requires credentials or TLS.
 */
export async function secureNatsServer(
  config: Record<string, unknown>,
  probeAs?: NatsSecurity,
  opts: Omit<StartNatsOptions, 'config' | 'probeAs'> = {},
): Promise<LocalServer> {
  const server = await startNatsServer({
    ...opts,
    config: JSON.stringify(config, null, 2),
    ...(probeAs ? { probeAs } : {}),
  });
  trackForFile(() => server.stop());
  return server;
}

/** A temp dir removed after the test file. */
export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `squall-${label}-`));
  trackForFile(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** PEM files of a throwaway PKI: a CA, a server certificate for 127.0.0.1, a client certificate, a foreign CA. */
export interface TestPki {
  caFile: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: verifying the server against it fails. */
  otherCaFile: string;
}

/** Makes a TestPki in `dir` with the openssl CLI (EC P-256 keys, valid two days). */
export function makeTestPki(dir: string): TestPki {
  checkOpenssl();
  const f = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'pipe' });
  };
  const ca = (name: string): void =>
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.pem`),
      '-days',
      '2',
      '-subj',
      `/CN=squall-test-${name}`,
    );
  const leaf = (name: string, ext: string): void => {
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      f(`${name}.key`),
      '-out',
      f(`${name}.csr`),
      '-subj',
      `/CN=squall-test-${name}`,
    );
    writeFileSync(f(`${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.pem`),
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
    );
  };
  ca('ca');
  ca('other-ca');
  leaf('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  return {
    caFile: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    otherCaFile: f('other-ca.pem'),
  };
}

function checkOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'pipe' });
  } catch (err) {
    throw new ConfigError('the security tests make certificates with the openssl CLI: apt-get install openssl', {
      cause: err,
    });
  }
}

/** A user NKey: the seed the client keeps and the public key the server is told. */
export function newUserNkey(): { seed: string; publicKey: string } {
  const kp = nkeys.createUser();
  return { seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}

/** Permissions as a user JWT carries them (`pub`/`sub`), or none for all. */
export interface JwtPermissions {
  pub?: { allow: string[] };
  sub?: { allow: string[] };
}

/** An operator with one JetStream-enabled account: the server config and a way to mint users. */
export interface OperatorSetup {
  /** nats-server configuration for operator (JWT) mode with a memory resolver. */
  config: Record<string, unknown>;
  /** A `.creds` file text (user JWT and seed) for a new user of the account. */
  userCreds(name: string, permissions?: JwtPermissions): string;
}

/** Creates an operator, a system account and one application account, all signed here. */
export function operatorSetup(): OperatorSetup {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const account = nkeys.createAccount();
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const accountJwt = (kp: nkeys.KeyPair, name: string, jetstream: boolean): string =>
    encodeJwt(operator, kp.getPublicKey(), name, {
      type: 'account',
      version: 2,
      limits: {
        ...unlimited,
        ...(jetstream ? { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } : {}),
      },
    });
  const config = {
    operator: encodeJwt(operator, operator.getPublicKey(), 'squall-test', { type: 'operator', version: 2 }),
    system_account: system.getPublicKey(),
    resolver: 'MEMORY',
    resolver_preload: {
      [system.getPublicKey()]: accountJwt(system, 'SYS', false),
      [account.getPublicKey()]: accountJwt(account, 'APP', true),
    },
  };
  return {
    config,
    userCreds(name, permissions = {}) {
      const user = nkeys.createUser();
      const jwt = encodeJwt(account, user.getPublicKey(), name, {
        type: 'user',
        version: 2,
        subs: -1,
        data: -1,
        payload: -1,
        ...permissions,
      });
      const seed = new TextDecoder().decode(user.getSeed());
      return [
        '-----BEGIN NATS USER JWT-----',
        jwt,
        '------END NATS USER JWT------',
        '',
        '-----BEGIN USER NKEY SEED-----',
        seed,
        '------END USER NKEY SEED------',
        '',
      ].join('\n');
    },
  };
}

/** A NATS JWT (ed25519-nkey) with `claims` as its `nats` section, issued and signed by `issuer`. */
function encodeJwt(issuer: nkeys.KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const b64 = (data: string | Uint8Array): string => Buffer.from(data).toString('base64url');
  const body: Record<string, unknown> = {
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats,
  };
  body.jti = createHash('sha256').update(JSON.stringify(body)).digest('hex').toUpperCase();
  const signed = `${b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64(JSON.stringify(body))}`;
  return `${signed}.${b64(issuer.sign(new TextEncoder().encode(signed)))}`;
}
