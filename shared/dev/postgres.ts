/**
 * FerretDB's PostgreSQL backend for the local launcher. FerretDB 1.24 on SQLite scans the whole
 * collection for every query, even `_id` equality, so every store operation grows with the data;
 * on PostgreSQL its `_id` and compound indexes are real. When a PostgreSQL server is reachable
 * (every machine of this project's kind runs one on 127.0.0.1:5432 with trust auth), the launcher
 * gives each FerretDB its own throwaway PostgreSQL database; otherwise it falls back to SQLite.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tcpReachable } from './process.js';

/** Where FerretDB keeps its data. */
export type FerretBackend =
  | { kind: 'sqlite'; why: string }
  | { kind: 'postgresql'; url: string; database: string; drop(): void };

/** Prefix of the databases the launcher creates; the owner's pid follows, so orphans can be found. */
const DB_PREFIX = 'squall_tmp_';

interface PgTarget {
  host: string;
  port: number;
  user: string;
}

function target(): PgTarget {
  const base = new URL(process.env.SQUALL_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432');
  return {
    host: base.hostname,
    port: Number(base.port || 5432),
    user: decodeURIComponent(base.username || 'postgres'),
  };
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
 * Picks FerretDB's backend: `SQUALL_FERRETDB_BACKEND=sqlite|postgresql` forces one; by default
 * PostgreSQL when it is reachable and its client tools are installed, else SQLite (with the reason).
 */
export async function chooseFerretBackend(): Promise<FerretBackend> {
  const wanted = process.env.SQUALL_FERRETDB_BACKEND;
  if (wanted === 'sqlite') return { kind: 'sqlite', why: 'SQUALL_FERRETDB_BACKEND=sqlite' };
  const t = target();
  try {
    await tcpReachable(t.host, t.port, 1_000);
    dropOrphans(t);
    const database = `${DB_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
    pg('createdb', t, [database]);
    return {
      kind: 'postgresql',
      database,
      url: `postgres://${encodeURIComponent(t.user)}@${t.host}:${t.port}/${database}`,
      drop: () => {
        try {
          pg('dropdb', t, ['--if-exists', '--force', database]);
        } catch {
          // Left for the next launcher's orphan sweep.
        }
      },
    };
  } catch (err) {
    if (wanted === 'postgresql') throw err;
    return {
      kind: 'sqlite',
      why: `no usable PostgreSQL at ${t.host}:${t.port} (${(err as Error).message.split('\n')[0]})`,
    };
  }
}
