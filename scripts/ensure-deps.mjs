// Installs dependencies when they are missing, so `npm run demo` and `npm test` work as the first
// command on a fresh clone. `npm install` (not `npm ci`): see .ci/run for why.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../node_modules/.bin/tsx', import.meta.url))) {
  process.stderr.write('squall: installing dependencies (npm install) ...\n');
  execSync('npm install --no-audit --no-fund', { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
