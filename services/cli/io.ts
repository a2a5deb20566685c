/**
 * Where the CLI writes and how it learns to stop (tests replace both), and the one-line JSON form
 * every error takes on stderr.
 */
import { SquallError } from '../../shared/errors.js';
import { UsageError } from './types.js';

/** Where the CLI writes, and how it learns it should stop (tests replace both). */
export interface CliIO {
  stdout(line: string): void;
  stderr(line: string): void;
  /** Resolves on the first SIGTERM or SIGINT. */
  shutdownSignal(): Promise<NodeJS.Signals>;
}

/** The process's own IO. */
export function processIO(): CliIO {
  return {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    shutdownSignal: () =>
      new Promise((resolve) => {
        const on = (sig: NodeJS.Signals) => () => {
          process.off('SIGTERM', term);
          process.off('SIGINT', int);
          resolve(sig);
        };
        const term = on('SIGTERM');
        const int = on('SIGINT');
        process.once('SIGTERM', term);
        process.once('SIGINT', int);
      }),
  };
}

/** One JSON line describing an error: `{"error":{"code","message",...}}`. Never throws. */
export function errorLine(err: unknown): string {
  try {
    return describeError(err);
  } catch {
    return JSON.stringify({ error: { code: 'INTERNAL', message: String(err) } });
  }
}

function describeError(err: unknown): string {
  if (err instanceof SquallError) {
    const cause = err.cause instanceof Error ? { cause: { name: err.cause.name, message: err.cause.message } } : {};
    const details = err.details === undefined ? {} : { details: err.details };
    return JSON.stringify({ error: { code: err.code, message: err.message, ...details, ...cause } });
  }
  if (err instanceof UsageError) return JSON.stringify({ error: { code: err.code, message: err.message } });
  const message = err instanceof Error ? err.message : String(err);
  return JSON.stringify({ error: { code: 'INTERNAL', message } });
}
