/**
 * FerretDB's PostgreSQL backend for the local launcher. FerretDB 1.24 on SQLite scans the whole
 * collection for every query, even `_id` equality, so every store operation grows with the data;
 * on PostgreSQL, with the trigger of ferret-pushdown.ts, indexes serve its lookups. With
 * SQUALL_FERRETDB_BACKEND=postgresql (every machine of this project's kind runs PostgreSQL on 127.0.0.1:5432 with trust auth), the
 * launcher gives each FerretDB its own throwaway PostgreSQL database.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { pushdownIndexesSql } from './ferret-pushdown.js';
import { tcpReachable } from './process.js';

/** Where FerretDB keeps its data. */
export type FerretBackend =
  | { kind: 'sqlite'; why: string }
  | { kind: 'postgresql'; url: string; database: string; drop(): void };

/**
 * PostgreSQL connections one FerretDB may hold. Above what its clients send at once (see
 * FERRETDB_CLIENT_POOL): an update holds one connection for its query and needs another for its
 * write, so clients sending as many concurrent updates as the pool holds would wedge it.
 */
const POOL_MAX_CONNS = 40;

/** Prefix of the databases the launcher creates; the owner's pid follows, so orphans can be found. */
const DB_PREFIX = 'squall_tmp_';

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  /** `sslmode` of SQUALL_POSTGRES_URL, when it names one. */
  sslmode?: string;
}

function target(): PgTarget {
  const base = new URL(process.env.SQUALL_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432');
  const sslmode = base.searchParams.get('sslmode');
  return {
    host: base.hostname,
    port: Number(base.port || 5432),
    user: decodeURIComponent(base.username || 'postgres'),
    ...(sslmode ? { sslmode } : {}),
  };
}

/** Whether `host` is this machine's loopback. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * FerretDB's URL of `database` on `t`. Its PostgreSQL driver (pgx) negotiates TLS when the server
 * offers it, as Debian's does with its snakeoil certificate: on loopback that encrypts every
 * round trip for nothing (19% of FerretDB's CPU in a profile of one insert at a time; without it
 * PostgreSQL's CPU per insert fell about 15%), so a loopback
 * target gets `sslmode=disable` unless SQUALL_POSTGRES_URL names an sslmode of its own; any
 * other host keeps pgx's default (prefer).
 */
export function ferretPostgresUrl(t: PgTarget, database: string): string {
  const url = new URL(`postgres://${encodeURIComponent(t.user)}@${t.host}:${t.port}/${database}`);
  url.searchParams.set('pool_max_conns', String(POOL_MAX_CONNS));
  const sslmode = t.sslmode ?? (isLoopback(t.host) ? 'disable' : undefined);
  if (sslmode !== undefined) url.searchParams.set('sslmode', sslmode);
  return url.toString();
}

function pg(tool: 'createdb' | 'dropdb' | 'psql', t: PgTarget, args: string[]): string {
  return execFileSync(tool, ['-h', t.host, '-p', String(t.port), '-U', t.user, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 15_000,
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs SQL with psql in `database` on the launcher's PostgreSQL (SQUALL_POSTGRES_URL) and returns
 * its unaligned, tuples-only output; throws on an SQL error. For tests and measurements.
 */
export function psqlQuery(database: string, sql: string): string {
  return pg('psql', target(), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql]);
}

/** Drops databases left by launchers that died without cleaning up. */
function dropOrphans(t: PgTarget): void {
  const names = pg('psql', t, [
    '-At',
    '-d',
    'postgres',
    '-c',
    `select datname from pg_database where datname like '${DB_PREFIX}%'`,
  ])
    .split('\n')
    .filter(Boolean);
  for (const name of names) {
    const pid = Number(name.slice(DB_PREFIX.length).split('_')[0]);
    if (Number.isInteger(pid) && !alive(pid)) pg('dropdb', t, ['--if-exists', '--force', name]);
  }
}

/**
 * Adds the trigger that makes FerretDB's lookups indexable (see ferret-pushdown.ts). Without it
 * (PostgreSQL user not a superuser) everything still works, with a table scan per lookup.
 */
function installPushdownIndexes(t: PgTarget, database: string): void {
  try {
    pg('psql', t, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', pushdownIndexesSql(database)]);
  } catch (err) {
    createLogger({ fields: { service: 'dev' } }).warn(
      `FerretDB's lookups will scan whole tables: installing the GIN pushdown trigger in ${database} failed ` +
        '(it needs a PostgreSQL superuser)',
      { err: (err as Error).message.split('\n').slice(0, 3).join(' ') },
    );
  }
}

/**
 * Picks FerretDB's backend: PostgreSQL when the local one answers (FerretDB 1.24 on SQLite scans
 * whole collections, even for `_id`, and serializes every write, so it falls far behind under
 * load), else SQLite. `SQUALL_FERRETDB_BACKEND=sqlite|postgresql` forces one; forcing PostgreSQL
 * when it is not reachable is a ConfigError.
 */
export async function chooseFerretBackend(): Promise<FerretBackend> {
  const wanted = process.env.SQUALL_FERRETDB_BACKEND;
  if (wanted === 'sqlite') return { kind: 'sqlite', why: 'SQUALL_FERRETDB_BACKEND=sqlite' };
  if (wanted !== undefined && wanted !== '' && wanted !== 'postgresql') {
    throw new ConfigError(`SQUALL_FERRETDB_BACKEND must be sqlite or postgresql, got ${JSON.stringify(wanted)}`);
  }
  const t = target();
  try {
    await tcpReachable(t.host, t.port, 1_000);
    dropOrphans(t);
    const database = `${DB_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
    pg('createdb', t, [database]);
    installPushdownIndexes(t, database);
    return {
      kind: 'postgresql',
      database,
      // PostgreSQL allows 100 connections by default and one FerretDB's pool grew past 35, so a
      // few servers (the shared one, fault tests' private ones, a bench) starved each other.
      url: ferretPostgresUrl(t, database),
      drop: () => {
        try {
          pg('dropdb', t, ['--if-exists', '--force', database]);
        } catch {
          // Left for the next launcher's orphan sweep.
        }
      },
    };
  } catch (err) {
    if (wanted !== 'postgresql') {
      return { kind: 'sqlite', why: `PostgreSQL not usable: ${(err as Error).message.split('\n')[0]}` };
    }
    throw new ConfigError(
      `FerretDB's PostgreSQL backend: PostgreSQL at ${t.host}:${t.port} is not usable: ${(err as Error).message.split('\n')[0]}`,
      { cause: err },
    );
  }
}
