/**
 * Finds the server binaries for local runs: a MongoDB-compatible server (mongod, else FerretDB on
 * PATH, else a cached FerretDB build, else a fresh build with Go), and the lookups nats-binary.ts
 * shares (PATH, cache dir, Go).
 */
import { accessSync, constants, existsSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { goBuild } from './go-build.js';

/** The FerretDB release Squall builds and tests against. */
export const FERRETDB_VERSION = 'v1.24.2';

/** What kind of server a binary is. */
export type ServerKind = 'nats-server' | 'mongod' | 'ferretdb';

/** A server binary that was found. */
export interface ServerBinary {
  kind: ServerKind;
  path: string;
}

// Debian installs nats-server in /usr/sbin, which a non-root PATH often lacks.
const EXTRA_DIRS = [
  '/usr/sbin',
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/local/go/bin',
  join(homedir(), 'go', 'bin'),
];

/** Absolute path of an executable named `name` on PATH (plus the usual sbin and Go dirs), if any. */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Where built binaries are cached: `$SQUALL_CACHE_DIR`, default `~/.cache/squall`. */
export function defaultCacheDir(): string {
  return process.env.SQUALL_CACHE_DIR || join(homedir(), '.cache', 'squall');
}

/** Path of the cached FerretDB build inside `cacheDir`. */
export function ferretdbCachePath(cacheDir: string = defaultCacheDir()): string {
  return join(cacheDir, `ferretdb-${FERRETDB_VERSION}`, 'bin', 'ferretdb');
}

/** Options for finding (and if needed building) a server binary. */
export interface FindServerOptions {
  /** @default defaultCacheDir() */
  cacheDir?: string;
  /** Build the server with Go when no suitable binary is found. @default true */
  build?: boolean;
  /** Progress of a build, and warnings. @default a JSON logger on stderr */
  log?: Logger;
}

/** Options for findMongoServer and ensureFerretdb. */
export type FindMongoOptions = FindServerOptions;

/**
 * Finds a MongoDB-compatible server: `$SQUALL_MONGO_BIN`, else mongod on PATH, else ferretdb on
 * PATH, else the cached FerretDB build, else builds FerretDB now (1 to 5 minutes cold, with Go).
 */
export async function findMongoServer(opts: FindMongoOptions = {}): Promise<ServerBinary> {
  const override = process.env.SQUALL_MONGO_BIN;
  if (override) {
    const path = checkExecutable(override, 'SQUALL_MONGO_BIN');
    return { kind: /ferretdb/i.test(path) ? 'ferretdb' : 'mongod', path };
  }
  const mongod = which('mongod');
  if (mongod) return { kind: 'mongod', path: mongod };
  const ferret = which('ferretdb');
  if (ferret) return { kind: 'ferretdb', path: ferret };
  const cached = ferretdbCachePath(opts.cacheDir);
  if (existsSync(cached)) return { kind: 'ferretdb', path: cached };
  if (opts.build === false) throw noMongoError(cached, 'building was disabled');
  return { kind: 'ferretdb', path: await ensureFerretdb(opts) };
}

/**
 * Returns the cached FerretDB binary, building it first if needed (see goBuild). The build adds
 * `build/version/version.txt` to a copy of the module: a binary built without it panics at start.
 */
export async function ensureFerretdb(opts: FindMongoOptions = {}): Promise<string> {
  const target = ferretdbCachePath(opts.cacheDir);
  if (existsSync(target)) return target;
  const go = findGo();
  if (!go) throw noMongoError(target, 'Go was not found');
  return await goBuild({
    module: 'github.com/FerretDB/FerretDB',
    version: FERRETDB_VERSION,
    pkg: './cmd/ferretdb',
    target,
    go,
    log: opts.log ?? createLogger({ fields: { service: 'dev' } }),
    prepare: (src) => writeFileSync(join(src, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`),
  });
}

/** The `go` binary on PATH or in /usr/local/go/bin, if any. */
export function findGo(): string | undefined {
  return which('go');
}

function noMongoError(cached: string, why: string): ConfigError {
  return new ConfigError(
    `No MongoDB-compatible server found (${why}). Do one of: install mongod and put it on PATH; put ferretdb on PATH; ` +
      `install Go >= 1.22 (https://go.dev/dl/, or /usr/local/go/bin on PATH) so Squall builds FerretDB ${FERRETDB_VERSION} ` +
      `into ${cached} (run \`npm run servers:build\`); point SQUALL_MONGO_BIN at a binary; or set MONGO_URL to a running MongoDB.`,
  );
}

/** `path` when it is executable, else a ConfigError naming `variable`, where it came from. */
export function checkExecutable(path: string, variable: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new ConfigError(`${variable}=${path} is not an executable file`);
  }
}
