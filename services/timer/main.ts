/**
 * Entry point of a timer process: `tsx services/timer/main.ts`.
 * Reads NATS_URL, MONGO_URL, SQUALL_PREFIX and SQUALL_DB; stops on SIGTERM/SIGINT.
 */
import { runAsProcess } from '../cli/run.js';

await runAsProcess(['timer', ...process.argv.slice(2)]);
