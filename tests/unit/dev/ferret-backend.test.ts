import { afterEach, describe, expect, it } from 'vitest';
import { chooseFerretBackend, ferretPostgresUrl } from '../../../services/dev/postgres.js';
import { ConfigError } from '../../../shared/errors.js';

const saved = { backend: process.env.SQUALL_FERRETDB_BACKEND, url: process.env.SQUALL_POSTGRES_URL };
afterEach(() => {
  for (const [key, value] of [
    ['SQUALL_FERRETDB_BACKEND', saved.backend],
    ['SQUALL_POSTGRES_URL', saved.url],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

/** A loopback port nobody listens on (port 1 needs root to bind and is never served here). */
const NOBODY = 'postgres://postgres@127.0.0.1:1';

describe("FerretDB's backend choice", () => {
  it('refuses an unknown SQUALL_FERRETDB_BACKEND with a ConfigError naming it', async () => {
    process.env.SQUALL_FERRETDB_BACKEND = 'mysql';
    await expect(chooseFerretBackend()).rejects.toThrow(ConfigError);
    await expect(chooseFerretBackend()).rejects.toThrow(/sqlite or postgresql, got "mysql"/);
  });

  it('takes SQLite when asked, and when no PostgreSQL answers', async () => {
    process.env.SQUALL_FERRETDB_BACKEND = 'sqlite';
    await expect(chooseFerretBackend()).resolves.toMatchObject({ kind: 'sqlite' });
    delete process.env.SQUALL_FERRETDB_BACKEND;
    process.env.SQUALL_POSTGRES_URL = NOBODY;
    await expect(chooseFerretBackend()).resolves.toMatchObject({ kind: 'sqlite', why: /PostgreSQL not usable/ });
  });

  it('fails with a ConfigError when PostgreSQL is required but does not answer', async () => {
    process.env.SQUALL_FERRETDB_BACKEND = 'postgresql';
    process.env.SQUALL_POSTGRES_URL = NOBODY;
    await expect(chooseFerretBackend()).rejects.toThrow(/PostgreSQL at 127\.0\.0\.1:1 is not usable/);
  });
});

describe("FerretDB's PostgreSQL URL", () => {
  const params = (url: string) => Object.fromEntries(new URL(url).searchParams);

  it('turns TLS off on loopback, where it encrypts every round trip for nothing', () => {
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      const url = ferretPostgresUrl({ host, port: 5432, user: 'postgres' }, 'squall_tmp_1');
      expect(params(url)).toEqual({ pool_max_conns: '40', sslmode: 'disable' });
      expect(new URL(url).pathname).toBe('/squall_tmp_1');
    }
  });

  it("keeps pgx's default for another host, and an sslmode SQUALL_POSTGRES_URL names", () => {
    expect(params(ferretPostgresUrl({ host: 'db.internal', port: 5432, user: 'postgres' }, 'd'))).toEqual({
      pool_max_conns: '40',
    });
    const url = ferretPostgresUrl({ host: '127.0.0.1', port: 6432, user: 'a b', sslmode: 'require' }, 'd');
    expect(params(url)).toEqual({ pool_max_conns: '40', sslmode: 'require' });
    expect(url).toMatch(/^postgres:\/\/a%20b@127\.0\.0\.1:6432\/d\?/);
  });
});
