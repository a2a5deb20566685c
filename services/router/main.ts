/**
 * Entry point of a router process: `tsx services/router/main.ts [--workflows <module>]`.
 * Reads NATS_URL, MONGO_URL, SQUALL_PREFIX, SQUALL_DB and SQUALL_WORKFLOWS; stops on SIGTERM/SIGINT.
 */
import { runAsProcess } from '../cli/run.js';

await runAsProcess(['router', ...process.argv.slice(2)]);
