/**
 * The `squall` command line (see `squall help`): services and client commands. `bin/squall.js`
 * and `tsx services/cli/main.ts` both land here.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runAsProcess } from './run.js';

export { parseCli } from './args.js';
export { SAMPLE_ACTIVITIES, SAMPLE_WORKFLOWS } from './commands.js';
export { historyTable } from './history-table.js';
export { type CliIO, errorLine, processIO } from './io.js';
export { main, runAsProcess } from './run.js';
export { SHUTDOWN_DEADLINE_MS } from './serve.js';
export type { CliCommand, Connection, Env, ParsedCli } from './types.js';
export { UsageError } from './types.js';
export { USAGE } from './usage.js';

/** True when this module is the process's entry script (`tsx services/cli/main.ts ...`). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await runAsProcess(process.argv.slice(2));
