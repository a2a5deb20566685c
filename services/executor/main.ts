/**
 * Entry point of an executor process: `tsx services/executor/main.ts [--activities <module>]`.
 * Reads NATS_URL, SQUALL_PREFIX, SQUALL_ACTIVITIES and SQUALL_CONCURRENCY; stops on SIGTERM/SIGINT.
 */
import { runAsProcess } from '../cli/run.js';

await runAsProcess(['executor', ...process.argv.slice(2)]);
