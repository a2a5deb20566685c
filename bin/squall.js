#!/usr/bin/env node
// The `squall` command. Installed from npm, it runs the compiled CLI (dist/); the package ships
// no TypeScript sources. In a git checkout (the sources sit next to this file) it runs the
// sources through tsx instead, so the repo's tests, `npm run demo` and docker-compose never need
// a build and never run a stale dist/ left by an earlier `npm run build` or `npm pack`.
// Users' `--workflows ./x.ts` / `--activities ./y.ts` load through tsx either way
// (services/common/load-modules.ts).
import { existsSync } from 'node:fs';

const sources = new URL('../services/cli/run.ts', import.meta.url);
let cli;
if (existsSync(sources)) {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(sources.href);
} else {
  cli = await import('../dist/services/cli/main.js');
}
await cli.runAsProcess(process.argv.slice(2));
