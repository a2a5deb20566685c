/**
 * The package people install: `npm pack` of the repo, installed into a temp project. Its three
 * entry points import and type-check, `npx squall help` runs, and a workflow module that imports
 * `now` and `sideEffect` from 'squall' runs to completion under the installed CLI (router and
 * executor processes against the harness's servers), its values recorded in history.
 */
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../../shared/client/index.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl } from '../../harness/index.js';
import {
  type InstalledProject,
  installPackedSquall,
  type ProjectService,
  runCommand,
  startInstalledService,
} from './project.js';
import { ACTIVITIES_TS, CHECK_TYPES_TS, tsconfigJson, WORKFLOWS_TS } from './user-project.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let project: InstalledProject | undefined;

beforeAll(async () => {
  project = await installPackedSquall({
    'workflows.ts': WORKFLOWS_TS,
    'activities.ts': ACTIVITIES_TS,
    'check-types.ts': CHECK_TYPES_TS,
    'tsconfig.json': tsconfigJson(join(ROOT, 'node_modules', '@types')),
  });
  // Packing builds dist/ (prepack) and installing resolves from the npm cache: slow on a busy machine.
}, 240_000);

afterAll(async () => {
  await project?.remove();
});

function installed(): InstalledProject {
  if (!project) throw new Error('the package was not installed (see beforeAll)');
  return project;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

describe('the installed package', () => {
  it('holds compiled JavaScript with declarations and the bin: no sources, tests, fixtures or CI files', async () => {
    const files = await filesUnder(installed().packageDir);
    const unexpected = files.filter(
      (f) =>
        !['package.json', 'README.md', 'LICENSE', 'bin/squall.js'].includes(f) && !/^dist\/.+\.(js|d\.ts)$/.test(f),
    );
    expect(unexpected).toEqual([]);
    for (const entry of ['shared/index', 'shared/testing/index', 'services/index', 'services/cli/main']) {
      expect(files).toContain(`dist/${entry}.js`);
      expect(files).toContain(`dist/${entry}.d.ts`);
    }
    // The console's browser app, bundled by the build: `squall ui` serves it without sources.
    expect(files).toContain('dist/services/console/ui-bundle.js');
  });

  it('imports squall, squall/testing and squall/services', async () => {
    const script = `
      const [main, testing, services] = await Promise.all([import('squall'), import('squall/testing'), import('squall/services')]);
      console.log(JSON.stringify({
        main: ['defineWorkflow', 'now', 'sideEffect', 'connect', 'SquallError'].filter((n) => typeof main[n] === 'function'),
        testing: Object.keys(testing).filter((n) => typeof testing[n] === 'function'),
        services: Object.keys(services).filter((n) => typeof services[n] === 'function'),
      }));`;
    const { stdout } = await runCommand(process.execPath, ['--input-type=module', '-e', script], installed().dir);
    expect(JSON.parse(stdout)).toEqual({
      main: ['defineWorkflow', 'now', 'sideEffect', 'connect', 'SquallError'],
      testing: expect.arrayContaining(['createTestRun']),
      services: [
        'defaultExecutorOptions',
        'defaultRouterOptions',
        'defaultTimerOptions',
        'loadActivities',
        'loadWorkflows',
        'natsPermissions',
        'startExecutor',
        'startRouter',
        'startTimer',
        'startTracing',
        'tracesEndpoint',
      ],
    });
  });

  it("type-checks the user's modules against the shipped declarations", async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await runCommand(process.execPath, [tsc, '-p', 'tsconfig.json'], installed().dir);
  });

  it('runs `npx squall help`', async () => {
    const { stdout } = await runCommand('npx', ['--no-install', 'squall', 'help'], installed().dir);
    expect(stdout).toMatch(/squall router --workflows <module>/);
  });
});

describe("a workflow module that imports 'squall', run by the installed CLI", () => {
  const services: ProjectService[] = [];
  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
  });

  it('runs with now() and sideEffect() answering, and their values recorded in history', async () => {
    const env = {
      NATS_URL: natsUrl(),
      MONGO_URL: mongoUrl(),
      SQUALL_PREFIX: freshPrefix(),
      SQUALL_DB: freshDbName(),
      SQUALL_LOG_LEVEL: 'info',
    };
    // Each service is kept as soon as it started, so afterAll stops it even if the other failed.
    const start = async (name: string, args: string[]): Promise<void> => {
      services.push(await startInstalledService(installed(), name, args, env));
    };
    await Promise.all([
      start('router', ['router', '--workflows', 'workflows.ts']),
      start('executor', ['executor', '--activities', 'activities.ts']),
    ]);
    const client = await connect({ servers: env.NATS_URL, prefix: env.SQUALL_PREFIX });
    try {
      const before = Date.now();
      await client.start('stamped', {}, { workflowId: 'stamped-1' });
      const output = await client.result<Record<string, unknown>>('stamped-1', { timeoutMs: 30_000 });
      const token = output.token as string;
      expect(token).toMatch(/^tok-[0-9a-z]+$/);
      expect(output.echoed).toBe(token.toUpperCase());
      expect(output.openedAt).toBeGreaterThanOrEqual(before);
      expect(output.stampedAt).toBeGreaterThanOrEqual(output.openedAt as number);
      expect(output.stampedAt).toBeLessThanOrEqual(Date.now());

      const { commits } = await client.history('stamped-1');
      const recorded = commits.flatMap((c) => c.events).filter((e) => e.type === 'SideEffectRecorded');
      expect(recorded).toEqual([expect.objectContaining({ id: 'token', value: token })]);
    } finally {
      await client.close();
    }
  });
});
