/**
 * Squall as a user gets it: `npm pack` of a staging copy of the repo (so prepack's build writes
 * dist/ there, never into the checkout), installed into a temp project with
 * `npm install --prefer-offline`, and `squall` run from that project's node_modules.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from '../../harness/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const execFileAsync = promisify(execFile);

/** What `npm pack` reads of the repo: the manifest, the build config, the sources, the bin. */
const PACK_INPUTS = [
  'package.json',
  'README.md',
  'LICENSE',
  'tsconfig.json',
  'tsconfig.build.json',
  'bin',
  'shared',
  'services',
  // The build's console bundle step.
  'scripts/console-bundle.ts',
];

/** A temp project with the packed tarball installed. */
export interface InstalledProject {
  /** The project's directory (its package.json is `{ "type": "module" }`). */
  readonly dir: string;
  /** The installed package: `<dir>/node_modules/squall`. */
  readonly packageDir: string;
  /** Removes the staging copy, the tarball and the project. */
  remove(): Promise<void>;
}

/** Runs a command to completion; rejects with its output when it exits non-zero. */
export async function runCommand(
  file: string,
  args: string[],
  cwd: string,
  timeoutMs = 120_000,
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(file, args, { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, {
      cause: err,
    });
  }
}

/**
 * Packs the repo as `npm pack` would publish it and installs the tarball into a fresh project
 * holding `files` (name → text), e.g. the user's workflow and activity modules.
 */
export async function installPackedSquall(files: Record<string, string> = {}): Promise<InstalledProject> {
  const base = await mkdtemp(join(tmpdir(), 'squall-pkg-'));
  const remove = (): Promise<void> => rm(base, { recursive: true, force: true });
  try {
    const staging = join(base, 'staging');
    for (const entry of PACK_INPUTS) {
      if (existsSync(join(ROOT, entry))) await cp(join(ROOT, entry), join(staging, entry), { recursive: true });
    }
    // prepack's build needs the repo's devDependencies (typescript, @types/node); a link, not a copy.
    await symlink(join(ROOT, 'node_modules'), join(staging, 'node_modules'), 'dir');
    await runCommand('npm', ['pack', '--pack-destination', base, '--no-audit', '--no-fund'], staging);
    const tarball = (await readdir(base)).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack left no .tgz in ${base}`);

    const dir = join(base, 'project');
    await mkdir(dir);
    await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name: 'app', private: true, type: 'module' })}\n`);
    for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
    await runCommand('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(base, tarball)], dir);
    return { dir, packageDir: join(dir, 'node_modules', 'squall'), remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A `squall` service process started from the installed project. */
export interface ProjectService {
  readonly name: string;
  /** Parsed JSON log lines so far. */
  readonly logs: Record<string, unknown>[];
  /** Output that was not a JSON log line. */
  readonly noise: string[];
  /** SIGTERM (SIGKILL after `graceMs`), resolving once the process exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns the installed `squall` (node_modules/.bin/squall, as npx runs it) in the project with
 * `env` added, and waits for its "started" log line (failing early if it exits first).
 */
export async function startInstalledService(
  project: InstalledProject,
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<ProjectService> {
  const proc = spawn(process.execPath, [join(project.dir, 'node_modules', '.bin', 'squall'), ...args], {
    cwd: project.dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const noise: string[] = [];
  collectLines(proc, (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      noise.push(line);
    }
  });
  let exitedWith: number | string | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.on('exit', (code, signal) => {
      exitedWith = code ?? signal ?? 'unknown';
      resolve();
    });
  });
  const stop = async (graceMs = 10_000): Promise<void> => {
    if (exitedWith !== undefined) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  // waitFor retries on a throw, so an early exit is a value here, turned into the error after.
  const outcome = await waitFor(
    `${name} to log that it started`,
    () => {
      if (logs.some((l) => typeof l.msg === 'string' && /started/.test(l.msg))) return 'started';
      return exitedWith === undefined ? false : 'exited';
    },
    { timeoutMs: 60_000 },
  ).catch(async (err: unknown) => {
    await stop(0);
    throw err;
  });
  if (outcome === 'exited') {
    throw new Error(
      `${name} exited (${exitedWith}): ${JSON.stringify(logs.slice(-5))}\n${noise.slice(-20).join('\n')}`,
    );
  }
  return { name, logs, noise, stop };
}

function collectLines(proc: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [proc.stdout, proc.stderr]) {
    let buf = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) onLine(line);
      }
    });
  }
}
