import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors as natsErrors } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkNatsSecurity,
  describeNatsSecurity,
  maskSecrets,
  type NatsSecurity,
  natsConnectOptions,
  permanentConnectError,
  serversForLog,
} from '../../../shared/bus/auth.js';
import { ConfigError } from '../../../shared/errors.js';
import { redactUrl } from '../../../shared/log.js';

const dir = mkdtempSync(join(tmpdir(), 'squall-auth-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The message of the ConfigError `fn` throws. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('checkNatsSecurity', () => {
  it('accepts each kind with exactly its fields', () => {
    for (const s of [
      { auth: { kind: 'token', token: 't' } },
      { auth: { kind: 'user', user: 'u', password: 'p' } },
      { auth: { kind: 'nkey', seed: 'SU' } },
      { auth: { kind: 'nkey', seedFile: '/x' } },
      { auth: { kind: 'creds', credsFile: '/x' } },
      { auth: { kind: 'creds', creds: 'text' } },
      { tls: {} },
      { tls: { caFile: '/ca', certFile: '/c', keyFile: '/k' } },
    ] as NatsSecurity[]) {
      expect(checkNatsSecurity(s)).toBe(s);
    }
  });

  it('names the field that is wrong, never a value', () => {
    const bad = (s: unknown) => configError(() => checkNatsSecurity(s as NatsSecurity));
    expect(bad({ auth: { kind: 'jwt' } })).toBe('nats.auth.kind must be one of token, user, nkey, creds');
    expect(bad({ auth: { kind: 'user', user: 'u' } })).toBe('nats.auth of kind user takes user + password; got user');
    expect(bad({ auth: { kind: 'nkey', seed: 'SUA', seedFile: '/f' } })).toBe(
      'nats.auth of kind nkey takes seed or seedFile; got seed, seedFile',
    );
    expect(bad({ auth: { kind: 'token', token: '' } })).toBe('nats.auth.token must be a non-empty string');
    expect(bad({ tls: { certFile: '/c' } })).toBe(
      'nats.tls.certFile and nats.tls.keyFile go together (mutual TLS needs both)',
    );
  });
});

describe('natsConnectOptions', () => {
  it('maps token and user/password onto nats.js options, TLS files onto tls', () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'PEM');
    expect(natsConnectOptions({ auth: { kind: 'token', token: 't' } })).toEqual({ token: 't' });
    expect(natsConnectOptions({ auth: { kind: 'user', user: 'u', password: 'p' } })).toEqual({ user: 'u', pass: 'p' });
    expect(natsConnectOptions({ tls: { caFile: ca } })).toEqual({ tls: { caFile: ca } });
    expect(natsConnectOptions({ tls: {} })).toEqual({ tls: {} });
    expect(natsConnectOptions(undefined)).toEqual({});
  });

  it('reads seed and creds files up front: a missing or empty one is a ConfigError naming the path', () => {
    const empty = join(dir, 'empty.nk');
    writeFileSync(empty, '\n');
    expect(configError(() => natsConnectOptions({ auth: { kind: 'nkey', seedFile: join(dir, 'none.nk') } }))).toBe(
      `cannot read the NATS NKey seed file ${join(dir, 'none.nk')}: ENOENT`,
    );
    expect(configError(() => natsConnectOptions({ auth: { kind: 'nkey', seedFile: empty } }))).toBe(
      `the NATS NKey seed file ${empty} is empty`,
    );
    expect(configError(() => natsConnectOptions({ tls: { caFile: join(dir, 'none.pem') } }))).toContain(
      'cannot read the NATS TLS CA file',
    );
  });
});

describe('what logs and errors may show', () => {
  it('summarises auth kind and TLS mode', () => {
    expect(describeNatsSecurity(undefined)).toEqual({ auth: 'none', tls: 'off' });
    expect(describeNatsSecurity({ auth: { kind: 'token', token: 'x' }, tls: { caFile: '/ca' } })).toEqual({
      auth: 'token',
      tls: 'server',
    });
    expect(describeNatsSecurity({ tls: { certFile: '/c', keyFile: '/k' } })).toEqual({ auth: 'none', tls: 'mutual' });
  });

  it('masks passwords and bare userinfo in URLs', () => {
    expect(redactUrl('mongodb://app:pa55@db:27017/?tls=true')).toBe('mongodb://app:***@db:27017/?tls=true');
    expect(redactUrl('mongodb+srv://app:p@cluster.example.com/')).toBe('mongodb+srv://app:***@cluster.example.com/');
    expect(redactUrl('nats://tok@a:4222,nats://u:p@b:4222')).toBe('nats://***@a:4222,nats://u:***@b:4222');
    expect(redactUrl('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
    expect(serversForLog(['nats://u:p@a:1', 'tls://b:2'])).toBe('nats://u:***@a:1, tls://b:2');
  });

  it('masks every secret of the options and the URLs in a message', () => {
    const sec: NatsSecurity = { auth: { kind: 'token', token: 'tok-123456' } };
    expect(maskSecrets('bad tok-123456 and hunter22', 'nats://u:hunter22@h:1', sec)).toBe('bad *** and ***');
  });

  it('turns refused credentials into a ConfigError naming servers and auth kind, other failures into nothing', () => {
    const sec: NatsSecurity = { auth: { kind: 'user', user: 'u', password: 'pw-secret' } };
    const refused = permanentConnectError(
      new natsErrors.AuthorizationError('Authorization Violation'),
      'nats://h:1',
      sec,
    );
    expect(refused).toBeInstanceOf(ConfigError);
    expect(refused?.message).toBe('NATS at nats://h:1 refused the credentials (auth: user): Authorization Violation');
    expect(refused?.details).toEqual({ servers: 'nats://h:1', auth: 'user', tls: 'off' });
    const tls = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    expect(permanentConnectError(tls, 'nats://h:1', { tls: {} })?.message).toBe(
      'TLS with NATS at nats://h:1 failed (tls: server, auth: none): self-signed certificate in certificate chain',
    );
    const refusedSocket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(permanentConnectError(refusedSocket, 'nats://h:1', sec)).toBeUndefined();
  });
});
