/**
 * Builds a Go program from a module version on the Go module proxy into the cache, the way both
 * server builds (FerretDB, nats-server) need it: `go mod download` the module, `go build` its main
 * package next to the target and rename, so a concurrent reader never sees half a binary.
 * `go install module@version` is not used: the module proxy refuses the deprecation lookup it makes.
 */
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { makeTempDir, removeDir } from './process.js';

/** What goBuild builds and where. */
export interface GoBuildSpec {
  /** Module path, e.g. `github.com/nats-io/nats-server/v2`. */
  module: string;
  /** Module version, e.g. `v2.15.3`. */
  version: string;
  /** Main package inside the module, relative to its root: `.` or `./cmd/ferretdb`. */
  pkg: string;
  /** Where the binary ends up. */
  target: string;
  /** The `go` binary. */
  go: string;
  /** Progress lines. */
  log: Logger;
  /**
   * Edits a writable copy of the module before the build (FerretDB needs a file added); without
   * it the build runs in the read-only module cache, which needs no copy.
   */
  prepare?: (srcDir: string) => void;
}

/** Builds `spec.pkg` of `spec.module@spec.version` into `spec.target`; ConfigError on failure. */
export async function goBuild(spec: GoBuildSpec): Promise<string> {
  const { go, log, module, version, target } = spec;
  const started = Date.now();
  const work = makeTempDir('go-build');
  const name = `${module}@${version}`;
  try {
    // -mod=mod: the module's own go.sum decides; GOTOOLCHAIN stays as configured, so an older Go
    // may fetch the toolchain the module asks for from the module proxy.
    const env = { ...process.env, GOFLAGS: '-mod=mod -buildvcs=false', PATH: pathWith(go) };
    log.info(`building ${name} with ${go} (a minute or more the first time on 2 cores)`, { target });
    const downloaded = await runTool(go, ['mod', 'download', '-json', name], { cwd: work, env });
    const moduleDir = (JSON.parse(downloaded) as { Dir?: string }).Dir;
    if (!moduleDir) throw new ConfigError(`go mod download gave no module dir: ${downloaded.slice(0, 500)}`);
    let src = moduleDir;
    if (spec.prepare) {
      src = join(work, 'src');
      cpSync(moduleDir, src, { recursive: true });
      makeWritable(src);
      spec.prepare(src);
    }
    log.info(`${name} downloaded; compiling`, { src, elapsedMs: Date.now() - started });
    mkdirSync(dirname(target), { recursive: true });
    const partial = `${target}.partial-${process.pid}`;
    await runTool(go, ['build', '-o', partial, spec.pkg], { cwd: src, env });
    renameSync(partial, target);
    log.info(`built ${name}`, { target, elapsedMs: Date.now() - started });
    return target;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`building ${name} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    removeDir(work);
  }
}

/** Runs a command to completion; resolves with stdout, rejects with the tail of stderr. */
export function runTool(bin: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<string> {
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

function pathWith(bin: string): string {
  return [dirname(bin), process.env.PATH ?? ''].filter(Boolean).join(delimiter);
}

// The module cache is read-only; the copy must be writable to be edited and removed.
function makeWritable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) makeWritable(path);
    else if (entry.isFile()) chmodSync(path, 0o644);
  }
}
