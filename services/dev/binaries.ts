/**
 * Finds the server binaries for local runs: `nats-server`, and a MongoDB-compatible server
 * (mongod, else FerretDB on PATH, else a cached FerretDB build, else a fresh build with Go).
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { makeTempDir, removeDir } from './process.js';

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

/** Finds `nats-server` (`$SQUALL_NATS_SERVER_BIN` first), or throws ConfigError saying how to get one. */
export function findNatsServer(): ServerBinary {
  const override = process.env.SQUALL_NATS_SERVER_BIN;
  if (override) return { kind: 'nats-server', path: checkExecutable(override, 'SQUALL_NATS_SERVER_BIN') };
  const found = which('nats-server');
  if (found) return { kind: 'nats-server', path: found };
  throw new ConfigError(
    'nats-server was not found on PATH or in /usr/sbin, /usr/local/bin. Install it (`apt-get install nats-server`, ' +
      'or a release from https://github.com/nats-io/nats-server/releases), point SQUALL_NATS_SERVER_BIN at it, ' +
      'or set NATS_URL to a running nats-server started with JetStream (-js).',
  );
}

/** Options for findMongoServer and ensureFerretdb. */
export interface FindMongoOptions {
  /** @default defaultCacheDir() */
  cacheDir?: string;
  /** Build FerretDB with Go when nothing else is found. @default true */
  build?: boolean;
  /** Progress of a build. @default a JSON logger on stderr */
  log?: Logger;
}

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
 * Returns the cached FerretDB binary, building it first if needed: fetch the module with
 * `go mod download`, copy it somewhere writable, add `build/version/version.txt` (a binary built
 * without it panics at start), `go build`. `go install ...@version` cannot be used: the module
 * proxy refuses the deprecation lookup it makes.
 */
export async function ensureFerretdb(opts: FindMongoOptions = {}): Promise<string> {
  const target = ferretdbCachePath(opts.cacheDir);
  if (existsSync(target)) return target;
  const go = findGo();
  if (!go) throw noMongoError(target, 'Go was not found');
  const log = opts.log ?? createLogger({ fields: { service: 'dev' } });
  const started = Date.now();
  const work = makeTempDir('ferretdb-build');
  try {
    log.info(`building FerretDB ${FERRETDB_VERSION} with ${go} (1 to 5 minutes the first time, depending on CPUs)`, {
      target,
    });
    const goEnv = { ...process.env, GOFLAGS: '-mod=mod', PATH: pathWith(go) };
    writeFileSync(
      join(work, 'go.mod'),
      `module squall.local/ferretdb-build\n\ngo 1.22\n\nrequire github.com/FerretDB/FerretDB ${FERRETDB_VERSION}\n`,
    );
    const downloaded = await run(go, ['mod', 'download', '-json', `github.com/FerretDB/FerretDB@${FERRETDB_VERSION}`], {
      cwd: work,
      env: goEnv,
    });
    const moduleDir = (JSON.parse(downloaded) as { Dir?: string }).Dir;
    if (!moduleDir) throw new ConfigError(`go mod download gave no module dir: ${downloaded.slice(0, 500)}`);
    log.info('FerretDB module downloaded; compiling', { moduleDir, elapsedMs: Date.now() - started });
    const src = join(work, 'src');
    cpSync(moduleDir, src, { recursive: true });
    makeWritable(src);
    writeFileSync(join(src, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
    mkdirSync(join(target, '..'), { recursive: true });
    // Build next to the target and rename, so a concurrent reader never sees half a binary.
    const partial = `${target}.partial-${process.pid}`;
    await run(go, ['build', '-o', partial, './cmd/ferretdb'], { cwd: src, env: goEnv });
    renameSync(partial, target);
    log.info(`built FerretDB ${FERRETDB_VERSION}`, { target, elapsedMs: Date.now() - started });
    return target;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`building FerretDB ${FERRETDB_VERSION} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    removeDir(work);
  }
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

function checkExecutable(path: string, variable: string): string {
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch {
    throw new ConfigError(`${variable}=${path} is not an executable file`);
  }
}

function pathWith(bin: string): string {
  const dir = bin.slice(0, bin.lastIndexOf('/'));
  return [dir, process.env.PATH ?? ''].filter(Boolean).join(delimiter);
}

// The module cache is read-only; the copy must be writable to add version.txt and to be removed.
function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) makeWritable(path);
    else if (entry.isFile()) chmodSync(path, 0o644);
  }
}

/** Runs a command to completion; resolves with stdout, rejects with the tail of stderr. */
function run(bin: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-4000);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${bin} ${args.join(' ')} exited with ${code}: ${err.trim()}`));
    });
  });
}
