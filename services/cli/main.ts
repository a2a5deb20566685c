/**
 * The `squall` command line (see `squall help`): services and client commands. `bin/squall.js`
 * and `tsx services/cli/main.ts` both land here.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runAsProcess } from './run.js';

export {
  type CliCommand,
  type Connection,
  DEFAULT_DB,
  DEFAULT_MONGO_URL,
  DEFAULT_NATS_URL,
  type Env,
  type ParsedCli,
  parseCli,
  SAMPLE_ACTIVITIES,
  SAMPLE_WORKFLOWS,
  SHUTDOWN_DEADLINE_MS,
  USAGE,
  UsageError,
} from './args.js';
export { historyTable } from './dev.js';
export { type CliIO, errorLine, main, processIO, runAsProcess } from './run.js';

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
