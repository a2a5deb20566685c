import { afterEach, describe, expect, it } from 'vitest';
import { chooseFerretBackend } from '../../../services/dev/postgres.js';
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
