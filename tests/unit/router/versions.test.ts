import { describe, expect, it } from 'vitest';
import { checkOpenRunVersions, missingVersions } from '../../../services/router/versions.js';
import { WorkflowRegistry } from '../../../shared/engine/index.js';
import { ConfigError } from '../../../shared/errors.js';
import type { OpenRunVersion, Store } from '../../../shared/store/types.js';
import { greetV1, greetV2 } from '../../fixtures/versioning/machines.js';

const open: OpenRunVersion[] = [
  { workflowType: 'greet', version: 1, runs: 3 },
  { workflowType: 'greet', version: 2, runs: 1 },
  { workflowType: 'other', version: 4, runs: 1 },
];
/** Only openRunVersions is read by the check. */
const storeWith = (versions: OpenRunVersion[]): Store =>
  ({ openRunVersions: async () => versions }) as unknown as Store;

describe('open run versions at router start', () => {
  it('lists exactly the versions the registry lacks', () => {
    expect(missingVersions(open, new WorkflowRegistry([greetV2]))).toEqual([open[0], open[2]]);
    expect(missingVersions(open.slice(0, 2), new WorkflowRegistry([greetV1, greetV2]))).toEqual([]);
  });

  it('refuses with a ConfigError naming each missing version, its open runs and what is registered', async () => {
    const err = await checkOpenRunVersions(storeWith(open), new WorkflowRegistry([greetV2])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.code).toBe('CONFIG');
    expect(e.message).toContain('greet v1 (3 open runs), other v4 (1 open run)');
    expect(e.message).toContain('Registered: greet v2.');
    expect(e.details).toEqual({ missing: [open[0], open[2]] });
  });

  it('passes when every version is registered, or nothing is open', async () => {
    await expect(
      checkOpenRunVersions(storeWith(open.slice(0, 2)), new WorkflowRegistry([greetV1, greetV2])),
    ).resolves.toBeUndefined();
    await expect(checkOpenRunVersions(storeWith([]), new WorkflowRegistry([]))).resolves.toBeUndefined();
  });
});
