/**
 * Picks the nats-server for local runs (tests, `squall dev`). Debian's nats-server is 2.9.10,
 * which drops a pull request silently when a message reaches it just after it expired (2.15
 * answers 408), so a consumer waits out its pull (2 to 3 s) before it asks again. So: a
 * nats-server on PATH of at least MIN_NATS_SERVER_VERSION, else the cached build of
 * NATS_SERVER_VERSION, else that build made now with Go, else an older one on PATH with a warning.
 *
 * Why 2.10.0 as the floor: the JetStream client Squall uses (@nats-io/jetstream 3) is written
 * for the 2.10 API (it gates consumer filter subjects, stream and consumer metadata, first_seq,
 * subject transforms and compression at 2.10.0), and 2.9 is the line whose faults Squall has met
 * (the stall above, measured on 2.9.10; `term` reasons ignored before 2.10.4).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import {
  checkExecutable,
  defaultCacheDir,
  type FindServerOptions,
  findGo,
  type ServerBinary,
  which,
} from './binaries.js';
import { goBuild } from './go-build.js';

/** The nats-server release Squall builds into the cache and tests against. */
export const NATS_SERVER_VERSION = 'v2.15.3';

/** The oldest nats-server used without a warning (see the header for why). */
export const MIN_NATS_SERVER_VERSION = '2.10.0';

/** Path of the cached nats-server build inside `cacheDir`. */
export function natsServerCachePath(cacheDir: string = defaultCacheDir()): string {
  return join(cacheDir, `nats-server-${NATS_SERVER_VERSION}`, 'bin', 'nats-server');
}

/** `[major, minor, patch]` of a version in any text (`nats-server: v2.9.10`, `2.15.3`), if one is there. */
export function parseServerVersion(text: string): [number, number, number] | undefined {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** True when `version` parses and is at least MIN_NATS_SERVER_VERSION. */
export function isRecentNatsServer(version: string | undefined): boolean {
  const v = version === undefined ? undefined : parseServerVersion(version);
  const min = parseServerVersion(MIN_NATS_SERVER_VERSION) as [number, number, number];
  if (!v) return false;
  for (const [i, part] of v.entries()) {
    const floor = min[i] as number;
    if (part !== floor) return part > floor;
  }
  return true;
}

/** A nats-server binary and the version it reports (undefined when it would not say). */
export interface NatsServerCandidate {
  path: string;
  version: string | undefined;
}

/** What is available to choose from; see chooseNatsServer. */
export interface NatsServerOptions {
  /** `$SQUALL_NATS_SERVER_BIN`: used whatever its version. */
  override?: NatsServerCandidate;
  /** The first nats-server on PATH (plus /usr/sbin and friends). */
  onPath?: NatsServerCandidate;
  /** The cached build of NATS_SERVER_VERSION, when it exists. */
  cached?: string;
  /** Whether a build may run now: Go found and building allowed. */
  canBuild: boolean;
}

/** What to do: use a binary (with a warning to log), build NATS_SERVER_VERSION, or give up. */
export type NatsServerChoice =
  | { action: 'use'; path: string; warning?: string }
  | { action: 'build'; fallback?: NatsServerCandidate }
  | { action: 'missing' };

/**
 * Decides which nats-server to run, without I/O: override, else a recent one on PATH, else the
 * cached build, else a build (an old one on PATH is the fallback if it fails), else an old one on
 * PATH with a warning, else nothing.
 */
export function chooseNatsServer(o: NatsServerOptions): NatsServerChoice {
  if (o.override) {
    const { path, version } = o.override;
    return isRecentNatsServer(version)
      ? { action: 'use', path }
      : { action: 'use', path, warning: oldServerWarning(o.override, 'it is SQUALL_NATS_SERVER_BIN') };
  }
  if (o.onPath && isRecentNatsServer(o.onPath.version)) return { action: 'use', path: o.onPath.path };
  if (o.cached) return { action: 'use', path: o.cached };
  if (o.canBuild) return o.onPath ? { action: 'build', fallback: o.onPath } : { action: 'build' };
  if (o.onPath) {
    return {
      action: 'use',
      path: o.onPath.path,
      warning: oldServerWarning(o.onPath, 'Go was not found or building is off'),
    };
  }
  return { action: 'missing' };
}

/** The version a nats-server binary reports with `--version`, if it answers within 5 s. */
export function natsServerVersion(path: string): string | undefined {
  try {
    const out = execFileSync(path, ['--version'], {
      encoding: 'utf8',
      timeout: 5_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const v = parseServerVersion(out);
    return v ? v.join('.') : undefined;
  } catch {
    return undefined;
  }
}

// One warning per binary and process: tests start many servers.
const warned = new Set<string>();

/**
 * Finds the nats-server to run (see chooseNatsServer), building NATS_SERVER_VERSION into the
 * cache when that is the choice (about a minute the first time). Throws ConfigError saying how to
 * get one when there is none.
 */
export async function findNatsServer(opts: FindServerOptions = {}): Promise<ServerBinary> {
  const log = opts.log ?? createLogger({ fields: { service: 'dev' } });
  const envPath = process.env.SQUALL_NATS_SERVER_BIN;
  const candidate = (path: string): NatsServerCandidate => ({ path, version: natsServerVersion(path) });
  const overridePath = envPath ? checkExecutable(envPath, 'SQUALL_NATS_SERVER_BIN') : undefined;
  const pathBin = overridePath ? undefined : which('nats-server');
  const cached = natsServerCachePath(opts.cacheDir);
  const go = opts.build === false ? undefined : findGo();
  const choice = chooseNatsServer({
    ...(overridePath ? { override: candidate(overridePath) } : {}),
    ...(pathBin ? { onPath: candidate(pathBin) } : {}),
    ...(existsSync(cached) ? { cached } : {}),
    canBuild: go !== undefined,
  });
  switch (choice.action) {
    case 'use':
      if (choice.warning) warnOnce(log, choice.warning, choice.path);
      return { kind: 'nats-server', path: choice.path };
    case 'build':
      try {
        return { kind: 'nats-server', path: await ensureNatsServer(go as string, cached, log) };
      } catch (err) {
        if (!choice.fallback) throw err;
        warnOnce(
          log,
          oldServerWarning(choice.fallback, `the build failed: ${(err as Error).message.slice(0, 300)}`),
          choice.fallback.path,
        );
        return { kind: 'nats-server', path: choice.fallback.path };
      }
    case 'missing':
      throw new ConfigError(
        `nats-server was not found on PATH or in /usr/sbin, /usr/local/bin, nor built in ${cached}. Install Go >= 1.21 ` +
          `(https://go.dev/dl/, or /usr/local/go/bin on PATH) and run \`npm run servers:build\` to build nats-server ` +
          `${NATS_SERVER_VERSION}; or install one (\`apt-get install nats-server\`, a release from ` +
          'https://github.com/nats-io/nats-server/releases), point SQUALL_NATS_SERVER_BIN at it, or set NATS_URL to a ' +
          'running nats-server started with JetStream (-js).',
      );
  }
}

/** Builds NATS_SERVER_VERSION into `target` with `go` unless it is there already. */
async function ensureNatsServer(go: string, target: string, log: Logger): Promise<string> {
  if (existsSync(target)) return target;
  return await goBuild({
    module: 'github.com/nats-io/nats-server/v2',
    version: NATS_SERVER_VERSION,
    pkg: '.',
    target,
    go,
    log,
  });
}

function oldServerWarning(c: NatsServerCandidate, why: string): string {
  return (
    `using nats-server ${c.version ?? '(version unknown)'} at ${c.path}, older than ${MIN_NATS_SERVER_VERSION}, because ${why}: ` +
    'pull consumers may stall 2 to 3 s when a message meets an expiring pull request. Install Go and run ' +
    `\`npm run servers:build\` to build nats-server ${NATS_SERVER_VERSION}, or put a newer nats-server on PATH.`
  );
}

function warnOnce(log: Logger, warning: string, path: string): void {
  if (warned.has(path)) return;
  warned.add(path);
  log.warn(warning, { path });
}
