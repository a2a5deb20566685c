/**
 * Child-process plumbing for the local servers: free ports, temp dirs, log tails, stopping with a
 * deadline, and a last-resort exit hook so a crashing parent does not leave servers behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Prefix of every temp dir the launcher creates, so leak checks can find them (`/tmp/squall-*`). */
export const TEMP_DIR_PREFIX = 'squall-';

/** Asks the kernel for a free TCP port on 127.0.0.1 (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read a free port'))));
    });
  });
}

/**
 * Resolves once a TCP connection to host:port opens, rejects on refusal or after `timeoutMs`.
 * A cheap pre-check before a client library's own (slower) connection retry loop.
 */
export function tcpReachable(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port });
    const timer = setTimeout(
      () => socket.destroy(new Error(`no TCP connection to ${host}:${port} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Creates `/tmp/squall-<label>-XXXXXX`, marked with this process's pid, and remembers it for the
 * exit hook. The first call also removes dirs left by launcher processes that died (SIGKILL).
 */
export function makeTempDir(label: string): string {
  if (!swept) {
    swept = true;
    removeOrphanedTempDirs();
  }
  const dir = mkdtempSync(join(tmpdir(), `${TEMP_DIR_PREFIX}${label}-`));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  ownedDirs.add(dir);
  return dir;
}

/** Removes `/tmp/squall-*` dirs whose owner process no longer exists; returns what it removed. */
export function removeOrphanedTempDirs(): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(TEMP_DIR_PREFIX));
  } catch {
    return removed;
  }
  for (const name of names) {
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number.parseInt(readFileSync(join(dir, OWNER_FILE), 'utf8'), 10);
    } catch {
      continue; // not made by the launcher, or still being created
    }
    if (!Number.isInteger(owner) || owner <= 0 || isAlive(owner)) continue;
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      removed.push(dir);
    } catch {
      // someone else's dir we may not touch; leave it
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const OWNER_FILE = '.squall-owner-pid';
let swept = false;

/** Removes a dir made by makeTempDir (or any dir), ignoring one that is already gone. */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  ownedDirs.delete(dir);
}

/** The last `lines` lines of a log file, or a note that there is none. */
export function tailFile(file: string, lines = 20): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n') || `(empty log at ${file})`;
  } catch (err) {
    return `(cannot read ${file}: ${(err as Error).message})`;
  }
}

/** A spawned server process whose stdout and stderr are appended to `logFile`. */
export interface ServerProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code or signal once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True until the process has exited. */
  alive(): boolean;
}

/**
 * Spawns `bin args`, appending its output to `logFile`. The child is killed if this process exits,
 * even by SIGKILL where `setpriv` exists (Linux): it execs the server with a parent-death signal.
 */
export function spawnServer(bin: string, args: readonly string[], logFile: string): ServerProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    const [file, argv] = SETPRIV ? [SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, args];
    child = spawn(file, argv, { stdio: ['ignore', fd, fd], env: process.env });
  } finally {
    closeSync(fd);
  }
  let running = true;
  liveChildren.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      liveChildren.delete(child);
      resolve({ code, signal });
    });
    child.once('error', () => {
      // spawn failure (ENOENT, EACCES): no 'exit' follows, so resolve here.
      running = false;
      liveChildren.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  return { child, exited, alive: () => running };
}

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILLs and waits for the exit. */
export async function stopProcess(proc: ServerProcess, graceMs = 5_000): Promise<void> {
  if (!proc.alive()) return;
  proc.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const graceful = await Promise.race([
    proc.exited.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (!graceful && proc.alive()) {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

/** Sleeps; only for pacing polls, never as a stand-in for readiness. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// setpriv execs in place, so the pid is still the server's. Parent death = the spawning thread's
// exit; the launcher runs on a process's main thread (vitest pool 'forks', the CLI).
const SETPRIV = process.platform === 'linux' ? findExecutable(['/usr/bin/setpriv', '/bin/setpriv']) : undefined;

function findExecutable(paths: string[]): string | undefined {
  return paths.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const liveChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();

// Last resort when the parent exits without stopping its servers (uncaught error, process.exit):
// synchronous SIGKILL and temp dir removal. A SIGKILLed parent cannot run this; .ci/run checks.
process.once('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of ownedDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort on the way out
    }
  }
});
