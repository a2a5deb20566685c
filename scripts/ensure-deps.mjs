// Installs dependencies when they are missing, so `npm run demo` and `npm test` work as the first
// command on a fresh clone, from exactly the committed lockfile (`npm ci`, as .ci/run does).
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync(new URL('../node_modules/.bin/tsx', import.meta.url))) {
  process.stderr.write('squall: installing dependencies (npm ci) ...\n');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit', cwd: new URL('..', import.meta.url) });
}
