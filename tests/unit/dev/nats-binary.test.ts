import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chooseNatsServer,
  findNatsServer,
  isRecentNatsServer,
  MIN_NATS_SERVER_VERSION,
  natsServerCachePath,
  natsServerVersion,
  parseServerVersion,
} from '../../../services/dev/nats-binary.js';
import { ConfigError } from '../../../shared/errors.js';
import { createLogger } from '../../../shared/log.js';

describe('nats-server version check', () => {
  it('parses what nats-server --version prints and bare versions', () => {
    expect(parseServerVersion('nats-server: v2.9.10\n')).toEqual([2, 9, 10]);
    expect(parseServerVersion('2.15.3')).toEqual([2, 15, 3]);
    expect(parseServerVersion('nats-server: dev')).toBeUndefined();
  });

  it('calls 2.10.0 and later recent, compares parts as numbers, and unknown versions old', () => {
    expect(MIN_NATS_SERVER_VERSION).toBe('2.10.0');
    for (const v of ['2.10.0', '2.10.4', '2.15.3', 'v3.0.0', 'nats-server: v2.11.0'])
      expect(isRecentNatsServer(v)).toBe(true);
    // 2.9.10 sorts after 2.10.0 as a string; as numbers it is older.
    for (const v of ['2.9.10', '2.9.99', '1.99.99', 'dev', undefined]) expect(isRecentNatsServer(v)).toBe(false);
  });
});

describe('nats-server choice', () => {
  const old = { path: '/usr/sbin/nats-server', version: '2.9.10' };
  const recent = { path: '/usr/local/bin/nats-server', version: '2.15.3' };
  const cached = '/cache/nats-server-v2.15.3/bin/nats-server';

  it('takes a recent one on PATH before the cache, and never builds then', () => {
    expect(chooseNatsServer({ onPath: recent, cached, canBuild: true })).toEqual({ action: 'use', path: recent.path });
  });

  it('takes the cached build over an old one on PATH, without a warning', () => {
    expect(chooseNatsServer({ onPath: old, cached, canBuild: false })).toEqual({ action: 'use', path: cached });
  });

  it('builds when only an old one (or none) is there and Go is, keeping the old one as the fallback', () => {
    expect(chooseNatsServer({ onPath: old, canBuild: true })).toEqual({ action: 'build', fallback: old });
    expect(chooseNatsServer({ canBuild: true })).toEqual({ action: 'build' });
  });

  it('falls back to an old one with a warning that names its version and the fix', () => {
    const choice = chooseNatsServer({ onPath: old, canBuild: false });
    expect(choice).toMatchObject({ action: 'use', path: old.path });
    const warning = (choice as { warning?: string }).warning ?? '';
    expect(warning).toMatch(/2\.9\.10.*older than 2\.10\.0/);
    expect(warning).toMatch(/npm run servers:build/);
  });

  it('uses SQUALL_NATS_SERVER_BIN whatever its version, warning when it is old', () => {
    expect(chooseNatsServer({ override: old, onPath: recent, cached, canBuild: true })).toMatchObject({
      action: 'use',
      path: old.path,
      warning: expect.stringMatching(/SQUALL_NATS_SERVER_BIN/),
    });
    expect(chooseNatsServer({ override: recent, canBuild: false })).toEqual({ action: 'use', path: recent.path });
  });

  it('reports nothing to use when there is neither a binary nor Go', () => {
    expect(chooseNatsServer({ canBuild: false })).toEqual({ action: 'missing' });
  });
});

describe('findNatsServer on a machine with only an old nats-server', () => {
  const saved = { path: process.env.PATH, bin: process.env.SQUALL_NATS_SERVER_BIN };
  const dirs: string[] = [];
  afterEach(() => {
    process.env.PATH = saved.path;
    if (saved.bin === undefined) delete process.env.SQUALL_NATS_SERVER_BIN;
    else process.env.SQUALL_NATS_SERVER_BIN = saved.bin;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A directory holding an executable `nats-server` that reports `version`, first on PATH. */
  function fakeOnPath(version: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'squall-unit-nats-'));
    dirs.push(dir);
    const bin = join(dir, 'nats-server');
    writeFileSync(bin, `#!/bin/sh\necho "nats-server: v${version}"\n`);
    chmodSync(bin, 0o755);
    process.env.PATH = [dir, saved.path].join(delimiter);
    delete process.env.SQUALL_NATS_SERVER_BIN;
    return bin;
  }

  function capture(): { lines: string[]; log: ReturnType<typeof createLogger> } {
    const lines: string[] = [];
    return { lines, log: createLogger({ sink: (line) => lines.push(line) }) };
  }

  it('uses the old one with one logged warning when building is off and nothing is cached', async () => {
    const bin = fakeOnPath('2.9.10');
    expect(natsServerVersion(bin)).toBe('2.9.10');
    const cacheDir = mkdtempSync(join(tmpdir(), 'squall-unit-cache-'));
    dirs.push(cacheDir);
    const { lines, log } = capture();
    await expect(findNatsServer({ cacheDir, build: false, log })).resolves.toEqual({ kind: 'nats-server', path: bin });
    await findNatsServer({ cacheDir, build: false, log });
    expect(lines.filter((l) => /older than 2\.10\.0/.test(l))).toHaveLength(1);
  });

  it('prefers the cached build to the old one', async () => {
    fakeOnPath('2.9.10');
    const cacheDir = mkdtempSync(join(tmpdir(), 'squall-unit-cache-'));
    dirs.push(cacheDir);
    const cached = natsServerCachePath(cacheDir);
    mkdirSync(join(cached, '..'), { recursive: true });
    writeFileSync(cached, '#!/bin/sh\necho "nats-server: v2.15.3"\n');
    chmodSync(cached, 0o755);
    await expect(findNatsServer({ cacheDir, build: false })).resolves.toEqual({ kind: 'nats-server', path: cached });
  });

  it('refuses a SQUALL_NATS_SERVER_BIN that is not executable with a ConfigError', async () => {
    fakeOnPath('2.15.3');
    process.env.SQUALL_NATS_SERVER_BIN = '/nonexistent/nats-server';
    await expect(findNatsServer({ build: false })).rejects.toThrow(ConfigError);
  });
});
