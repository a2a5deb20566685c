/**
 * Runs the `squall` CLI in this process with captured output: for CLI tests in any project (it
 * needs no server of its own; pass the env a command should see).
 */

import type { Env } from '../../services/cli/args.js';
import { type CliIO, main } from '../../services/cli/main.js';

/** What one CLI run printed and returned; `lines` parses stdout as JSON lines. */
export interface CliRun {
  code: number;
  out: string[];
  err: string[];
  readonly lines: Record<string, unknown>[];
}

/** An IO that keeps every line and never asks the command to shut down. */
export function captureIO(): CliIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
    shutdownSignal: () => new Promise<NodeJS.Signals>(() => {}),
  };
}

/** Runs `squall <argv>` with `env` as its environment. */
export async function runCli(argv: string[], env: Env = {}): Promise<CliRun> {
  const io = captureIO();
  const code = await main(argv, env, io);
  const run = { code, out: io.out, err: io.err };
  // Not enumerable: `expect(run).toEqual({ code, out, err })` stays about what was printed.
  return Object.defineProperty(run, 'lines', {
    get: () => io.out.map((l) => JSON.parse(l) as Record<string, unknown>),
  }) as CliRun;
}
