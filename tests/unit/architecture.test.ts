/**
 * The tree is the architecture: dependencies point one way (services → shared/{bus,store} →
 * shared/engine), the engine reaches neither NATS nor MongoDB, and no module imports itself
 * through others. dependency-cruiser builds the graph (type-only imports included: a type import
 * couples modules as much as a value import does); this test states the rules over it.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cruise, type ICruiseResult, type IFlattenedRuleSet, type IViolation } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** NATS and MongoDB clients, resolved (node_modules/…) or not (the bare package name). */
const NATS_OR_MONGO = '^(node_modules/)?(@nats-io/|mongodb(/|$)|bson(/|$))';

const RULES: IFlattenedRuleSet = {
  forbidden: [
    {
      name: 'shared-imports-services',
      comment: 'shared/ is the library users import; services wire it, never the other way round.',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^services/' },
    },
    {
      name: 'engine-reaches-nats-or-mongo',
      comment: 'The engine is pure: no NATS or MongoDB, directly or through another module.',
      severity: 'error',
      from: { path: '^shared/engine/' },
      to: { path: NATS_OR_MONGO, reachable: true },
    },
    {
      name: 'import-cycle',
      comment: 'A cycle makes load order matter and the layers meaningless.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
};

/** Cruises `roots` (relative to `baseDir`) and returns every rule violation. */
async function violations(roots: string[], baseDir: string): Promise<IViolation[]> {
  const { output } = await cruise(
    roots,
    {
      baseDir,
      validate: true,
      ruleSet: RULES,
      tsPreCompilationDeps: true,
      doNotFollow: { path: 'node_modules' },
    },
    // The packages publish ESM through `exports`; without these conditions they stay unresolved.
    { conditionNames: ['import', 'node', 'default'] },
    { tsConfig: extractTSConfig(join(process.cwd(), 'tsconfig.json')) },
  );
  return (output as ICruiseResult).summary.violations;
}

/** One line per violation, with the cycle or the path that makes it, for a readable failure. */
function describeViolation(v: IViolation): string {
  const path = v.cycle ?? v.via;
  const trail = path ? `: ${[v.from, ...path.map((step) => step.name)].join(' → ')}` : '';
  return `${v.rule.name}: ${v.from} → ${v.to}${trail}`;
}

/** Cruising the whole tree takes about a second alone; the margin is for a loaded machine. */
const CRUISE_TIMEOUT_MS = 30_000;

describe('architecture', () => {
  it('shared/ and services/ keep their dependency rules and have no import cycles', {
    timeout: CRUISE_TIMEOUT_MS,
  }, async () => {
    const found = await violations(['shared', 'services'], process.cwd());
    expect(found.map(describeViolation)).toEqual([]);
  });

  // The rules are only worth something if they fire: a small tree breaking each one on purpose.
  describe('the rules catch what they forbid', () => {
    let dir: string;
    let found: string[];

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'squall-architecture-'));
      const files: Record<string, string> = {
        'shared/engine/pure.ts': "import type { Doc } from '../store/docs.js';\nexport const x: Doc = {};\n",
        'shared/engine/direct.ts': "import { jetstream } from '@nats-io/jetstream';\nexport const j = jetstream;\n",
        'shared/store/docs.ts': "import type { Document } from 'mongodb';\nexport type Doc = Document;\n",
        'shared/leak.ts': "import { y } from '../services/svc.js';\nexport const z = y;\n",
        'services/svc.ts': "import { z } from '../shared/leak.js';\nexport const y = 1;\nexport const w = z;\n",
      };
      for (const [file, text] of Object.entries(files)) {
        await mkdir(dirname(join(dir, file)), { recursive: true });
        await writeFile(join(dir, file), text);
      }
      found = (await violations(['shared', 'services'], dir)).map(describeViolation);
    }, CRUISE_TIMEOUT_MS);
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('a shared module importing a service', () => {
      expect(found).toContainEqual(
        expect.stringMatching(/^shared-imports-services: shared\/leak\.ts → services\/svc\.ts/),
      );
    });
    it('the engine importing NATS directly', () => {
      expect(found).toContainEqual(
        expect.stringMatching(/^engine-reaches-nats-or-mongo: shared\/engine\/direct\.ts → .*@nats-io\/jetstream/),
      );
    });
    it('the engine reaching MongoDB through a shared module', () => {
      expect(found).toContainEqual(
        expect.stringMatching(
          /^engine-reaches-nats-or-mongo: shared\/engine\/pure\.ts → .*mongodb.*shared\/store\/docs\.ts/,
        ),
      );
    });
    it('an import cycle', () => {
      expect(found).toContainEqual(expect.stringMatching(/^import-cycle: (shared\/leak|services\/svc)\.ts/));
    });
  });
});
