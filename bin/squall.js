#!/usr/bin/env node
// The `squall` command. Registers tsx so the CLI (TypeScript source) and user modules given as
// `--workflows ./x.ts` / `--activities ./y.ts` load without a build step.
import { register } from 'tsx/esm/api';

register();
const { runAsProcess } = await import('../services/cli/run.ts');
await runAsProcess(process.argv.slice(2));
